package kubeconfig

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/runtime/schema"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"

	"github.com/certrescue/certrescue/internal/pki"
)

// MaxSize caps a kubeconfig file; kubeadm's are about 6 KiB.
const MaxSize = 1 << 20

// Material is one credential of a kubeconfig: the client certificate, the
// client key or the cluster CA.
type Material struct {
	// Embedded is true when the bytes are in the kubeconfig (*-data fields).
	Embedded bool `json:"embedded"`
	// Path is the referenced file as an absolute path (relative references are
	// resolved against the kubeconfig's directory, as clientcmd does); "" when
	// the material is embedded or absent.
	Path string `json:"path,omitempty"`
	// Data is the embedded bytes or the referenced file's content.
	Data []byte `json:"-"`
	// Err is set when the referenced file could not be read.
	Err error `json:"-"`
}

// Present reports whether the kubeconfig names this material at all.
func (m Material) Present() bool { return m.Embedded || m.Path != "" }

// Kubeconfig is a parsed kubeconfig and the credentials of its current context.
type Kubeconfig struct {
	Path    string               // where it was read from ("" for Parse)
	Config  *clientcmdapi.Config // the whole file, as clientcmd parsed it
	Context string               // the context in use
	Cluster string               // its cluster
	User    string               // its user (AuthInfo)
	Server  string               // the cluster's server URL

	ClientCert Material
	ClientKey  Material
	CA         Material

	InsecureSkipTLSVerify bool
	// OtherAuth names a non-certificate credential of the user (token,
	// tokenFile, exec, authProvider, username), "" when there is none.
	OtherAuth string
}

// ReadFunc reads a referenced file by its absolute path.
type ReadFunc func(path string) ([]byte, error)

// Load reads the kubeconfig at path and the files it references.
func Load(path string) (*Kubeconfig, error) {
	data, err := pki.ReadFileLimit(path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	k, err := Parse(data, filepath.Dir(abs), func(p string) ([]byte, error) { return pki.ReadFile(p) })
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	k.Path = path
	return k, nil
}

// Parse decodes a kubeconfig. dir is the directory relative references are
// resolved against; read (which may be nil) reads referenced files, and its
// errors are kept in each Material's Err rather than failing the parse.
func Parse(data []byte, dir string, read ReadFunc) (*Kubeconfig, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%d bytes, larger than the %d-byte limit for a kubeconfig", len(data), MaxSize)
	}
	if len(data) == 0 {
		return nil, errors.New("empty file, not a kubeconfig")
	}
	cfg, err := decode(data)
	if err != nil {
		return nil, err
	}
	k := &Kubeconfig{Config: cfg}
	if err := k.selectContext(); err != nil {
		return nil, err
	}
	cluster := cfg.Clusters[k.Cluster]
	user := cfg.AuthInfos[k.User]
	k.Server = cluster.Server
	k.InsecureSkipTLSVerify = cluster.InsecureSkipTLSVerify
	k.CA = material(cluster.CertificateAuthorityData, cluster.CertificateAuthority, dir, read)
	k.ClientCert = material(user.ClientCertificateData, user.ClientCertificate, dir, read)
	k.ClientKey = material(user.ClientKeyData, user.ClientKey, dir, read)
	k.OtherAuth = otherAuth(user)
	return k, nil
}

// decode is clientcmd.Load without the rest of package clientcmd.
func decode(data []byte) (cfg *clientcmdapi.Config, err error) {
	defer func() {
		// The codec is not documented to panic, but a parser must not.
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("not a kubeconfig: decoder failed: %v", r)
		}
	}()
	into := clientcmdapi.NewConfig()
	obj, _, err := clientcmdlatest.Codec.Decode(data, &schema.GroupVersionKind{Version: clientcmdlatest.Version, Kind: "Config"}, into)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	c, ok := obj.(*clientcmdapi.Config)
	if !ok {
		return nil, fmt.Errorf("not a kubeconfig: decoded a %T", obj)
	}
	return c, nil
}

