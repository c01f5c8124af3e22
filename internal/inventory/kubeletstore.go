package inventory

import (
	"crypto/x509"
	"path"
	"time"

	"github.com/certrescue/certrescue/internal/kubelet"
	"github.com/certrescue/certrescue/internal/layout"
)

// KubeletStoreFacts describe the kubelet's rotating store beside its
// kubelet-client-current.pem, for the kubelet_rotation_stuck check.
type KubeletStoreFacts struct {
	// Link is false when the current file is a regular file: the kubelet
	// refuses to rotate it.
	Link bool `json:"link"`
	// Newest is the dated pair file with the latest NotAfter ("" when
	// none parses), valid from NewestNotBefore to NewestNotAfter.
	Newest          string    `json:"newest,omitempty"`
	NewestNotBefore time.Time `json:"newestNotBefore,omitzero"`
	NewestNotAfter  time.Time `json:"newestNotAfter,omitzero"`
	// Current is the certificate the current link names (nil when it
	// cannot be read).
	Current *x509.Certificate `json:"-"`
}

// loadKubeletStore reads the store's facts for the items that need them:
// kubelet-client-current.pem (kubelet_rotation_stuck) and a kubelet.conf
// that embeds its certificate (kubelet_client_embedded: is there a rotated
// pair the kubelet uses instead?). Reading them with the item keeps every
// item's findings its own, whatever the batches the exporter reads in.
func (r *Reader) loadKubeletStore(it *Item) {
	switch {
	case it.Role == "kubelet-client" && path.Base(it.Path) == kubelet.ClientPrefix+"-current.pem":
		it.Store = r.kubeletStore(path.Dir(it.Path))
	case it.Role == "kubelet.conf" && it.Kubeconfig != nil && it.Kubeconfig.CertEmbedded:
		it.Store = r.kubeletStore(layout.KubeletPKIDir)
	}
}

// kubeletStore reads the store of dir through the node's view (nil when the
// current file does not exist).
func (r *Reader) kubeletStore(dir string) *KubeletStoreFacts {
	st, err := kubelet.Store{FS: r.Node, Dir: dir, Prefix: kubelet.ClientPrefix}.Inspect()
	if err != nil || !st.Exists {
		return nil
	}
	f := &KubeletStoreFacts{Link: st.Link}
	if st.Pair != nil {
		f.Current = st.Pair.Leaf()
	}
	if st.NewestPair != nil && st.Newest != st.Resolved {
		f.Newest = st.Newest
		f.NewestNotBefore, f.NewestNotAfter = st.NewestPair.Leaf().NotBefore, st.NewestPair.Leaf().NotAfter
	}
	return f
}
