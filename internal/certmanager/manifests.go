package certmanager

import (
	"bytes"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/renewal"
)

// The field guide's lifetimes: 90-day certificates renewed 15 days before
// they expire.
const (
	DefaultDuration    = 90 * 24 * time.Hour
	DefaultRenewBefore = 15 * 24 * time.Hour
	DefaultIssuerName  = "vault-issuer"
	DefaultPath        = "pki/sign/k8s-cluster"
	// DefaultNamespace is where cert-manager runs: a ClusterIssuer's
	// secrets and service accounts live there.
	DefaultNamespace = "cert-manager"
	// DefaultController is cert-manager's controller service account.
	DefaultController = "cert-manager"
)

// Auth kinds.
const (
	AuthKubernetes = "kubernetes"
	AuthAppRole    = "approle"
)

// Issuer is a ClusterIssuer for Vault.
type Issuer struct {
	Name      string // the ClusterIssuer's; DefaultIssuerName when ""
	Server    string // https://vault.example.com:8200
	Path      string // the PKI mount's sign path: pki/sign/ROLE or pki/sign-verbatim/ROLE
	Namespace string // Vault Enterprise namespace, optional
	CABundle  []byte // PEM: the CA certificates that verify Vault's TLS certificate
	Auth      Auth
	// CertManagerNamespace is cert-manager's namespace (DefaultNamespace).
	CertManagerNamespace string
}

// Auth is how cert-manager logs in to Vault.
type Auth struct {
	Kind string // AuthKubernetes or AuthAppRole
	// Kubernetes auth: Vault's role and the auth mount's path; cert-manager
	// asks the API server for a token of ServiceAccount (which it may, by
	// the Role and RoleBinding Manifests writes).
	Role           string
	MountPath      string // /v1/auth/kubernetes when ""
	ServiceAccount string // vault-issuer when ""
	Controller     string // cert-manager's own service account (DefaultController)
	// AppRole auth: the auth mount's path, the role ID, and the Secret in
	// cert-manager's namespace holding the secret ID (key secretId).
	AppRolePath string // approle when ""
	RoleID      string
	SecretName  string // vault-approle when ""
	SecretKey   string // secretId when ""
}

// Certificate is a workload's certificate.
type Certificate struct {
	Name, Namespace string
	SecretName      string // Name + "-tls" when ""
	DNSNames        []string
	IPAddresses     []string
	Duration        time.Duration // DefaultDuration when 0
	RenewBefore     time.Duration // DefaultRenewBefore when 0
}

// ErrInvalid is wrapped by every error about bad input.
var ErrInvalid = errors.New("invalid cert-manager setting")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func (i *Issuer) defaults() error {
	if i.Name == "" {
		i.Name = DefaultIssuerName
	}
	if i.Path == "" {
		i.Path = DefaultPath
	}
	if i.CertManagerNamespace == "" {
		i.CertManagerNamespace = DefaultNamespace
	}
	a := &i.Auth
	switch a.Kind {
	case AuthKubernetes:
		if a.MountPath == "" {
			a.MountPath = "/v1/auth/kubernetes"
		}
		if a.ServiceAccount == "" {
			a.ServiceAccount = "vault-issuer"
		}
		if a.Controller == "" {
			a.Controller = DefaultController
		}
	case AuthAppRole:
		if a.AppRolePath == "" {
			a.AppRolePath = "approle"
		}
		if a.SecretName == "" {
			a.SecretName = "vault-approle"
		}
		if a.SecretKey == "" {
			a.SecretKey = "secretId"
		}
	}
	return i.validate()
}

