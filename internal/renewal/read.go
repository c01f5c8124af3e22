package renewal

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
)

// Renewable reports whether renew handles a role's kind (leaves, kubeconfigs
// and bundles; not CAs and not the service-account key pair).
func Renewable(r layout.Role) bool {
	switch r.Kind {
	case layout.KindLeaf, layout.KindKubeconfig, layout.KindBundle:
		return true
	}
	return false
}

// ErrNotOnNode is wrapped when a role's files do not exist on the node.
var ErrNotOnNode = errors.New("not present on this node")

// Current is a credential as it is on the node now.
type Current struct {
	Role layout.Role
	Path string // node path of the file holding the certificate (symlinks resolved)
	Cert *x509.Certificate
	Err  error // unreadable, or ErrNotOnNode
	// Foreign says why a kubeconfig's client certificate is not its own
	// (check's foreign_client_certificate); see NeedsFix.
	Foreign string
	// KeyMismatch says the private key beside the certificate is not its
	// key (a certificate and a key of different generations): a renewal
	// must issue a new key (Options.RotateFor).
	KeyMismatch bool
}

// state is everything a renewal needs to know about one credential.
type state struct {
	role     layout.Role
	certPath string // resolved node path of the certificate's file
	cert     *x509.Certificate
	key      crypto.Signer // nil when it could not be read
	keyErr   error
	keyPEM   []byte // bundles: the key blocks, verbatim
	kc       *kubeconfig.Kubeconfig
}

// Inspect reads every renewable role's current certificate. A missing or bad
// file is reported in Current.Err, never as a failure of the whole call.
func Inspect(root string, roles []layout.Role) []Current {
	n := NewNode(root)
	defer n.Close()
	var out []Current
	var creds []evaluation.Credential
	for _, r := range roles {
		if !Renewable(r) {
			continue
		}
		st, err := readState(n, r)
		c := Current{Role: r, Path: r.CertPath, Err: err}
		if st != nil {
			c.Path, c.Cert = st.certPath, st.cert
			c.Foreign = foreign(n, roles, st, &creds)
			c.KeyMismatch = c.Foreign == "" && st.key != nil && !pki.PublicKeysEqual(st.key.Public(), st.cert.PublicKey)
		}
		out = append(out, c)
	}
	return out
}

func readState(n Node, r layout.Role) (*state, error) {
	if _, err := n.Lstat(r.CertPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %s: %w", r.Name, r.CertPath, ErrNotOnNode)
	}
	certPath, err := n.Resolve(r.CertPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Name, err)
	}
	data, err := n.Read(certPath)
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", r.Name, certPath, err)
	}
	st := &state{role: r, certPath: certPath}
	switch r.Kind {
	case layout.KindLeaf, layout.KindBundle:
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.Name, certPath, err)
		}
		st.cert = certs[0]
		keyPath, keyData := certPath, data
		if r.Kind == layout.KindLeaf {
			keyPath = r.KeyPath
			keyData, st.keyErr = n.Read(keyPath)
		}
		if st.keyErr == nil {
			st.key, st.keyErr = pki.ParsePrivateKeyPEM(keyData)
		}
		if st.keyErr != nil {
			st.keyErr = fmt.Errorf("key %s: %w", keyPath, st.keyErr)
		}
		if r.Kind == layout.KindBundle && st.keyErr == nil {
			st.keyPEM = keyBlocks(keyData)
		}
	case layout.KindKubeconfig:
		kc, err := kubeconfig.Parse(data, path.Dir(r.CertPath), n.Read)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.Name, certPath, err)
		}
		certs, err := kc.ClientCertificates()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.Name, certPath, err)
		}
		st.kc, st.cert = kc, certs[0]
		st.key, st.keyErr = kc.ClientPrivateKey()
		if st.keyErr != nil {
			st.keyErr = fmt.Errorf("%s: %w", certPath, st.keyErr)
		}
	}
	return st, nil
}
