package inventory

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"io/fs"

	"github.com/certrescue/certrescue/internal/facts"
)

// Kind says what an Item is.
type Kind string

// Kinds of items.
const (
	// KindCertificate is a certificate file (leaf or CA), with its private key
	// in the same file or in KeyPath.
	KindCertificate Kind = "certificate"
	// KindKubeconfig is a kubeconfig; its certificate is the client
	// certificate of the context in use.
	KindKubeconfig Kind = "kubeconfig"
	// KindKeyPair is a bare key pair without a certificate (sa.key/sa.pub).
	KindKeyPair Kind = "keypair"
	// KindKey is a private key found without a certificate.
	KindKey Kind = "key"
	// KindServed is the chain a live TLS endpoint serves (package endpoint).
	KindServed Kind = "served"
	// KindFile is a file that was named but could not be understood at all
	// (a malformed manifest, an unreadable directory); it only has Problems.
	KindFile Kind = "file"
)

// Problem is why a file could not be read or understood. Reason is
// facts.ReasonMalformed or facts.ReasonUnreadable.
type Problem struct {
	Reason facts.Reason
	Path   string // node path of the file at fault
	What   string // what the file is to this item: "certificate", "key", "client-certificate-data", ...
	Err    error
}

func (p Problem) Error() string {
	if p.What != "" {
		return fmt.Sprintf("%s %s: %v", p.What, p.Path, p.Err)
	}
	return fmt.Sprintf("%s: %v", p.Path, p.Err)
}

func (p Problem) Unwrap() error { return p.Err }

// CARef names the CA that should have signed an item's certificate.
type CARef struct {
	Name string `json:"name,omitempty"` // role name of the CA ("ca", "etcd-ca"), if known
	Path string `json:"path,omitempty"` // node path of the CA certificate, if known
}

// ExpectedSAN is a name or address a certificate must carry, and why.
type ExpectedSAN struct {
	Value string `json:"value"`
	Why   string `json:"why"` // "kube-apiserver --advertise-address in /etc/kubernetes/manifests/kube-apiserver.yaml"
}

// KubeconfigFacts is what a kubeconfig item says beyond its client certificate.
type KubeconfigFacts struct {
	Server       string              `json:"server"`
	Context      string              `json:"context,omitempty"`
	User         string              `json:"user,omitempty"`
	CACerts      []*x509.Certificate `json:"-"`
	CASkipped    int                 `json:"caCertsNotParsed,omitempty"` // certificate-authority blocks beyond MaxCerts
	CAPath       string              `json:"caPath,omitempty"`           // "" when embedded
	CAEmbedded   bool                `json:"caEmbedded"`
	CertPath     string              `json:"certPath,omitempty"`
	CertEmbedded bool                `json:"certEmbedded"`
	KeyEmbedded  bool                `json:"keyEmbedded"`
	OtherAuth    string              `json:"otherAuth,omitempty"` // token, exec, ...
	Insecure     bool                `json:"insecureSkipTLSVerify,omitempty"`
}

// ServedFacts describes a KindServed item.
type ServedFacts struct {
	Addr      string `json:"address"`
	DiskPath  string `json:"diskPath,omitempty"` // node path of the certificate that should be served
	Component string `json:"component,omitempty"`
	Explicit  bool   `json:"explicit"` // named with --endpoint rather than found in manifests
	Err       error  `json:"-"`        // the connection or handshake failed
}

// Item is one credential of the node: what is expected of it and what was found.
type Item struct {
	Name       string   // role name ("apiserver", "admin.conf") or a name derived from the file
	Role       string   // layout role name when known, else ""
	Kind       Kind     //
	Path       string   // node path of the certificate, kubeconfig or private key; host:port when served
	Resolved   string   // node path Path's symlinks lead to, when different
	KeyPath    string   // node path of a separate private key
	PubPath    string   // KindKeyPair: the public half
	Sources    []string // what named it: "kubeadm", "kube-apiserver --tls-cert-file (/etc/kubernetes/manifests/kube-apiserver.yaml)"
	Components []string // components that use it

	// Expectations.
	IsCA         bool
	CA           CARef
	ExtKeyUsage  []x509.ExtKeyUsage
	Organization string
	ExpectSANs   []ExpectedSAN
	// Optional items whose file is absent are dropped by Scan (kubeadm's
	// default paths on a node that is not kubeadm's); a file named by a flag
	// or an inventory file that is absent is a Problem.
	Optional bool

	// Contents, filled by Scan.
	Certs      []*x509.Certificate // as in the file, leaf first
	Skipped    int                 // CERTIFICATE blocks beyond MaxCerts, not parsed
	Key        crypto.PublicKey    // public half of the private key found, nil if none
	PubKey     crypto.PublicKey    // KindKeyPair: the public key file's key
	KeyFile    string              // node path the private key was read from ("" when embedded in a kubeconfig: then Path)
	KeyMode    fs.FileMode         // permission bits of the file holding the private key
	KeyModeSet bool
	Kubeconfig *KubeconfigFacts
	Served     *ServedFacts
	Store      *KubeletStoreFacts // the kubelet's client store, on kubelet-client-current.pem
	Problems   []Problem
	Missing    bool // the item's main file does not exist

	caExplicit bool // CA.Path comes from a flag, not from a default layout
	sniff      bool // a file found by listing: a lone private key is a KindKey, not a malformed certificate
}

// Leaf is the item's first certificate, or nil.
func (it *Item) Leaf() *x509.Certificate {
	if len(it.Certs) == 0 {
		return nil
	}
	return it.Certs[0]
}

func (it *Item) problem(reason facts.Reason, path, what string, err error) {
	it.Problems = append(it.Problems, Problem{Reason: reason, Path: path, What: what, Err: err})
}

// key identifies an item for merging.
func (it *Item) key() string { return string(it.Kind) + "\x00" + it.Path }
