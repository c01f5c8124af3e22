package evaluation

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
)

// A CA file is a trust bundle: the components that load it (kube-apiserver
// --client-ca-file, etcd --trusted-ca-file, the kubelet's clientCAFile, the
// controller-manager's --root-ca-file, which every pod gets as its ca.crt)
// take every certificate in it as a trust anchor, not just the first. So a
// certificate in a CA file that is not one of the node's CAs is a finding:
// whoever holds its key can mint client certificates those components accept
// (system:masters included) or serving certificates their clients accept.
//
// Expected in a CA file, besides its own first certificate: any CA
// certificate of the node (the same subject and key as a CA file's first
// certificate: a bundle of the cluster's CAs), the issuers of its first
// certificate carried in the same file (an intermediate's chain), and the
// certificates that signed a CA of the node. Everything else is
// unexpected_trust_anchor: critical in a CA file, a warning in a
// kubeconfig's certificate-authority (that client alone trusts servers the
// extra anchors vouch for). These rules look at the node's CAs only, so check
// and the exporter, which judges a file beside every CA of the node, agree.

// maxAnchorValues caps the fingerprints a finding lists in Values.
const maxAnchorValues = 50

// maxChainLinks bounds the chain walked inside one file.
const maxChainLinks = 8

// maxIssuerChecks bounds the signature checks spent on one file's extra
// certificates (asking whether one signed a CA of the node): beyond it, a
// certificate is unexpected. It keeps a file of a thousand certificates
// named like the cluster CA from costing a thousand signature checks.
const maxIssuerChecks = 32

// anchorKey identifies a CA certificate by subject and public key: a CA
// renewed with its key kept is the same anchor.
func anchorKey(c *x509.Certificate) string {
	return string(c.RawSubject) + "\x00" + string(c.RawSubjectPublicKeyInfo)
}

// knownAnchors is every CA certificate of the node, by anchorKey.
func (x *caIndex) knownAnchors() map[string]bool {
	x.anchorsOnce.Do(func() {
		x.anchors = map[string]bool{}
		for _, list := range x.bySubject {
			for _, e := range list {
				x.anchors[anchorKey(e.cert)] = true
			}
		}
	})
	return x.anchors
}

// signsANodeCA says whether c signed a CA certificate of the node, spending
// at most *budget signature checks.
func (x *caIndex) signsANodeCA(c *x509.Certificate, budget *int) bool {
	for _, list := range x.bySubject {
		for _, e := range list {
			ca := e.cert
			if !bytes.Equal(ca.RawIssuer, c.RawSubject) || ca.Equal(c) {
				continue
			}
			if len(ca.AuthorityKeyId) > 0 && len(c.SubjectKeyId) > 0 && !bytes.Equal(ca.AuthorityKeyId, c.SubjectKeyId) {
				continue
			}
			if *budget <= 0 {
				return false
			}
			*budget--
			if x.signedBy(ca, c) {
				return true
			}
		}
	}
	return false
}

// unexpectedAnchors splits the certificates of a bundle that are not
// expected: those named like one of the node's CAs (same subject, another
// key) and the others.
func (e *evaluator) unexpectedAnchors(certs []*x509.Certificate, chainFrom *x509.Certificate) (impostors, others []*x509.Certificate) {
	known := e.cas.knownAnchors()
	chain := map[*x509.Certificate]bool{}
	if chainFrom != nil {
		cur := chainFrom
		for range maxChainLinks {
			var next *x509.Certificate
			for _, c := range certs {
				if !chain[c] && c != cur && bytes.Equal(cur.RawIssuer, c.RawSubject) && !bytes.Equal(cur.RawSubject, cur.RawIssuer) &&
					e.cas.signedBy(cur, c) {
					next = c
					break
				}
			}
			if next == nil {
				break
			}
			chain[next], cur = true, next
		}
	}
	budget := maxIssuerChecks
	for _, c := range certs {
		if c == chainFrom || chain[c] || known[anchorKey(c)] || e.expected(c) || e.cas.signsANodeCA(c, &budget) {
			continue
		}
		if len(e.cas.bySubject[string(c.RawSubject)]) > 0 {
			impostors = append(impostors, c)
		} else {
			others = append(others, c)
		}
	}
	return impostors, others
}

// expected says whether c is one of the policy's Expected anchors (a CA
// rotation's new CA): the same subject and key.
func (e *evaluator) expected(c *x509.Certificate) bool {
	for _, x := range e.p.Expected {
		if anchorKey(x) == anchorKey(c) {
			return true
		}
	}
	return false
}

