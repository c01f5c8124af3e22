package certmanager

import (
	"encoding/base64"
	"testing"
)

func decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("caBundle %q: %v", s, err)
	}
	return b
}
