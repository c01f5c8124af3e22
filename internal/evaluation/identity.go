package evaluation

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
)

// Identity is the subject of a client certificate: who the API server takes
// its holder for.
type Identity struct {
	CN   string
	Orgs []string
}

func (id Identity) String() string {
	if len(id.Orgs) == 0 {
		return "CN=" + id.CN
	}
	return "CN=" + id.CN + ", O=" + strings.Join(id.Orgs, ",")
}

// KubeconfigUse says whose a kubeconfig is: what its client certificate's
// identity must fit.
type KubeconfigUse struct {
	// Name is the kubeconfig's role or item name ("admin.conf",
	// "/var/lib/kubernetes/kube-scheduler.kubeconfig").
	Name string
	// Kubeadm says Name is a kubeadm kubeconfig role at its kubeadm path.
	Kubeadm bool
	// Components are the components that use it (kube-scheduler --kubeconfig).
	Components []string
	// CertPath is the node path its client-certificate names ("" when the
	// certificate is embedded).
	CertPath string
}

// Credential is another credential of the node, for ForeignClient.
type Credential struct {
	Name  string
	Paths []string          // node paths of its certificate file (as named, resolved)
	Cert  *x509.Certificate // nil when not read
	// Serving: the node serves it (a serving certificate's role: the API
	// server, etcd, the kubelet) or it is a CA.
	Serving bool
	// Component: a component names its file in a flag (another component's
	// credential); a kubelet's bundle is not, kubelet.conf shares it.
	Component bool
}

// identityRule is what a role's client certificate must carry.
type identityRule struct {
	name         string
	cn, cnPrefix string
	anyOrg       []string // one of these groups ("" none)
	orAnyCNIn    string   // or any CN in this group (a binary install's CN=admin, O=system:masters)
}

// The kubeadm kubeconfigs' rules come from layout's identity table (admin.conf
// also accepts the group kubeadm used before v1.29).
var (
	adminRule = identityRule{name: "admin", cn: kubeadmIdentity("admin.conf").CN,
		anyOrg: append(kubeadmIdentity("admin.conf").Orgs, layout.LegacyAdminOrganization), orAnyCNIn: "system:masters"}
	superAdminRule = identityRule{name: "superAdmin", anyOrg: kubeadmIdentity("super-admin.conf").Orgs}
	cmRule         = identityRule{name: "controller-manager", cn: kubeadmIdentity("controller-manager.conf").CN}
	schedulerRule  = identityRule{name: "scheduler", cn: kubeadmIdentity("scheduler.conf").CN}
	kubeletRule    = identityRule{name: "kubelet", cnPrefix: kubeadmIdentity("kubelet.conf").CN, anyOrg: kubeadmIdentity("kubelet.conf").Orgs}
	proxyRule      = identityRule{name: "proxy", cn: "system:kube-proxy"}
)

// kubeadmIdentity is a kubeadm role's identity in layout's table, on a node
// without a name (kubelet.conf: the prefix system:node:).
func kubeadmIdentity(role string) Identity {
	r, ok := layout.KubeadmRole(role)
	if !ok {
		panic("evaluation: no kubeadm role " + role)
	}
	id := r.Identity(layout.Node{})
	return Identity{CN: id.CommonName, Orgs: id.Organization}
}

// kubeadmRules are the kubeadm kubeconfigs' identities; componentRules the
// ones Kubernetes' bootstrap RBAC gives each component's user.
var (
	kubeadmRules = map[string]identityRule{
		"admin.conf": adminRule, "super-admin.conf": superAdminRule,
		"controller-manager.conf": cmRule, "scheduler.conf": schedulerRule, "kubelet.conf": kubeletRule,
	}
	componentRules = map[string]identityRule{
		layout.KubeControllerManager: cmRule, layout.KubeScheduler: schedulerRule,
		layout.Kubelet: kubeletRule, "kube-proxy": proxyRule,
	}
)

func ruleFor(u KubeconfigUse) (identityRule, bool) {
	if u.Kubeadm {
		r, ok := kubeadmRules[u.Name]
		return r, ok
	}
	var found []identityRule
	for _, c := range u.Components {
		if r, ok := componentRules[c]; ok && !slices.ContainsFunc(found, func(o identityRule) bool { return o.name == r.name }) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		return identityRule{}, false // used by none, or by several components: no one identity
	}
	return found[0], true
}

func (r identityRule) fits(c *x509.Certificate) bool {
	cn, orgs := c.Subject.CommonName, c.Subject.Organization
	if r.orAnyCNIn != "" && slices.Contains(orgs, r.orAnyCNIn) {
		return true
	}
	if r.cn != "" && cn != r.cn {
		return false
	}
	if r.cnPrefix != "" && (!strings.HasPrefix(cn, r.cnPrefix) || len(cn) == len(r.cnPrefix)) {
		return false
	}
	return len(r.anyOrg) == 0 || slices.ContainsFunc(r.anyOrg, func(o string) bool { return slices.Contains(orgs, o) })
}

func (r identityRule) String() string {
	var s string
	switch {
	case r.cn != "":
		s = "CN=" + r.cn
	case r.cnPrefix != "":
		s = "CN=" + r.cnPrefix + "NAME"
	}
	if len(r.anyOrg) > 0 {
		if s != "" {
			s += " in "
		}
		s += "group " + strings.Join(r.anyOrg, " or ")
	}
	return s
}

