package pki

import (
	"bytes"
	"crypto/x509/pkix"
	"strings"
	"testing"
)

func TestParseCSRsPEMReadsEveryRequestInOrder(t *testing.T) {
	var all [][]byte
	for _, cn := range []string{"system:node:a", "system:node:b", "system:node:c"} {
		key, err := GenerateKey(DefaultKeySpec)
		if err != nil {
			t.Fatal(err)
		}
		der, err := CreateCSR(key, Template{Subject: pkix.Name{CommonName: cn}})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, EncodeCSRPEM(der))
	}
	data := bytes.Join([][]byte{all[0], EncodeCertificatePEM([]byte("skipped")), all[1], all[2]}, nil)
	csrs, err := ParseCSRsPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range csrs {
		got = append(got, c.Subject.CommonName)
	}
	if strings.Join(got, " ") != "system:node:a system:node:b system:node:c" {
		t.Errorf("read %v", got)
	}
	if first, err := ParseCSRPEM(data); err != nil || first.Subject.CommonName != "system:node:a" {
		t.Errorf("ParseCSRPEM: %v %v", first, err)
	}

	// The second request damaged: named by its position, nothing returned.
	damaged := bytes.Replace(data, all[1], bytes.Replace(all[1], []byte("MI"), []byte("MA"), 1), 1)
	if csrs, err := ParseCSRsPEM(damaged); err == nil || !strings.Contains(err.Error(), "certificate request 2") {
		t.Errorf("damaged second request: %d requests, %v", len(csrs), err)
	}
	if _, err := ParseCSRsPEM([]byte("no pem here")); err == nil {
		t.Error("no request: no error")
	}
}
