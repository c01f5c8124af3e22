package renewal

import (
	"bytes"
	"fmt"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
)

// filesFor lays out the new certificate (and key, when keyPEM is set) the way
// the credential is stored now. Keys are always 0600; other files keep their
// mode.
func filesFor(n Node, st *state, it *Item, certPEM, keyPEM []byte) ([]File, error) {
	r := st.role
	switch r.Kind {
	case layout.KindLeaf:
		files := []File{{Path: st.certPath, Data: certPEM, Mode: n.Mode(st.certPath, atomicfile.CertMode)}}
		if keyPEM != nil {
			kp, err := n.Resolve(r.KeyPath)
			if err != nil {
				kp = r.KeyPath // no key file yet: write a new one
			}
			files = append(files, File{Path: kp, Data: keyPEM, Mode: atomicfile.KeyMode, Key: true})
		}
		return files, nil
	case layout.KindBundle:
		key := keyPEM
		if key == nil {
			key = st.keyPEM
		}
		return []File{{Path: st.certPath, Data: append(bytes.Clone(certPEM), key...), Mode: atomicfile.KeyMode, Key: true}}, nil
	case layout.KindKubeconfig:
		out, creds, err := kubeconfig.UpdateClientCredentials(st.kc, kubeconfig.Update{CertPEM: certPEM, KeyPEM: keyPEM, Embed: it.Own != ""})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", st.certPath, err)
		}
		var files []File
		if out != nil {
			files = append(files, File{Path: st.certPath, Data: out, Mode: atomicfile.KeyMode, Key: true})
		}
		for _, c := range creds {
			p, err := n.Resolve(c.Path)
			if err != nil {
				return nil, fmt.Errorf("%s references %s: %w", st.certPath, c.Path, err)
			}
			mode := atomicfile.KeyMode
			if !c.Key {
				mode = n.Mode(p, atomicfile.CertMode)
			}
			files = append(files, File{Path: p, Data: c.Data, Mode: mode, Key: c.Key})
		}
		return files, nil
	}
	return nil, fmt.Errorf("%s: kind %d is not renewable", r.Name, r.Kind)
}
