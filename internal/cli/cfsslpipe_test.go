package cli

import (
	"testing"

	"github.com/certrescue/certrescue/internal/pipe"
)

func TestIsCfssljsonRecognisesTheReadersOfTheFieldGuidesPipe(t *testing.T) {
	self := "/usr/local/bin/certrescue"
	tests := []struct {
		name string
		p    pipe.Process
		want bool
	}{
		{"cfssl's cfssljson", pipe.Process{Argv: []string{"cfssljson", "-bare", "apiserver"}}, true},
		{"the field guide kit's binary", pipe.Process{Argv: []string{"./bin/cfssljson_1.6.4_linux_amd64", "-bare", "ca"}}, true},
		{"certrescue cfssljson", pipe.Process{Argv: []string{"certrescue", "cfssljson", "-bare", "apiserver"}}, true},
		{"with global flags first", pipe.Process{Argv: []string{"certrescue", "--root", "/mnt/node", "--operator", "cfssljson", "cfssljson", "-bare", "x"}}, true},
		{"renamed, known by its executable", pipe.Process{Argv: []string{"cr", "cfssljson", "-bare", "x"}, Exe: self}, true},
		{"certrescue help cfssljson reads nothing", pipe.Process{Argv: []string{"certrescue", "help", "cfssljson"}}, false},
		{"an operator named cfssljson", pipe.Process{Argv: []string{"certrescue", "--operator", "cfssljson", "check"}}, false},
		{"tee", pipe.Process{Argv: []string{"tee", "cfssljson"}}, false},
		{"another program with the word", pipe.Process{Argv: []string{"python3", "cfssljson"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isCfssljson(tt.p, self); got != tt.want {
				t.Errorf("isCfssljson(%q) = %v, want %v", tt.p.Argv, got, tt.want)
			}
		})
	}
}
