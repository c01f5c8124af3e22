package evaluation

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/pki"
)

type caEntry struct {
	item *inventory.Item
	cert *x509.Certificate
}

// caIndex is every CA certificate on the node, by file and by subject.
type caIndex struct {
	byPath    map[string]caEntry
	bySubject map[string][]caEntry

	once     sync.Once
	clusterC *x509.Certificate // the CA that signed the API server's certificate

	sigs sync.Map // sigPair -> error: each signature is checked once

	anchorsOnce sync.Once
	anchors     map[string]bool // anchorKey of every CA certificate (trust.go)
}

type sigPair struct{ child, parent *x509.Certificate }

// signedBy is child.CheckSignatureFrom(parent), memoised: the same pair is
// asked about by the chain, SAN and kubeconfig checks.
func (x *caIndex) signedBy(child, parent *x509.Certificate) bool {
	k := sigPair{child, parent}
	if v, ok := x.sigs.Load(k); ok {
		return v == nil
	}
	err := child.CheckSignatureFrom(parent)
	var v any
	if err != nil {
		v = err
	}
	x.sigs.Store(k, v)
	return err == nil
}

func newCAIndex(items []inventory.Item) *caIndex {
	x := &caIndex{byPath: map[string]caEntry{}, bySubject: map[string][]caEntry{}}
	for i := range items {
		it := &items[i]
		leaf := it.Leaf()
		if it.Kind != inventory.KindCertificate || leaf == nil || !(leaf.IsCA || it.IsCA) {
			continue
		}
		e := caEntry{item: it, cert: leaf}
		x.byPath[it.Path] = e
		if it.Resolved != "" {
			x.byPath[it.Resolved] = e
		}
		x.bySubject[string(leaf.RawSubject)] = append(x.bySubject[string(leaf.RawSubject)], e)
	}
	return x
}

// signerOf finds the CA on the node that signed c, if any; candidates says
// whether any CA with c's issuer name exists at all.
func (x *caIndex) signerOf(c *x509.Certificate) (e caEntry, found, candidates bool) {
	list := x.bySubject[string(c.RawIssuer)]
	for _, cand := range list {
		if cand.cert.Equal(c) {
			continue
		}
		if x.signedBy(c, cand.cert) {
			return cand, true, true
		}
	}
	return caEntry{}, false, len(list) > 0
}

// verifier is the CA on the node whose certificate verifies the item's
// leaf, as checkChain judges it: the CA the item should be signed by when
// that one signed it, else a CA named like the leaf's issuer that did (also
// when the file carries its own chain). A root CA has none.
func (x *caIndex) verifier(it *inventory.Item) (caEntry, bool) {
	leaf := it.Leaf()
	if leaf == nil || ((it.IsCA || leaf.IsCA) && isRoot(leaf)) {
		return caEntry{}, false
	}
	if exp, ok := x.byPath[it.CA.Path]; ok && !exp.cert.Equal(leaf) && (x.signedBy(leaf, exp.cert) || x.chainsTo(it.Certs, exp.cert)) {
		return exp, true
	}
	e, found, _ := x.signerOf(leaf)
	return e, found
}

// Signers returns, for each item, the node path of the CA certificate on the
// node that verifies its certificate (a kubeconfig's: its client
// certificate's), as check's chain analysis finds it and reports it in
// Result.CAPath, or "" when no CA on the node does. Renewal signs with it.
func Signers(items []inventory.Item) []string {
	x := newCAIndex(items)
	out := make([]string, len(items))
	for i := range items {
		if items[i].Kind != inventory.KindCertificate && items[i].Kind != inventory.KindKubeconfig {
			continue
		}
		if e, ok := x.verifier(&items[i]); ok {
			out[i] = e.item.Path
		}
	}
	return out
}

