package signer

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// FuzzCFSSLAnswer feeds arbitrary bytes as a cfssl serve's answer: decoding
// never panics, and whatever it returns is an error of the documented kinds
// or a result whose certificate parses.
func FuzzCFSSLAnswer(f *testing.F) {
	ca := testpki.MustCA(f)
	f.Add([]byte(`{"success":true,"result":{"certificate":` + jsonString(pki.EncodeCertificatePEM(ca.Cert.Raw)) + `}}`))
	f.Add([]byte(`{"success":false,"errors":[{"code":400,"message":"invalid token"}]}`))
	f.Add([]byte(`{"success":true,"result":null}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var res struct {
			Certificate string `json:"certificate"`
		}
		err := decodeCFSSL(200, data, &res)
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) && !errors.Is(err, ErrRefused) {
				t.Fatalf("error of no documented kind: %v", err)
			}
			return
		}
		if certs, err := parsePEMChain("certificate", []byte(res.Certificate)); err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
	})
}

// FuzzVaultSignAnswer feeds arbitrary JSON as a Vault sign answer's data.
func FuzzVaultSignAnswer(f *testing.F) {
	ca := testpki.MustCA(f)
	p := jsonString(pki.EncodeCertificatePEM(ca.Cert.Raw))
	f.Add([]byte(`{"certificate":` + p + `,"ca_chain":[` + p + `]}`))
	f.Add([]byte(`{"certificate":` + p + `,"issuing_ca":"garbage"}`))
	f.Add([]byte(`{"certificate":5,"ca_chain":[1,2]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m map[string]any
		if json.Unmarshal(data, &m) != nil {
			return
		}
		res, err := vaultSignResult(m)
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error of no documented kind: %v", err)
			}
			return
		}
		if res.Cert == nil {
			t.Fatal("no error and no certificate")
		}
	})
}

func jsonString(b []byte) string {
	s, _ := json.Marshal(string(b))
	return string(s)
}
