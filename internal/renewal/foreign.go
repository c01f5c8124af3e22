package renewal

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// use says whose a kubeconfig role is, as check says it of the same file.
func use(n Node, r layout.Role, certRef string) evaluation.KubeconfigUse {
	u := evaluation.KubeconfigUse{Name: r.Name, Components: r.Components}
	// Only a kubeadm file gets a kubeadm kubeconfig's name (the inventory
	// names others by their path): the name says it.
	if k, ok := layout.KubeadmRole(r.Name); ok && k.Kind == layout.KindKubeconfig {
		u.Kubeadm = true
	}
	if certRef != "" {
		u.CertPath = certRef
		if rp, err := n.Resolve(certRef); err == nil {
			u.CertPath = rp
		}
	}
	return u
}

// credentials are the node's other certificates, as check compares a
// kubeconfig's client certificate with them; serving ones are read.
func credentials(n Node, roles []layout.Role) []evaluation.Credential {
	var out []evaluation.Credential
	for _, o := range roles {
		if o.Kind != layout.KindLeaf && o.Kind != layout.KindCA && o.Kind != layout.KindBundle {
			continue
		}
		c := evaluation.Credential{Name: o.Name, Paths: []string{o.CertPath},
			Serving:   o.Kind == layout.KindCA || slices.Contains(o.ExtKeyUsage, x509.ExtKeyUsageServerAuth),
			Component: o.Kind == layout.KindLeaf && len(o.Components) > 0}
		if rp, err := n.Resolve(o.CertPath); err == nil && rp != o.CertPath {
			c.Paths = append(c.Paths, rp)
		}
		if c.Serving {
			c.Cert = readCert(n, o.CertPath)
		}
		out = append(out, c)
	}
	return out
}

func readCert(n Node, p string) *x509.Certificate {
	data, err := n.Read(p)
	if err != nil {
		return nil
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil
	}
	return certs[0]
}

// foreign says why a kubeconfig's client certificate is not its own ("" when
// it is): evaluation.ForeignClient, check's rule.
func foreign(n Node, roles []layout.Role, st *state, creds *[]evaluation.Credential) string {
	if st.kc == nil {
		return ""
	}
	if *creds == nil {
		*creds = credentials(n, roles)
	}
	return evaluation.ForeignClient(use(n, st.role, st.kc.ClientCert.Path), st.cert, *creds)
}

// ParseClientName reads --client-name's CN[:O[,O...]]: the first colon that
// does not belong to a "system:" or "system:node:" CN separates the groups
// ("admin:system:masters" is CN=admin in system:masters,
// "system:node:node1:system:nodes" CN=system:node:node1 in system:nodes).
// "CN=...,O=...,O=..." is read too.
func ParseClientName(s string) (evaluation.Identity, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return evaluation.Identity{}, fmt.Errorf("client name: empty; give CN[:O]")
	}
	var id evaluation.Identity
	if strings.HasPrefix(s, "CN=") {
		for _, part := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "CN":
				id.CN = v
			case "O":
				id.Orgs = append(id.Orgs, v)
			default:
				return evaluation.Identity{}, fmt.Errorf("client name %q: %q is neither CN= nor O=", s, part)
			}
		}
	} else {
		skip := 0
		for _, prefix := range []string{"system:node:", "system:"} {
			if strings.HasPrefix(s, prefix) {
				skip = len(prefix)
				break
			}
		}
		cn, orgs, found := strings.Cut(s[skip:], ":")
		id.CN = s[:skip] + cn
		if found {
			for _, o := range strings.Split(orgs, ",") {
				if o = strings.TrimSpace(o); o != "" {
					id.Orgs = append(id.Orgs, o)
				}
			}
		}
	}
	if id.CN == "" || strings.HasSuffix(id.CN, ":") {
		return evaluation.Identity{}, fmt.Errorf("client name %q: no common name; give CN[:O]", s)
	}
	return id, nil
}

// ErrNoIdentity is wrapped when a kubeconfig's client certificate is foreign
// and nothing says whose the kubeconfig is.
var ErrNoIdentity = fmt.Errorf("no identity to issue it")

// ownIdentity is the identity a kubeconfig with a foreign client certificate
// is given: the operator's (ClientNames), else the previous one (a client
// certificate of the node whose key is the kubeconfig's client key, and that
// fits its role: admin.pem behind admin-key.pem once the sed pointed
// client-certificate at apiserver.pem), else its role's standard one.
func ownIdentity(n Node, o Options, st *state, u evaluation.KubeconfigUse) (evaluation.Identity, string, error) {
	for _, k := range []string{st.role.Name, ""} {
		if id, ok := o.ClientNames[k]; ok {
			return id, "--client-name", nil
		}
	}
	if st.key != nil {
		if c, p := previousByKey(n, o.Roles, st, u, st.key.Public()); c != nil {
			return evaluation.Identity{CN: c.Subject.CommonName, Orgs: c.Subject.Organization}, "the previous client certificate " + p, nil
		}
	}
	if id, ok := evaluation.StandardIdentity(u, st.cert, kubeadmCA(o.Root, o.Roles, st.role.CA)); ok {
		return id, "its role", nil
	}
	return evaluation.Identity{}, "", ErrNoIdentity
}

// previousByKey finds the node's client certificate whose key is the
// kubeconfig's own client key.
func previousByKey(n Node, roles []layout.Role, st *state, u evaluation.KubeconfigUse, pub crypto.PublicKey) (*x509.Certificate, string) {
	for _, o := range roles {
		if o.Kind != layout.KindLeaf && o.Kind != layout.KindBundle {
			continue
		}
		c := readCert(n, o.CertPath)
		if c == nil || c.Equal(st.cert) || !pki.PublicKeysEqual(c.PublicKey, pub) {
			continue
		}
		if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
			continue
		}
		if !evaluation.FitsRole(u, c) {
			continue
		}
		return c, o.CertPath
	}
	return nil, ""
}

// kubeadmCA says the CA named ca is kubeadm's own (/etc/kubernetes/pki/ca.crt,
// or where that path leads): the cluster is kubeadm's, so
// kubeadm:cluster-admins is bound.
func kubeadmCA(root string, roles []layout.Role, ca string) bool {
	k, _ := layout.KubeadmRole("ca")
	i := slices.IndexFunc(roles, func(r layout.Role) bool { return r.Name == ca })
	if i < 0 {
		return false
	}
	if roles[i].CertPath == k.CertPath {
		return true
	}
	rp, err := inventory.NewNode(root).Resolve(k.CertPath)
	return err == nil && rp == roles[i].CertPath
}

// NeedsFix reports whether a credential must be renewed now whatever its
// expiry: a kubeconfig whose client certificate is not its own (Foreign).
// A rescue renews these with what is due.
func NeedsFix(c Current) bool { return c.Err == nil && c.Foreign != "" }