func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// isRoot says a CA names itself as issuer (and its authority key, if any, is
// its own). A root's self-signature proves nothing to a TLS peer, so it is
// not verified: that saves a signature check per CA on every scan.
func isRoot(c *x509.Certificate) bool {
	return c.IsCA && bytes.Equal(c.RawIssuer, c.RawSubject) &&
		(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
}

func describeCA(e caEntry) string {
	return fmt.Sprintf("%s (%s, CN=%q)", e.item.Name, e.item.Path, e.cert.Subject.CommonName)
}

// checkChain finds who signed the item's certificate and reports a signature
// that is not the expected CA's, or a CA that expires before the certificate.
// It returns the signer, or nil.
func (e *evaluator) checkChain(it *inventory.Item, r *Result, add addFunc) *x509.Certificate {
	leaf := it.Leaf()
	if (it.IsCA || leaf.IsCA) && isRoot(leaf) {
		r.CA = ""
		return nil
	}
	var signer *x509.Certificate
	expected, hasExpected := e.cas.byPath[it.CA.Path]
	if hasExpected && expected.cert.Equal(leaf) {
		hasExpected = false
	}
	switch {
	case hasExpected:
		if e.cas.signedBy(leaf, expected.cert) || e.cas.chainsTo(it.Certs, expected.cert) {
			signer, r.CA = expected.cert, expected.item.Name
			break
		}
		actual, found, _ := e.cas.signerOf(leaf)
		switch {
		case found:
			r.CA = actual.item.Name
			add(facts.ReasonUntrustedChain, facts.SeverityCritical, it.Path,
				"signed by %s, but %s must be signed by %s: peers that trust %s reject it; reissue it from %s",
				describeCA(actual), it.Name, describeCA(expected), expected.item.Name, expected.item.Name)
		case selfSigned(leaf):
			r.CA = "self-signed"
			add(facts.ReasonUntrustedChain, facts.SeverityCritical, it.Path,
				"self-signed, but %s must be signed by %s; reissue it from that CA", it.Name, describeCA(expected))
		default:
			r.CA = issuerName(leaf)
			add(facts.ReasonUntrustedChain, facts.SeverityCritical, it.Path,
				"not signed by %s, the CA %s must chain to: issued by %q, which is not a CA on this node (was the CA replaced without reissuing this certificate?)",
				describeCA(expected), it.Name, leaf.Issuer.String())
		}
	case len(it.Certs) > 1 && bytes.Equal(leaf.RawIssuer, it.Certs[1].RawSubject):
		// The file carries its own chain (kubelet.crt, a bundle with intermediates).
		for i := 0; i+1 < len(it.Certs); i++ {
			if err := it.Certs[i].CheckSignatureFrom(it.Certs[i+1]); err != nil { // once per file: not memoised
				add(facts.ReasonUntrustedChain, facts.SeverityCritical, it.Path,
					"certificate %d of the file (CN=%q) is not signed by certificate %d (CN=%q) that follows it: %v",
					i+1, it.Certs[i].Subject.CommonName, i+2, it.Certs[i+1].Subject.CommonName, err)
				break
			}
		}
		signer, r.CA = it.Certs[1], it.Certs[1].Subject.CommonName
		if s, found, _ := e.cas.signerOf(leaf); found {
			r.CA = s.item.Name
		}
	default:
		actual, found, candidates := e.cas.signerOf(leaf)
		switch {
		case found:
			signer, r.CA = actual.cert, actual.item.Name
		case candidates:
			r.CA = issuerName(leaf)
			c := e.cas.bySubject[string(leaf.RawIssuer)][0]
			add(facts.ReasonUntrustedChain, facts.SeverityCritical, it.Path,
				"issued by %q but not signed by %s, the CA of that name on this node (the CA was regenerated with a new key?); reissue it from the current CA",
				leaf.Issuer.String(), describeCA(c))
		case selfSigned(leaf):
			r.CA = "self-signed"
		default:
			r.CA = issuerName(leaf)
			if it.CA.Name != "" {
				r.Notes = append(r.Notes, fmt.Sprintf("its CA (%s) is not on this node; the chain was not checked", it.CA.Name))
			}
		}
	}
	if signer != nil && leaf.NotAfter.After(signer.NotAfter) {
		sev := facts.SeverityWarning
		if e.now.After(signer.NotAfter) {
			sev = facts.SeverityCritical
		}
		add(facts.ReasonCAExpiresBeforeLeaf, sev, it.Path,
			"its CA %q expires %s, before the certificate (%s): from then on the certificate does not verify; renew the CA first",
			signer.Subject.CommonName, fmtTime(signer.NotAfter), fmtTime(leaf.NotAfter))
	}
	return signer
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

// clusterCA is the CA that signed the API server's serving certificate on
// this node: what every kubeconfig of the cluster must trust.
func (e *evaluator) clusterCA() *x509.Certificate {
	e.cas.once.Do(func() {
		for _, api := range e.apiservers {
			leaf := api.Leaf()
			if exp, ok := e.cas.byPath[api.CA.Path]; ok && e.cas.signedBy(leaf, exp.cert) {
				e.cas.clusterC = exp.cert
				return
			}
			if s, found, _ := e.cas.signerOf(leaf); found {
				e.cas.clusterC = s.cert
				return
			}
		}
	})
	return e.cas.clusterC
}

// checkKubeconfigCA reports a kubeconfig whose certificate-authority is not
// the CA the API server's certificate chains to. Only kubeconfigs of this
// cluster are judged: a kubeadm role, or a client certificate signed by a CA
// on this node.
func (e *evaluator) checkKubeconfigCA(it *inventory.Item, clientSigner *x509.Certificate, add addFunc) {
	kf := it.Kubeconfig
	if kf == nil || kf.Insecure || (clientSigner == nil && it.Role == "") {
		return
	}
	cluster := e.clusterCA()
	if cluster == nil {
		if exp, ok := e.cas.byPath[it.CA.Path]; ok {
			cluster = exp.cert
		}
	}
	if cluster == nil {
		return
	}
	where := "certificate-authority-data"
	if !kf.CAEmbedded {
		where = "certificate-authority " + kf.CAPath
	}
	if len(kf.CACerts) == 0 {
		if kf.CAPath == "" && !kf.CAEmbedded {
			add(facts.ReasonKubeconfigCAMismatch, facts.SeverityWarning, it.Path,
				"names no certificate-authority: clients verify the API server against the system trust store, which does not hold the cluster CA %q", cluster.Subject.CommonName)
		}
		return
	}
	for _, c := range kf.CACerts {
		if bytes.Equal(c.RawSubject, cluster.RawSubject) && pki.PublicKeysEqual(c.PublicKey, cluster.PublicKey) {
			return
		}
	}
	add(facts.ReasonKubeconfigCAMismatch, facts.SeverityCritical, it.Path,
		"its %s (CN=%q, %s) is not the CA that signed the API server's certificate (CN=%q, %s): clients fail with \"x509: certificate signed by unknown authority\"; embed the current CA",
		where, kf.CACerts[0].Subject.CommonName, short(facts.Fingerprint(kf.CACerts[0])), cluster.Subject.CommonName, short(facts.Fingerprint(cluster)))
}

func short(fp string) string {
	if len(fp) > 23 {
		return "sha256 " + fp[:23] + "..."
	}
	return "sha256 " + fp
}