// selectContext picks current-context, or the only context, or (for files with
// no contexts at all) the only cluster and the only user.
func (k *Kubeconfig) selectContext() error {
	cfg := k.Config
	name := cfg.CurrentContext
	if name == "" && len(cfg.Contexts) == 1 {
		for n := range cfg.Contexts {
			name = n
		}
	}
	switch {
	case name != "":
		ctx, ok := cfg.Contexts[name]
		if !ok || ctx == nil {
			return fmt.Errorf("current-context %q: no context of that name (contexts: %v)", name, keys(cfg.Contexts))
		}
		k.Context, k.Cluster, k.User = name, ctx.Cluster, ctx.AuthInfo
	case len(cfg.Contexts) == 0 && len(cfg.Clusters) == 1 && len(cfg.AuthInfos) == 1:
		k.Cluster, k.User = keys(cfg.Clusters)[0], keys(cfg.AuthInfos)[0]
	default:
		return fmt.Errorf("current-context: not set and %d contexts to choose from (contexts: %v)", len(cfg.Contexts), keys(cfg.Contexts))
	}
	if c, ok := cfg.Clusters[k.Cluster]; !ok || c == nil {
		return fmt.Errorf("context %q: cluster %q not found in clusters (clusters: %v)", k.Context, k.Cluster, keys(cfg.Clusters))
	}
	if u, ok := cfg.AuthInfos[k.User]; !ok || u == nil {
		return fmt.Errorf("context %q: user %q not found in users (users: %v)", k.Context, k.User, keys(cfg.AuthInfos))
	}
	return nil
}

func material(data []byte, ref, dir string, read ReadFunc) Material {
	if len(data) > 0 {
		return Material{Embedded: true, Data: data}
	}
	if ref == "" {
		return Material{}
	}
	p := ref
	if !filepath.IsAbs(p) && dir != "" {
		p = filepath.Join(dir, p)
	}
	m := Material{Path: filepath.Clean(p)}
	if read != nil {
		m.Data, m.Err = read(m.Path)
	}
	return m
}

func otherAuth(u *clientcmdapi.AuthInfo) string {
	switch {
	case u.Token != "":
		return "token"
	case u.TokenFile != "":
		return "tokenFile"
	case u.Exec != nil:
		return "exec"
	case u.AuthProvider != nil:
		return "authProvider"
	case u.Username != "":
		return "username"
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ClientCertificates parses the client certificate material (leaf first).
func (k *Kubeconfig) ClientCertificates() ([]*x509.Certificate, error) {
	return certs(k.ClientCert, "client-certificate")
}

// CACertificates parses the cluster CA material.
func (k *Kubeconfig) CACertificates() ([]*x509.Certificate, error) {
	return certs(k.CA, "certificate-authority")
}

// ClientPrivateKey parses the client key material.
func (k *Kubeconfig) ClientPrivateKey() (crypto.Signer, error) {
	m := k.ClientKey
	if err := usable(m, "client-key"); err != nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKeyPEM(m.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(m, "client-key"), err)
	}
	return key, nil
}

func certs(m Material, field string) ([]*x509.Certificate, error) {
	if err := usable(m, field); err != nil {
		return nil, err
	}
	c, err := pki.ParseCertificatesPEM(m.Data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(m, field), err)
	}
	return c, nil
}

// ErrAbsent is returned when the kubeconfig does not name the material.
var ErrAbsent = errors.New("not set")

func usable(m Material, field string) error {
	switch {
	case !m.Present():
		return fmt.Errorf("%s: %w", field, ErrAbsent)
	case m.Err != nil:
		return fmt.Errorf("%s: %w", where(m, field), m.Err)
	}
	return nil
}

func where(m Material, field string) string {
	if m.Embedded {
		return field + "-data"
	}
	return field + " " + m.Path
}
