package renewal_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/renewal"
)

// CheckSAN is the one rule for renew --add-san and check --expect-san.
func TestCheckSAN(t *testing.T) {
	tests := []struct {
		name, san string
		ok        bool
	}{
		{"an IPv4 address is accepted", "10.96.0.1", true},
		{"an IPv6 address is accepted", "fd00::1", true},
		{"a DNS name is accepted", "k8s-api.example.com", true},
		{"a single label is accepted", "node1", true},
		{"a wildcard first label is accepted", "*.apps.example.com", true},
		{"upper case is accepted", "K8S.Example.COM", true},
		{"an empty name is refused", "", false},
		{"a space is refused", "a b", false},
		{"an empty label is refused", "a..b", false},
		{"a trailing dot is refused", "example.com.", false},
		{"an underscore is refused", "foo_bar.example.com", false},
		{"a port is refused", "example.com:6443", false},
		{"a URL is refused", "https://example.com", false},
		{"a wildcard that is not the first label is refused", "a.*.example.com", false},
		{"a label over 63 characters is refused", strings.Repeat("a", 64) + ".com", false},
		{"a name over 253 characters is refused", strings.Repeat("a.", 127), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := renewal.CheckSAN(tt.san)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckSAN(%q) = %v, want ok %v", tt.san, err, tt.ok)
			}
			if err == nil {
				return
			}
			var se *renewal.SANError
			if !errors.Is(err, renewal.ErrNotSAN) || !errors.As(err, &se) || se.Value != tt.san {
				t.Errorf("CheckSAN(%q) = %#v: not a *SANError wrapping ErrNotSAN", tt.san, err)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("CheckSAN(%q) = %q: a library error names a flag", tt.san, err)
			}
		})
	}
}