// checkTrustAnchors reports the unexpected trust anchors of a CA file, and
// the certificates beyond inventory.MaxCerts that were not even read.
func (e *evaluator) checkTrustAnchors(it *inventory.Item, r *Result, add addFunc) {
	leaf := it.Leaf()
	if leaf == nil || !(it.IsCA || leaf.IsCA) || (len(it.Certs) < 2 && it.Skipped == 0) {
		return
	}
	impostors, others := e.unexpectedAnchors(it.Certs[1:], leaf)
	if len(impostors)+len(others) == 0 && it.Skipped == 0 {
		return
	}
	users := "the components that load it as a trust bundle"
	if len(it.Components) > 0 {
		users = strings.Join(it.Components, ", ") + " (and any other component that loads it as a trust bundle)"
	}
	harm := "so whoever holds one of their keys can mint client certificates they accept, for any user or node, system:masters included, and serving certificates their clients accept"
	if serverOnly(it) {
		harm = "so whoever holds one of their keys can pose as the API server to every client of this file (each pod gets it as its ca.crt)"
	}
	msg := fmt.Sprintf("%s carries %s besides its CA %q: %s take every certificate in it as a trust anchor, %s",
		it.Path, anchorCount(impostors, others, it.Skipped), leaf.Subject.CommonName, users, harm)
	msg += anchorDetail(impostors, others, it.Skipped)
	msg += fmt.Sprintf("; if a CA rotation is not in progress (old and new CA kept together until every certificate is reissued), find out who added them, then keep only %s's certificate in the file", orDefault(it.Name, "the CA"))
	add(facts.ReasonUnexpectedTrustAnchor, facts.SeverityCritical, it.Path, "%s", msg)
	r.Findings[len(r.Findings)-1].Values = anchorValues(impostors, others)
}

// checkKubeconfigTrustAnchors reports a kubeconfig whose certificate-authority
// carries certificates that are not CAs of the node.
func (e *evaluator) checkKubeconfigTrustAnchors(it *inventory.Item, r *Result, add addFunc) {
	kf := it.Kubeconfig
	if kf == nil || kf.Insecure || (len(kf.CACerts) < 2 && kf.CASkipped == 0) {
		return
	}
	impostors, others := e.unexpectedAnchors(kf.CACerts, nil)
	if len(impostors)+len(others) == len(kf.CACerts) && kf.CASkipped == 0 {
		// Nothing of this node's in it: a kubeconfig of another cluster, or
		// kubeconfig_ca_mismatch says what is wrong.
		return
	}
	if len(impostors)+len(others) == 0 && kf.CASkipped == 0 {
		return
	}
	where, path := "certificate-authority-data", it.Path
	if !kf.CAEmbedded {
		where, path = "certificate-authority "+kf.CAPath, kf.CAPath
	}
	msg := fmt.Sprintf("its %s carries %s besides the node's CAs: this kubeconfig's client trusts any server certificate they sign, so whoever holds one of their keys can pose as the API server to it", where, anchorCount(impostors, others, kf.CASkipped))
	msg += anchorDetail(impostors, others, kf.CASkipped)
	msg += "; embed only the cluster CA (certificate-authority-data)"
	add(facts.ReasonUnexpectedTrustAnchor, facts.SeverityWarning, path, "%s", msg)
	r.Findings[len(r.Findings)-1].Values = anchorValues(impostors, others)
}

// anchorValues are the SHA-256 fingerprints of the unexpected certificates,
// impostors first, at most maxAnchorValues.
func anchorValues(impostors, others []*x509.Certificate) []string {
	var out []string
	for _, c := range append(append([]*x509.Certificate{}, impostors...), others...) {
		if len(out) == maxAnchorValues {
			break
		}
		out = append(out, facts.Fingerprint(c))
	}
	return out
}

// serverOnly says a CA file is named only by flags that verify servers
// (the controller-manager's --root-ca-file), not by one of a layout's CA
// roles, which are also client CAs.
func serverOnly(it *inventory.Item) bool {
	if it.Role != "" || len(it.Sources) == 0 {
		return false
	}
	for _, s := range it.Sources {
		if !strings.Contains(s, "--root-ca-file") {
			return false
		}
	}
	return true
}

func anchorCount(impostors, others []*x509.Certificate, skipped int) string {
	n := len(impostors) + len(others) + skipped
	if n == 1 {
		return "1 certificate nobody expects"
	}
	return fmt.Sprintf("%d certificates nobody expects", n)
}

// anchorDetail names the unexpected certificates, the impostors first.
func anchorDetail(impostors, others []*x509.Certificate, skipped int) string {
	var parts []string
	if len(impostors) > 0 {
		parts = append(parts, fmt.Sprintf("%d with the subject of a CA of this node but another key, so that what they sign looks like the CA's by name: %s",
			len(impostors), listAnchors(impostors)))
	}
	if len(others) > 0 {
		parts = append(parts, fmt.Sprintf("%d that are no CA of this node: %s", len(others), listAnchors(others)))
	}
	if skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d more certificates not even read (a file may carry at most %d; no cluster's CA file comes near that)", skipped, inventory.MaxCerts))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// listAnchors names up to three certificates and counts the rest.
func listAnchors(certs []*x509.Certificate) string {
	var names []string
	for i, c := range certs {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(certs)-3))
			break
		}
		names = append(names, fmt.Sprintf("%q %s", subjectName(c), short(facts.Fingerprint(c))))
	}
	return strings.Join(names, ", ")
}

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "CN=" + c.Subject.CommonName
	}
	return c.Subject.String()
}