// ForeignClient says why a kubeconfig's client certificate is not the
// kubeconfig's own, or "" when it is. It is foreign when it is a serving
// certificate (no client auth usage, or the same certificate or file as a
// credential the node serves: the field guide's sed pointing admin.conf at
// apiserver.pem), when its file is another component's credential, or when
// its identity does not fit the kubeconfig's role (admin.conf: kubernetes-admin,
// or a system:masters identity; controller-manager.conf or the
// controller-manager's --kubeconfig: system:kube-controller-manager;
// scheduler: system:kube-scheduler; kubelet: system:node:NAME in
// system:nodes; kube-proxy: system:kube-proxy). check reports it as
// foreign_client_certificate and renewal issues the kubeconfig its own.
func ForeignClient(u KubeconfigUse, c *x509.Certificate, others []Credential) string {
	if len(c.ExtKeyUsage) > 0 && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return fmt.Sprintf("its client certificate %q is a serving certificate (no client auth usage)", c.Subject.CommonName)
	}
	rule, hasRule := ruleFor(u)
	for _, o := range others {
		if o.Name == u.Name {
			continue
		}
		samePath := u.CertPath != "" && slices.Contains(o.Paths, u.CertPath)
		sameCert := o.Cert != nil && o.Cert.Equal(c)
		switch {
		case o.Serving && (samePath || sameCert):
			return fmt.Sprintf("its client certificate is %s, the %s serving certificate", orDefault(u.CertPath, "a copy of "+o.Paths[0]), o.Name)
			// A client certificate file shared with a component's client flag
			// is no sign of the sed: kubeasz's and the hard way's admin.pem is
			// both the admin's and the API server's kubelet client certificate.
		}
	}
	if hasRule && !rule.fits(c) {
		return fmt.Sprintf("its client certificate (CN=%q, O=%s) is not %s's identity (%s)", c.Subject.CommonName,
			orDefault(strings.Join(c.Subject.Organization, ","), "none"), u.Name, rule)
	}
	return ""
}

// StandardIdentity is the identity to issue a kubeconfig whose client
// certificate is foreign, when its role says it: the components' users
// (system:kube-controller-manager, system:kube-scheduler, system:kube-proxy),
// super-admin.conf's kubernetes-super-admin in system:masters, the kubelet's
// system:node:NODE in system:nodes (NODE from its previous certificate), and
// admin.conf's kubernetes-admin in kubeadm:cluster-admins when kubeadm is
// the node's layout (that group is bound by kubeadm only: elsewhere the
// identity must come from the previous certificate or the operator).
func StandardIdentity(u KubeconfigUse, previous *x509.Certificate, kubeadmCluster bool) (Identity, bool) {
	r, ok := ruleFor(u)
	if !ok {
		return Identity{}, false
	}
	switch {
	case r.name == adminRule.name:
		if !kubeadmCluster {
			return Identity{}, false
		}
		return kubeadmIdentity("admin.conf"), true
	case r.name == superAdminRule.name:
		return kubeadmIdentity("super-admin.conf"), true
	case r.cnPrefix != "":
		if previous == nil || !strings.HasPrefix(previous.Subject.CommonName, r.cnPrefix) || len(previous.Subject.CommonName) == len(r.cnPrefix) {
			return Identity{}, false
		}
		return Identity{CN: previous.Subject.CommonName, Orgs: r.anyOrg[:1]}, true
	}
	return Identity{CN: r.cn}, true
}

// FitsRole reports whether an identity fits what the kubeconfig's role
// requires (true when the role requires nothing in particular).
func FitsRole(u KubeconfigUse, c *x509.Certificate) bool {
	r, ok := ruleFor(u)
	return !ok || r.fits(c)
}

// credentials are the node's certificates a kubeconfig's client
// certificate is compared with, made once per evaluation.
type credentials struct {
	once sync.Once
	list []Credential
}

func (e *evaluator) credentials() []Credential {
	e.creds.once.Do(func() {
		for i := range e.items {
			it := &e.items[i]
			if it.Kind != inventory.KindCertificate || it.Leaf() == nil {
				continue
			}
			paths := []string{it.Path}
			if it.Resolved != "" {
				paths = append(paths, it.Resolved)
			}
			bundle := it.KeyFile == it.Path || it.KeyPath == ""
			e.creds.list = append(e.creds.list, Credential{Name: it.Name, Paths: paths, Cert: it.Leaf(),
				Serving:   it.IsCA || it.Leaf().IsCA || slices.Contains(it.ExtKeyUsage, x509.ExtKeyUsageServerAuth),
				Component: len(it.Components) > 0 && it.Role != "" && !bundle})
		}
	})
	return e.creds.list
}

// UseOf says whose a kubeconfig item is.
func UseOf(it *inventory.Item) KubeconfigUse {
	u := KubeconfigUse{Name: it.Name, Kubeadm: isKubeadmFile(it), Components: it.Components}
	if u.Kubeadm {
		u.Name = it.Role
	}
	if it.Kubeconfig != nil {
		u.CertPath = it.Kubeconfig.CertPath
	}
	return u
}

// checkForeignClient reports a kubeconfig whose client certificate is not
// its own and returns why ("" when it is).
func (e *evaluator) checkForeignClient(it *inventory.Item, leaf *x509.Certificate, add addFunc) string {
	why := ForeignClient(UseOf(it), leaf, e.credentials())
	if why == "" {
		return ""
	}
	key := ""
	if it.Key != nil && !publicKeysEqual(leaf.PublicKey, it.Key) {
		key = "; its client key is not that certificate's either"
	}
	add(facts.ReasonForeignClientCertificate, facts.SeverityCritical, it.Path,
		"%s%s: the API server takes whoever uses %s for someone else (or rejects it); give it its own client certificate: renew %s (keeps the previous identity; --client-name CN[:O] sets it; check prints the command line under NEXT)",
		why, key, it.Path, renewName(it))
	return why
}

func renewName(it *inventory.Item) string {
	if isKubeadmFile(it) {
		return it.Role
	}
	return orDefault(it.Name, it.Path)
}
