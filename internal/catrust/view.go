package catrust

import (
	"bytes"
	"crypto/x509"
	"path"
	"slices"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Kind is what a consumer is.
type Kind string

// Kinds of consumers.
const (
	KindFile       Kind = "file"       // a PEM file: the CA certificate, a copy, a bundle
	KindKubeconfig Kind = "kubeconfig" // certificate-authority-data of a kubeconfig's clusters
	KindConfigMap  Kind = "configmap"  // a ConfigMap key in the cluster
)

// Consumer is one place that trusts (holds) CA certificates.
type Consumer struct {
	Kind Kind   `json:"kind"`
	Path string `json:"path"` // node path; NAMESPACE/NAME for a ConfigMap
	// Field is what inside it holds the CA: "certificate-authority-data",
	// a ConfigMap key; "" for a file.
	Field string `json:"field,omitempty"`
	// Refs say what names it: the flags and files of the components that
	// read it ("kube-apiserver --client-ca-file (/etc/kubernetes/manifests/kube-apiserver.yaml)").
	Refs       []string `json:"refs,omitempty"`
	Components []string `json:"components,omitempty"`
	// Holds is every certificate it holds now, in order.
	Holds []*x509.Certificate `json:"-"`
}

// CA is one CA of the node and its consumers.
type CA struct {
	Name      string
	Path      string
	Cert      *x509.Certificate
	Consumers []Consumer
}

// ExtraKubeconfigs are kubeconfigs looked at beside the inventory's: kubeadm's
// bootstrap kubeconfig and root's own.
var ExtraKubeconfigs = []string{layout.KubernetesDir + "/bootstrap-kubelet.conf", "/root/.kube/config"}

// Find lists every consumer of the node (items: its inventory) that holds a
// certificate of any of the CAs ids (same subject and public key), in
// inventory order, each once. n reads the kubeconfigs the inventory does not
// list (ExtraKubeconfigs) and kubeconfigs' referenced CA files.
func Find(n *nodefs.FS, items []inventory.Item, ids ...*x509.Certificate) []Consumer {
	holdsAny := func(cs []*x509.Certificate) bool {
		return slices.ContainsFunc(cs, func(c *x509.Certificate) bool {
			return slices.ContainsFunc(ids, func(id *x509.Certificate) bool { return carenewal.SameCA(c, id) })
		})
	}
	var out []Consumer
	seen := map[string]int{} // kind + resolved path -> index in out
	resolve := func(p string) string {
		if rp, err := n.Resolve(p); err == nil {
			return rp
		}
		return p
	}
	add := func(c Consumer) {
		k := string(c.Kind) + "\x00" + resolve(c.Path)
		if i, ok := seen[k]; ok {
			out[i].Refs = appendNew(out[i].Refs, c.Refs...)
			out[i].Components = appendNew(out[i].Components, c.Components...)
			return
		}
		seen[k] = len(out)
		out = append(out, c)
	}
	listed := map[string]bool{}
	for i := range items {
		it := &items[i]
		switch it.Kind {
		case inventory.KindCertificate:
			if holdsAny(it.Certs) {
				add(Consumer{Kind: KindFile, Path: it.Path, Refs: refs(it), Components: it.Components, Holds: it.Certs})
			}
		case inventory.KindKubeconfig:
			listed[resolve(it.Path)] = true
			kf := it.Kubeconfig
			if kf == nil || !holdsAny(kf.CACerts) {
				continue
			}
			if kf.CAEmbedded {
				add(Consumer{Kind: KindKubeconfig, Path: it.Path, Field: "certificate-authority-data", Refs: refs(it), Components: it.Components, Holds: kf.CACerts})
			} else if kf.CAPath != "" {
				add(Consumer{Kind: KindFile, Path: kf.CAPath, Refs: []string{"certificate-authority of " + it.Path}, Components: it.Components, Holds: kf.CACerts})
			}
		}
	}
	for _, p := range ExtraKubeconfigs {
		if listed[resolve(p)] {
			continue
		}
		for _, c := range kubeconfigConsumers(n, p) {
			if holdsAny(c.Holds) {
				add(c)
			}
		}
	}
	return out
}

// kubeconfigConsumers reads a kubeconfig that is not in the inventory.
func kubeconfigConsumers(n *nodefs.FS, p string) []Consumer {
	f, err := n.ReadFile(p, kubeconfig.MaxSize)
	if err != nil {
		return nil
	}
	kc, err := kubeconfig.Parse(f.Data, path.Dir(p), func(q string) ([]byte, error) { return n.Read(q, pki.MaxPEMSize) })
	if err != nil {
		return nil
	}
	var out []Consumer
	for _, name := range sortedKeys(kc.Config.Clusters) {
		cl := kc.Config.Clusters[name]
		switch {
		case len(cl.CertificateAuthorityData) > 0:
			cs, _ := pki.ParseCertificatesPEM(cl.CertificateAuthorityData)
			out = append(out, Consumer{Kind: KindKubeconfig, Path: p, Field: "certificate-authority-data", Refs: []string{"kubeconfig " + p}, Holds: cs})
		case cl.CertificateAuthority != "":
			ref := cl.CertificateAuthority
			if !path.IsAbs(ref) {
				ref = path.Join(path.Dir(p), ref)
			}
			data, err := n.Read(ref, pki.MaxPEMSize)
			if err != nil {
				continue
			}
			cs, _ := pki.ParseCertificatesPEM(data)
			out = append(out, Consumer{Kind: KindFile, Path: ref, Refs: []string{"certificate-authority of " + p}, Holds: cs})
		}
	}
	return out
}

// Build is the view of every CA of the node: each self-signed CA
// certificate the inventory found (once per CA: copies and renewals of one
// are the same CA) with its consumers.
func Build(n *nodefs.FS, items []inventory.Item) []CA {
	var out []CA
	for i := range items {
		it := &items[i]
		c := it.Leaf()
		if it.Kind != inventory.KindCertificate || c == nil || !c.IsCA || !bytes.Equal(c.RawIssuer, c.RawSubject) {
			continue
		}
		if slices.ContainsFunc(out, func(o CA) bool { return carenewal.SameCA(o.Cert, c) }) {
			continue
		}
		out = append(out, CA{Name: it.Name, Path: it.Path, Cert: c, Consumers: Find(n, items, c)})
	}
	return out
}

// State is where a consumer stands between two CA certificates.
type State string

// States.
const (
	StateOld     State = "old"     // holds the old one only
	StateBoth    State = "both"    // holds both
	StateNew     State = "new"     // holds the new one only
	StateNeither State = "neither" // holds neither
)

// StateOf says what c holds of old and new. Two certificates of the same CA
// (a renewal) are told apart by their bytes; of different CAs (a rotation)
// by subject and key, so a renewed copy of either counts.
func StateOf(holds []*x509.Certificate, old, new *x509.Certificate) State {
	eq := carenewal.SameCA
	if carenewal.SameCA(old, new) {
		eq = func(a, b *x509.Certificate) bool { return bytes.Equal(a.Raw, b.Raw) }
	}
	o := slices.ContainsFunc(holds, func(c *x509.Certificate) bool { return eq(c, old) })
	nw := slices.ContainsFunc(holds, func(c *x509.Certificate) bool { return eq(c, new) })
	switch {
	case o && nw:
		return StateBoth
	case o:
		return StateOld
	case nw:
		return StateNew
	}
	return StateNeither
}

// Expired lists the certificates c holds that are not valid at now.
func (c Consumer) Expired(now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, h := range c.Holds {
		if now.After(h.NotAfter) || now.Before(h.NotBefore) {
			out = append(out, h)
		}
	}
	return out
}

func refs(it *inventory.Item) []string {
	if len(it.Sources) == 0 {
		return nil
	}
	return slices.Clone(it.Sources)
}

func appendNew(a []string, b ...string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
