package cli

import "testing"

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
