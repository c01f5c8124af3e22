package inventory

import (
	"time"

	"github.com/certrescue/certrescue/internal/kubelet"
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
}

// kubeletStore reads the store of dir through the node's view (nil when the
// current file does not exist).
func (r *Reader) kubeletStore(dir string) *KubeletStoreFacts {
	st, err := kubelet.Store{FS: r.Node, Dir: dir, Prefix: kubelet.ClientPrefix}.Inspect()
	if err != nil || !st.Exists {
		return nil
	}
	f := &KubeletStoreFacts{Link: st.Link}
	if st.NewestPair != nil && st.Newest != st.Resolved {
		f.Newest = st.Newest
		f.NewestNotBefore, f.NewestNotAfter = st.NewestPair.Leaf().NotBefore, st.NewestPair.Leaf().NotAfter
	}
	return f
}
