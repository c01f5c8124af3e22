package kubeconfig

import (
	"bytes"
	"encoding/pem"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clientcmdlatest "k8s.io/client-go/tools/clientcmd/api/latest"
)

// CredentialFile is a referenced credential file a client-credential update
// must rewrite (the kubeconfig itself keeps pointing at it).
type CredentialFile struct {
	Path string // as resolved by Parse: absolute, in the kubeconfig's own namespace
	Data []byte
	Key  bool // holds a private key: write it 0600
}

// Update is a new client certificate (and optionally key) for a kubeconfig's
// current user.
type Update struct {
	CertPEM []byte // the new client certificate (leaf first, chain after)
	KeyPEM  []byte // the new key; nil keeps the current one
	// Embed forces embedded client-certificate-data/client-key-data, dropping
	// file references (used when the references pointed at another
	// component's credential).
	Embed bool
}

// UpdateClientCredentials applies u to k the way the file already stores its
// credentials: embedded data stays embedded and is replaced in the returned
// kubeconfig bytes (nil when the kubeconfig itself needs no change); file
// references stay references and the referenced files come back as
// CredentialFiles to write. A certificate and key sharing one file (the
// kubelet's kubelet-client-current.pem) come back as one file holding both.
// k.Config is modified.
func UpdateClientCredentials(k *Kubeconfig, u Update) (kubeconfig []byte, files []CredentialFile, err error) {
	if len(u.CertPEM) == 0 {
		return nil, nil, errors.New("update client credentials: no certificate")
	}
	user := k.Config.AuthInfos[k.User]
	if user == nil {
		return nil, nil, fmt.Errorf("user %q not found in users", k.User)
	}
	if u.Embed {
		if u.KeyPEM == nil {
			return nil, nil, errors.New("update client credentials: embedding needs the key too")
		}
		user.ClientCertificate, user.ClientKey = "", ""
		user.ClientCertificateData, user.ClientKeyData = u.CertPEM, u.KeyPEM
		out, err := Encode(k)
		return out, nil, err
	}
	changed := false
	cert, key := k.ClientCert, k.ClientKey
	switch {
	case cert.Embedded:
		user.ClientCertificateData = u.CertPEM
		changed = true
	case cert.Path != "" && cert.Path == key.Path:
		// One file, certificate and key: the kubelet's rotated bundle.
		keyPEM := u.KeyPEM
		if keyPEM == nil {
			if keyPEM, err = keyBlocks(key.Data); err != nil {
				return nil, nil, fmt.Errorf("client-key %s: %w", key.Path, err)
			}
		}
		files = append(files, CredentialFile{Path: cert.Path, Data: append(bytes.Clone(u.CertPEM), keyPEM...), Key: true})
	case cert.Path != "":
		files = append(files, CredentialFile{Path: cert.Path, Data: u.CertPEM})
	default:
		return nil, nil, fmt.Errorf("user %q has no client certificate to renew", k.User)
	}
	if u.KeyPEM != nil && !(cert.Path != "" && cert.Path == key.Path) {
		switch {
		case key.Embedded:
			user.ClientKeyData = u.KeyPEM
			changed = true
		case key.Path != "":
			files = append(files, CredentialFile{Path: key.Path, Data: u.KeyPEM, Key: true})
		default:
			return nil, nil, fmt.Errorf("user %q has no client key to replace", k.User)
		}
	}
	if changed {
		if kubeconfig, err = Encode(k); err != nil {
			return nil, nil, err
		}
	}
	return kubeconfig, files, nil
}

// Encode serialises k.Config as clientcmd.Write does (clientcmd's latest codec).
func Encode(k *Kubeconfig) ([]byte, error) {
	out, err := runtime.Encode(clientcmdlatest.Codec, k.Config)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}
	return out, nil
}

// keyBlocks returns the private key PEM blocks of a bundle, verbatim.
func keyBlocks(data []byte) ([]byte, error) {
	var out []byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(b)...)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no private key block")
	}
	return out, nil
}

// NewConfig is a kubeconfig with one cluster, user and context, as kubeadm
// writes them: embedded CA data, and the client credential embedded (certPEM
// and keyPEM) or referenced (certPath and keyPath, which may be one bundle).
type NewConfig struct {
	Server, Cluster, User string
	CAPEM                 []byte
	CertPEM, KeyPEM       []byte
	CertPath, KeyPath     string
}

// Build encodes c with clientcmd's codec.
func Build(c NewConfig) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[c.Cluster] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.CAPEM}
	cfg.AuthInfos[c.User] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.CertPEM, ClientKeyData: c.KeyPEM,
		ClientCertificate: c.CertPath, ClientKey: c.KeyPath,
	}
	ctx := c.User + "@" + c.Cluster
	cfg.Contexts[ctx] = &clientcmdapi.Context{Cluster: c.Cluster, AuthInfo: c.User}
	cfg.CurrentContext = ctx
	return Encode(&Kubeconfig{Config: cfg})
}
