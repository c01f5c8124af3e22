package secrets

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/certrescue/certrescue/internal/exporter"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/pki"
)

// MaxValueSize caps one Secret or ConfigMap value that is parsed; the API
// server's own limit for a whole object is 1 MiB.
const MaxValueSize = 1 << 20

// SecretObject turns the data of a kubernetes.io/tls Secret into its series
// and findings: every certificate of tls.crt (the leaf, then its chain) and
// of ca.crt; tls.key only to check that it belongs to the leaf.
func SecretObject(namespace, name string, data map[string][]byte) exporter.Object {
	var o exporter.Object
	loc := func(key string) exporter.Location {
		return exporter.Location{SecretNamespace: namespace, SecretName: name, SecretKey: key}
	}
	chain := bundle(&o, loc("tls.crt"), "tls.crt", data["tls.crt"], true, true)
	var roots []*x509.Certificate
	if v, ok := data["ca.crt"]; ok && len(v) > 0 {
		roots = bundle(&o, loc("ca.crt"), "ca.crt", v, false, false)
	}
	if len(chain) == 0 {
		return o
	}
	leaf := chain[0]
	add := func(key string, r facts.Reason, sev facts.Severity) {
		o.Findings = append(o.Findings, exporter.Finding{Loc: loc(key), Reason: r, Severity: sev, SubjectCN: leaf.Subject.CommonName})
	}
	if k, ok := data["tls.key"]; ok && len(k) > 0 {
		switch key, err := parseKey(k); {
		case err != nil:
			add("tls.key", facts.ReasonMalformed, facts.SeverityCritical)
		case !pki.PublicKeysEqual(key, leaf.PublicKey):
			add("tls.key", facts.ReasonKeyMismatch, facts.SeverityCritical)
		}
	}
	if alg, bits := facts.PublicKeyInfo(leaf.PublicKey); alg == "RSA" && bits < 2048 || alg == "ECDSA" && bits < 256 {
		add("tls.crt", facts.ReasonWeakKey, facts.SeverityWarning)
	}
	if len(roots) > 0 && !chainsTo(leaf, chain[1:], roots) {
		add("tls.crt", facts.ReasonUntrustedChain, facts.SeverityCritical)
	}
	return o
}

// ConfigMapObject turns the CA bundles under keys into series.
func ConfigMapObject(namespace, name string, data map[string]string, keys []string) exporter.Object {
	var o exporter.Object
	for _, k := range keys {
		v, ok := data[k]
		if !ok {
			continue
		}
		loc := exporter.Location{ConfigMapNamespace: namespace, ConfigMapName: name, ConfigMapKey: k}
		bundle(&o, loc, k, []byte(v), false, true)
	}
	return o
}

// bundle adds the certificates of one value to o, or an error series and a
// finding when it holds none or a damaged one. chain says the certificates
// after the first are the first's chain (tls.crt), not peers (a CA bundle).
func bundle(o *exporter.Object, loc exporter.Location, what string, data []byte, chain, required bool) []*x509.Certificate {
	var certs []*x509.Certificate
	var err error
	switch {
	case len(data) > MaxValueSize:
		err = fmt.Errorf("%s: %d bytes, more than the %d-byte limit", what, len(data), MaxValueSize)
	case len(data) == 0 && !required:
		return nil
	default:
		c := inventory.Decode(data)
		certs, err = c.Certs, c.CertErr
		if err == nil && len(certs) == 0 {
			err = errors.New("no certificate")
		}
	}
	for i, c := range certs {
		ct := exporter.CertOf(c)
		o.Entries = append(o.Entries, exporter.Entry{Loc: loc, Cert: &ct, InChain: chain && i > 0})
	}
	if err != nil {
		o.Entries = append(o.Entries, exporter.Entry{Loc: loc, Err: facts.ReasonMalformed})
		o.Findings = append(o.Findings, exporter.Finding{Loc: loc, Reason: facts.ReasonMalformed, Severity: facts.SeverityCritical})
	}
	return certs
}

func parseKey(data []byte) (any, error) {
	if len(data) > MaxValueSize {
		return nil, errors.New("too large")
	}
	k, err := pki.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, err
	}
	return k.Public(), nil
}

// chainsTo reports whether leaf is signed by one of roots, directly or
// through one of the intermediates that one of roots signed.
func chainsTo(leaf *x509.Certificate, intermediates, roots []*x509.Certificate) bool {
	signedBy := func(c *x509.Certificate, by []*x509.Certificate) bool {
		for _, b := range by {
			if c.Equal(b) || c.CheckSignatureFrom(b) == nil { // ca.crt may be the self-signed leaf itself
				return true
			}
		}
		return false
	}
	if signedBy(leaf, roots) {
		return true
	}
	for _, im := range intermediates {
		if leaf.CheckSignatureFrom(im) == nil && signedBy(im, roots) {
			return true
		}
	}
	return false
}