func (i *Issuer) validate() error {
	u, err := url.Parse(i.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return invalid("server %q: Vault's address, https://HOST[:PORT] (no path)", i.Server)
	}
	p := strings.Trim(i.Path, "/")
	parts := strings.Split(p, "/")
	if len(parts) < 2 || !(parts[len(parts)-2] == "sign" || parts[len(parts)-1] == "sign-verbatim" || parts[len(parts)-2] == "sign-verbatim") || strings.Contains(p, "//") {
		return invalid("path %q: the PKI mount's signing path, MOUNT/sign/ROLE (the field guide's pki/sign/k8s-cluster) or MOUNT/sign-verbatim[/ROLE]", i.Path)
	}
	i.Path = p
	for _, name := range []struct{ what, v string }{{"issuer name", i.Name}, {"cert-manager namespace", i.CertManagerNamespace}} {
		if errs := validation.IsDNS1123Subdomain(name.v); len(errs) > 0 {
			return invalid("%s %q: %s", name.what, name.v, strings.Join(errs, "; "))
		}
	}
	if err := checkBundle(i.CABundle); err != nil {
		return err
	}
	a := i.Auth
	switch a.Kind {
	case AuthKubernetes:
		if a.Role == "" {
			return invalid("Kubernetes auth needs Vault's role (the auth mount's role bound to the service account)")
		}
		for _, n := range []struct{ what, v string }{{"service account", a.ServiceAccount}, {"cert-manager's service account", a.Controller}} {
			if errs := validation.IsDNS1123Subdomain(n.v); len(errs) > 0 {
				return invalid("%s %q: %s", n.what, n.v, strings.Join(errs, "; "))
			}
		}
		if !strings.HasPrefix(a.MountPath, "/v1/") {
			return invalid("Kubernetes auth mount path %q: cert-manager wants the full API path, /v1/auth/MOUNT", a.MountPath)
		}
	case AuthAppRole:
		if a.RoleID == "" {
			return invalid("AppRole auth needs the role ID")
		}
		if errs := validation.IsDNS1123Subdomain(a.SecretName); len(errs) > 0 {
			return invalid("AppRole secret name %q: %s", a.SecretName, strings.Join(errs, "; "))
		}
	default:
		return invalid("auth %q: use %s or %s", a.Kind, AuthKubernetes, AuthAppRole)
	}
	return nil
}

// maxBundle caps the CA bundle.
const maxBundle = 1 << 20

// checkBundle wants one or more PEM certificates and nothing else.
func checkBundle(b []byte) error {
	if len(b) == 0 {
		return invalid("caBundle is empty: the CA certificates that verify Vault's TLS certificate")
	}
	if len(b) > maxBundle {
		return invalid("caBundle of %d bytes, at most %d", len(b), maxBundle)
	}
	n, rest := 0, b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return invalid("caBundle holds a %s block: certificates only (never a key)", blk.Type)
		}
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) > 0 {
		return invalid("caBundle: not PEM certificates")
	}
	return nil
}

