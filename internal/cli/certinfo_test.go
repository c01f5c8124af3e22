package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/testpki"
	"sigs.k8s.io/yaml"
)

// TestCertinfoJSONIsAlwaysAnArrayWithEachPath: one file, a bundle, several
// files and stdin all give a list, each entry naming the file it came from and
// its place in it, so a program never has to guess the shape.
func TestCertinfoJSONIsAlwaysAnArrayWithEachPath(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("root"))
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("leaf"))
	one, bundle := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "chain.pem")
	testpki.WriteCert(t, one, ca.Cert)
	testpki.WriteCert(t, bundle, leaf.Cert, ca.Cert)
	pem, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Path       string `json:"path"`
		Index      int    `json:"index"`
		CommonName string `json:"commonName"`
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  []entry
	}{
		{name: "one file with one certificate", args: []string{one}, want: []entry{{one, 0, "root"}}},
		{name: "-cert FILE", args: []string{"-cert", one}, want: []entry{{one, 0, "root"}}},
		{name: "a bundle", args: []string{bundle}, want: []entry{{bundle, 0, "leaf"}, {bundle, 1, "root"}}},
		{name: "several files", args: []string{one, bundle}, want: []entry{{one, 0, "root"}, {bundle, 0, "leaf"}, {bundle, 1, "root"}}},
		{name: "stdin", stdin: string(pem), args: []string{"-"}, want: []entry{{"-", 0, "root"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, format := range []string{"json", "yaml"} {
				r := runAt(t, testpki.Epoch, tt.stdin, append([]string{"certinfo", "-o", format}, tt.args...)...)
				if r.code != 0 {
					t.Fatalf("-o %s: exit %d: %s", format, r.code, r.stderr)
				}
				var got []entry
				if format == "json" {
					err = json.Unmarshal([]byte(r.stdout), &got)
				} else {
					err = yaml.Unmarshal([]byte(r.stdout), &got)
				}
				if err != nil {
					t.Fatalf("-o %s is not a list: %v\n%s", format, err, r.stdout)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("-o %s: %d entries, want %d: %+v", format, len(got), len(tt.want), got)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("-o %s entry %d = %+v, want %+v", format, i, got[i], tt.want[i])
					}
				}
			}
		})
	}
	r := runAt(t, testpki.Epoch, "", "certinfo", one, bundle)
	for _, want := range []string{"File:", one + " (certificate 1)", bundle + " (certificate 2)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table of several certificates lacks %q:\n%s", want, r.stdout)
		}
	}
}
