package evaluation

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // recognised only to be reported as weak
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// Human renders a duration as kubeadm's RESIDUAL TIME column does
// (apimachinery's duration.HumanDuration: "45s", "5h30m", "6d3h", "364d",
// "2y30d", "9y"), with a leading "-" for time already past.
func Human(d time.Duration) string {
	if d < 0 {
		return "-" + Human(-d)
	}
	seconds := int(d / time.Second)
	if seconds < 120 {
		return fmt.Sprintf("%ds", seconds)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		if s := seconds % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	switch {
	case hours < 8:
		if m := minutes % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 24*8:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*2:
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*8:
		if dy := (hours / 24) % 365; dy != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, dy)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

func renewHint(it *inventory.Item) string {
	switch {
	case it.IsCA:
		return "rotate the CA and reissue what it signs"
	case isKubeadmFile(it):
		return "renew it (renew " + it.Role + ")" // check prints the full command line under NEXT
	default:
		return "reissue it"
	}
}

// isKubeadmFile reports whether the item is a kubeadm role at its kubeadm
// path, which `certrescue renew NAME` knows how to renew.
func isKubeadmFile(it *inventory.Item) bool {
	r, ok := layout.KubeadmRole(it.Role)
	return ok && (r.CertPath == it.Path || (r.Kind == layout.KindKeyPair && r.KeyPath == it.Path))
}

func (e *evaluator) checkValidity(it *inventory.Item, leaf *x509.Certificate, add addFunc) {
	left := leaf.NotAfter.Sub(e.now)
	switch {
	case e.now.After(leaf.NotAfter):
		add(facts.ReasonExpired, facts.SeverityCritical, it.Path, "expired %s (%s ago); %s",
			fmtTime(leaf.NotAfter), Human(-left), renewHint(it))
	case e.now.Before(leaf.NotBefore):
		add(facts.ReasonNotYetValid, facts.SeverityCritical, it.Path,
			"not valid until %s (%s from now): check this machine's clock, or reissue it with an earlier start", fmtTime(leaf.NotBefore), Human(leaf.NotBefore.Sub(e.now)))
	case left < e.p.Critical:
		add(facts.ReasonExpiring, facts.SeverityCritical, it.Path, "expires %s, in %s (under the %s critical threshold); %s",
			fmtTime(leaf.NotAfter), Human(left), Human(e.p.Critical), renewHint(it))
	case left < e.p.Warn:
		add(facts.ReasonExpiring, facts.SeverityWarning, it.Path, "expires %s, in %s (under the %s warning threshold); %s",
			fmtTime(leaf.NotAfter), Human(left), Human(e.p.Warn), renewHint(it))
	}
	for i, c := range it.Certs[1:] {
		if e.now.After(c.NotAfter) {
			add(facts.ReasonExpired, facts.SeverityCritical, it.Path, "certificate %d of the file (CN=%q), part of the chain, expired %s",
				i+2, c.Subject.CommonName, fmtTime(c.NotAfter))
		}
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool { return pki.PublicKeysEqual(a, b) }

func (e *evaluator) checkKey(it *inventory.Item, leaf *x509.Certificate, add addFunc) {
	if it.Key == nil || publicKeysEqual(leaf.PublicKey, it.Key) {
		return
	}
	add(facts.ReasonKeyMismatch, facts.SeverityCritical, it.KeyFile,
		"the private key %s does not belong to the certificate (the certificate's public key is another key): TLS with this pair fails; put the matching key back or reissue the certificate for this key",
		it.KeyFile)
}

func (e *evaluator) checkUsage(it *inventory.Item, leaf *x509.Certificate, add addFunc) {
	if it.IsCA && !leaf.IsCA {
		add(facts.ReasonWrongUsage, facts.SeverityCritical, it.Path, "%s must be a CA but the certificate says CA:FALSE (or has no basic constraints)", it.Name)
	}
	if it.IsCA && leaf.KeyUsage != 0 && leaf.KeyUsage&x509.KeyUsageCertSign == 0 {
		add(facts.ReasonWrongUsage, facts.SeverityCritical, it.Path, "%s is a CA without the cert sign key usage: nothing it signs verifies", it.Name)
	}
	if len(leaf.ExtKeyUsage) == 0 || slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return // no extendedKeyUsage extension: any usage is allowed
	}
	var missing []string
	for _, u := range it.ExtKeyUsage {
		if !slices.Contains(leaf.ExtKeyUsage, u) {
			missing = append(missing, facts.ExtKeyUsageNames([]x509.ExtKeyUsage{u})...)
		}
	}
	if len(missing) > 0 {
		add(facts.ReasonWrongUsage, facts.SeverityCritical, it.Path,
			"lacks the %s extended key usage %s needs (it has: %s); reissue it with the right profile",
			strings.Join(missing, " and "), it.Name, strings.Join(facts.ExtKeyUsageNames(leaf.ExtKeyUsage), ", "))
	}
}

func (e *evaluator) weakKey(pub crypto.PublicKey) (bool, string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < e.p.MinRSABits {
			return true, fmt.Sprintf("RSA key of %d bits, under the %d-bit minimum", k.N.BitLen(), e.p.MinRSABits)
		}
	case *ecdsa.PublicKey:
		if n := k.Curve.Params().BitSize; n < e.p.MinECBits {
			return true, fmt.Sprintf("ECDSA key on a %d-bit curve, under the %d-bit minimum", n, e.p.MinECBits)
		}
	case *dsa.PublicKey:
		return true, "DSA key: deprecated and refused by current TLS stacks"
	}
	return false, ""
}

func (e *evaluator) checkWeak(it *inventory.Item, leaf *x509.Certificate, add addFunc) {
	if weak, why := e.weakKey(leaf.PublicKey); weak {
		add(facts.ReasonWeakKey, facts.SeverityWarning, it.Path, "%s; reissue it with a stronger key", why)
	}
	if isRoot(leaf) {
		return // a root's own signature is never checked by TLS peers
	}
	switch leaf.SignatureAlgorithm {
	case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
		add(facts.ReasonWeakKey, facts.SeverityWarning, it.Path, "signed with %s, which Go and current TLS stacks reject; reissue it", leaf.SignatureAlgorithm)
	}
}

func (e *evaluator) checkPermissions(it *inventory.Item, add addFunc) {
	if !it.KeyModeSet || it.KeyMode&0o077 == 0 {
		return
	}
	what := "private key"
	if it.KeyFile == it.Path && it.Kind == inventory.KindKubeconfig {
		what = "kubeconfig (it embeds a private key)"
	}
	add(facts.ReasonKeyPermissions, facts.SeverityWarning, it.KeyFile,
		"%s %s is mode %04o, readable by %s: chmod 600 %s", what, it.KeyFile, it.KeyMode.Perm(), readers(it.KeyMode), it.KeyFile)
}

func readers(m fs.FileMode) string {
	switch {
	case m&0o070 != 0 && m&0o007 != 0:
		return "group and others"
	case m&0o070 != 0:
		return "its group"
	default:
		return "others"
	}
}

// checkSANs reports names the certificate must carry but does not: what the
// item expects (manifests, inventory file), and for the API server the
// policy's --expect-san and the server of every kubeconfig of this cluster.
func (e *evaluator) checkSANs(it *inventory.Item, leaf *x509.Certificate, r *Result, add addFunc) {
	want := append([]inventory.ExpectedSAN(nil), it.ExpectSANs...)
	if it.Role == "apiserver" {
		for _, s := range e.p.ExpectSANs {
			want = append(want, inventory.ExpectedSAN{Value: s, Why: "--expect-san"})
		}
		want = append(want, e.kubeconfigServers(leaf)...)
	}
	seen := map[string]bool{}
	var missing, values []string
	for _, s := range want {
		v := strings.TrimSpace(s.Value)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		if leaf.VerifyHostname(v) == nil {
			continue
		}
		kind := "DNS name"
		if net.ParseIP(v) != nil {
			kind = "IP address"
		}
		missing = append(missing, fmt.Sprintf("%s %s (%s)", kind, v, s.Why))
		values = append(values, v)
	}
	if len(missing) > 0 {
		add(facts.ReasonSANMissing, facts.SeverityCritical, it.Path,
			"lacks %s; it has %s. Clients connecting by those names fail with \"x509: certificate is valid for ..., not ...\"; reissue it with every name",
			strings.Join(missing, ", "), sanList(leaf))
		r.Findings[len(r.Findings)-1].Values = values
	}
}

func sanList(c *x509.Certificate) string {
	var all []string
	all = append(all, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		all = append(all, ip.String())
	}
	if len(all) == 0 {
		return "no SANs"
	}
	return strings.Join(all, ", ")
}

// kubeconfigServers are the hosts the kubeconfigs of this node's cluster
// reach the API server by: each must be in its certificate.
func (e *evaluator) kubeconfigServers(api *x509.Certificate) []inventory.ExpectedSAN {
	var out []inventory.ExpectedSAN
	for i := range e.items {
		it := &e.items[i]
		kf := it.Kubeconfig
		if it.Kind != inventory.KindKubeconfig || kf == nil || kf.Server == "" || kf.Insecure {
			continue
		}
		trusts := false
		for _, c := range kf.CACerts {
			if e.cas.signedBy(api, c) {
				trusts = true
				break
			}
		}
		if !trusts {
			continue // another cluster's kubeconfig, or one check reports as kubeconfig_ca_mismatch
		}
		u, err := url.Parse(kf.Server)
		if err != nil || u.Hostname() == "" {
			continue
		}
		out = append(out, inventory.ExpectedSAN{Value: u.Hostname(), Why: "server of " + it.Path})
	}
	return out
}
