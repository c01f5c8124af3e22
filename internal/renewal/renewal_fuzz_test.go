package renewal

import (
	"strings"
	"testing"
)

func TestParseClientName(t *testing.T) {
	for in, want := range map[string]string{
		"admin:system:masters":           "CN=admin, O=system:masters",
		"ops":                            "CN=ops",
		"system:kube-proxy":              "CN=system:kube-proxy",
		"system:node:node1:system:nodes": "CN=system:node:node1, O=system:nodes",
		"CN=a:b,O=x,O=y":                 "CN=a:b, O=x,y",
	} {
		id, err := ParseClientName(in)
		if err != nil || id.String() != want {
			t.Errorf("ParseClientName(%q) = %v, %v; want %s", in, id, err, want)
		}
	}
	for _, bad := range []string{"", ":masters", "CN=", "CN=a,OU=b", "system:"} {
		if _, err := ParseClientName(bad); err == nil {
			t.Errorf("ParseClientName(%q): no error", bad)
		}
	}
}

func FuzzParseClientName(f *testing.F) {
	for _, s := range []string{"admin:system:masters", "CN=x,O=y", "system:node:n:system:nodes", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseClientName(s)
		if err == nil && (id.CN == "" || strings.HasSuffix(id.CN, ":")) {
			t.Fatalf("%q: accepted %+v", s, id)
		}
	})
}