func (c *Certificate) defaults() error {
	if c.SecretName == "" {
		c.SecretName = c.Name + "-tls"
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.RenewBefore == 0 {
		c.RenewBefore = DefaultRenewBefore
	}
	for _, n := range []struct{ what, v string }{{"name", c.Name}, {"secret name", c.SecretName}} {
		if errs := validation.IsDNS1123Subdomain(n.v); len(errs) > 0 {
			return invalid("certificate %s %q: %s", n.what, n.v, strings.Join(errs, "; "))
		}
	}
	if errs := validation.IsDNS1123Label(c.Namespace); len(errs) > 0 {
		return invalid("certificate %s: namespace %q: %s", c.Name, c.Namespace, strings.Join(errs, "; "))
	}
	if len(c.DNSNames)+len(c.IPAddresses) == 0 {
		return invalid("certificate %s/%s: no DNS name or IP address", c.Namespace, c.Name)
	}
	for _, s := range c.DNSNames {
		if err := renewal.CheckSAN(s); err != nil || net.ParseIP(s) != nil {
			return invalid("certificate %s/%s: DNS name %q", c.Namespace, c.Name, s)
		}
	}
	for _, s := range c.IPAddresses {
		if net.ParseIP(s) == nil {
			return invalid("certificate %s/%s: IP address %q", c.Namespace, c.Name, s)
		}
	}
	if c.Duration < time.Hour {
		return invalid("certificate %s/%s: duration %s: cert-manager wants at least 1h", c.Namespace, c.Name, c.Duration)
	}
	if c.RenewBefore <= 0 || c.RenewBefore >= c.Duration {
		return invalid("certificate %s/%s: renewBefore %s must be shorter than the duration %s", c.Namespace, c.Name, c.RenewBefore, c.Duration)
	}
	return nil
}

// hours writes a duration as cert-manager's examples do ("2160h").
func hours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// Manifests renders the ClusterIssuer, what its auth needs (for Kubernetes
// auth: the ServiceAccount cert-manager takes tokens of, and the Role and
// RoleBinding that let it), and the Certificates, as one YAML stream.
func Manifests(i Issuer, certs []Certificate) ([]byte, error) {
	if err := i.defaults(); err != nil {
		return nil, err
	}
	docs := []any{clusterIssuer(i)}
	docs = append(docs, authObjects(i)...)
	seen := map[string]bool{}
	for _, c := range certs {
		if err := c.defaults(); err != nil {
			return nil, err
		}
		key := c.Namespace + "/" + c.Name
		if seen[key] {
			return nil, invalid("certificate %s given twice", key)
		}
		seen[key] = true
		docs = append(docs, certificate(c, i.Name))
	}
	var b bytes.Buffer
	for _, d := range docs {
		y, err := yaml.Marshal(d)
		if err != nil {
			return nil, err
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	return b.Bytes(), nil
}

func clusterIssuer(i Issuer) object {
	vault := obj{"server": i.Server, "path": i.Path, "caBundle": base64.StdEncoding.EncodeToString(i.CABundle)}
	if i.Namespace != "" {
		vault["namespace"] = i.Namespace
	}
	a := i.Auth
	switch a.Kind {
	case AuthKubernetes:
		vault["auth"] = obj{"kubernetes": obj{"role": a.Role, "mountPath": a.MountPath, "serviceAccountRef": obj{"name": a.ServiceAccount}}}
	case AuthAppRole:
		vault["auth"] = obj{"appRole": obj{"path": a.AppRolePath, "roleId": a.RoleID, "secretRef": obj{"name": a.SecretName, "key": a.SecretKey}}}
	}
	return object{APIVersion: "cert-manager.io/v1", Kind: "ClusterIssuer", Metadata: meta{Name: i.Name}, Spec: obj{"vault": vault}}
}

// authObjects: with Kubernetes auth, cert-manager requests a token of the
// issuer's service account (TokenRequest) and logs in to Vault with it; the
// Role and RoleBinding allow exactly that, in cert-manager's namespace.
func authObjects(i Issuer) []any {
	if i.Auth.Kind != AuthKubernetes {
		return nil
	}
	ns, sa := i.CertManagerNamespace, i.Auth.ServiceAccount
	role := sa + "-token-request"
	return []any{
		object{APIVersion: "v1", Kind: "ServiceAccount", Metadata: meta{Name: sa, Namespace: ns}},
		rbac{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role", Metadata: meta{Name: role, Namespace: ns},
			Rules: []obj{{"apiGroups": []string{""}, "resources": []string{"serviceaccounts/token"}, "resourceNames": []string{sa}, "verbs": []string{"create"}}}},
		rbac{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding", Metadata: meta{Name: role, Namespace: ns},
			RoleRef:  obj{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
			Subjects: []obj{{"kind": "ServiceAccount", "name": i.Auth.Controller, "namespace": ns}}},
	}
}

func certificate(c Certificate, issuer string) object {
	spec := obj{
		"secretName":  c.SecretName,
		"duration":    hours(c.Duration),
		"renewBefore": hours(c.RenewBefore),
		"issuerRef":   obj{"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
		"privateKey":  obj{"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
		"usages":      []string{"digital signature", "key encipherment", "server auth"},
	}
	if len(c.DNSNames) > 0 {
		spec["dnsNames"] = c.DNSNames
	}
	if len(c.IPAddresses) > 0 {
		spec["ipAddresses"] = c.IPAddresses
	}
	return object{APIVersion: "cert-manager.io/v1", Kind: "Certificate", Metadata: meta{Name: c.Name, Namespace: c.Namespace}, Spec: spec}
}

type obj = map[string]any

type meta struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
	Spec       obj    `json:"spec,omitempty"`
}

type rbac struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   meta   `json:"metadata"`
	Rules      []obj  `json:"rules,omitempty"`
	RoleRef    obj    `json:"roleRef,omitempty"`
	Subjects   []obj  `json:"subjects,omitempty"`
}
