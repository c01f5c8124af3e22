package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Node paths kubeadm uses for a node's kubelet.
const (
	DefaultKubeconfig = "/etc/kubernetes/kubelet.conf"
	DefaultPKIDir     = "/var/lib/kubelet/pki"
)

// Conf is a node's kubelet kubeconfig.
type Conf struct {
	Path string
	KC   *kubeconfig.Kubeconfig
	Mode fs.FileMode
}

// LoadConf reads the kubelet's kubeconfig and the files it references
// through the node's view.
func LoadConf(fsys *nodefs.FS, nodePath string) (*Conf, error) {
	f, err := fsys.ReadFile(nodePath, kubeconfig.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", nodePath, err)
	}
	kc, err := kubeconfig.Parse(f.Data, path.Dir(fsys.Clean(nodePath)), func(p string) ([]byte, error) {
		return fsys.Read(p, MaxPairSize)
	})
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", nodePath, err)
	}
	kc.Path = nodePath
	return &Conf{Path: nodePath, KC: kc, Mode: f.Mode.Perm()}, nil
}

// Embedded reports whether the client certificate is in the file itself
// (client-certificate-data): the kubelet's rotation never replaces it there.
func (c *Conf) Embedded() bool { return c.KC.ClientCert.Embedded }

// NamesCurrent reports whether both client-certificate and client-key name
// the store's current link.
func (c *Conf) NamesCurrent(current string) bool {
	return c.KC.ClientCert.Path == current && c.KC.ClientKey.Path == current
}

// Credential is the client certificate and key the kubeconfig uses now.
func (c *Conf) Credential() (*Pair, error) {
	cert, key := c.KC.ClientCert, c.KC.ClientKey
	if !cert.Present() {
		return nil, fmt.Errorf("kubeconfig %s: user %q has no client certificate", c.Path, c.KC.User)
	}
	for _, m := range []kubeconfig.Material{cert, key} {
		if m.Err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", c.Path, m.Err)
		}
	}
	data := append(append([]byte(nil), cert.Data...), '\n')
	if key.Path != cert.Path || cert.Embedded {
		data = append(data, key.Data...)
	}
	p, err := ParsePair(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: client credential: %w", c.Path, err)
	}
	return p, nil
}

// CACertificates are the cluster CAs the kubeconfig trusts.
func (c *Conf) CACertificates() ([]byte, error) {
	if c.KC.CA.Err != nil {
		return nil, fmt.Errorf("kubeconfig %s: certificate-authority: %w", c.Path, c.KC.CA.Err)
	}
	if len(c.KC.CA.Data) == 0 {
		return nil, fmt.Errorf("kubeconfig %s: no certificate-authority", c.Path)
	}
	if _, err := pki.ParseCertificatesPEM(c.KC.CA.Data); err != nil {
		return nil, fmt.Errorf("kubeconfig %s: certificate-authority: %w", c.Path, err)
	}
	return c.KC.CA.Data, nil
}

// PointAt returns the kubeconfig rewritten so that client-certificate and
// client-key both name current (the kubelet's rotating link) and nothing is
// embedded; nil when it already does. Everything else is kept.
func (c *Conf) PointAt(current string) ([]byte, error) {
	if c.NamesCurrent(current) && !c.Embedded() && !c.KC.ClientKey.Embedded {
		return nil, nil
	}
	user := c.KC.Config.AuthInfos[c.KC.User]
	if user == nil {
		return nil, errors.New("kubeconfig " + c.Path + ": no user")
	}
	user.ClientCertificateData, user.ClientKeyData = nil, nil
	user.ClientCertificate, user.ClientKey = current, current
	out, err := kubeconfig.Encode(c.KC)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", c.Path, err)
	}
	return out, nil
}

// Write replaces the kubeconfig atomically with data, keeping its mode
// (0600 at most: it may have embedded a key).
func (c *Conf) Write(fsys *nodefs.FS, data []byte) error {
	mode := c.Mode & 0o600
	if mode == 0 {
		mode = 0o600
	}
	return fsys.WriteSet([]nodefs.Put{{Path: c.Path, Data: data, Mode: mode}}, nodefs.WriteOptions{Force: true})
}
