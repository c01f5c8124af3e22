package cli

import (
	"strings"
	"testing"
)

func FuzzParseCFSSLOutput(f *testing.F) {
	f.Add([]byte(`{"cert":"-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n","key":"","csr":""}`))
	f.Add([]byte(`{"cert":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		is, err := parseCFSSLOutput("fuzz.json", data)
		if err == nil && (is == nil || is.Cert == nil) {
			t.Fatal("no certificate without error")
		}
	})
}

// FuzzCfssljsonInput: whatever reaches cfssljson's stdin, it is explained
// (empty, another command's summary) or parsed, never a panic, and input
// that parses is never taken for a summary.
func FuzzCfssljsonInput(f *testing.F) {
	f.Add([]byte("apiserver.pem: kube-apiserver, serial 5143879c, valid 2026-12-01T22:57:00Z to 2027-12-01T22:57:00Z\n"))
	f.Add([]byte(""))
	f.Add([]byte(" \n\t"))
	f.Add([]byte(`{"cert":""}`))
	env := &Env{Root: "/"}
	f.Fuzz(func(t *testing.T, data []byte) {
		explained := errNotCfsslJSON(env, "-", "x", data)
		if _, err := parseCFSSLOutput("-", data); err == nil && explained != nil {
			t.Fatalf("valid cfssl JSON refused as %v", explained)
		}
	})
}

func FuzzRequestedOutput(f *testing.F) {
	f.Add("check\x00-o\x00json", "table")
	f.Add("-ojson\x00--output=yaml\x00--\x00-o\x00x", "table")
	f.Fuzz(func(t *testing.T, joined, parsed string) {
		_ = requestedOutput(strings.Split(joined, "\x00"), parsed)
	})
}
