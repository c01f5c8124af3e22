package catrust

import (
	"fmt"
	"io/fs"
	"path"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Edit is the new content of one file of the node: every consumer in it
// holds the bundle.
type Edit struct {
	Path      string // node path, as the consumer names it
	Data      []byte
	Mode      fs.FileMode
	Consumers []Consumer // what the file holds that changed
}

// ReadFunc returns a node file's current bytes and mode: the disk, or what a
// plan already stages for it.
type ReadFunc func(nodePath string) ([]byte, fs.FileMode, error)

// DiskReader reads through the node's view of its disk.
func DiskReader(n *nodefs.FS) ReadFunc {
	return func(p string) ([]byte, fs.FileMode, error) {
		limit := int64(pki.MaxPEMSize)
		if kubeconfig.MaxSize > limit {
			limit = kubeconfig.MaxSize
		}
		f, err := n.ReadFile(p, limit)
		if err != nil {
			return nil, 0, err
		}
		return f.Data, f.Mode.Perm(), nil
	}
}

// EditError names the consumer that could not be edited.
type EditError struct {
	Consumer Consumer
	Err      error
}

func (e *EditError) Error() string {
	what := e.Consumer.Path
	if e.Consumer.Field != "" {
		what += " " + e.Consumer.Field
	}
	return fmt.Sprintf("trust consumer %s: %v", what, e.Err)
}

func (e *EditError) Unwrap() error { return e.Err }

// PlanEdits computes the edit of every file consumer and kubeconfig consumer
// (ConfigMaps are UpdateCluster's) that r changes, in consumer order, one
// edit per file. It writes nothing; a consumer it cannot parse is an
// *EditError and no edit is returned.
func PlanEdits(consumers []Consumer, r Replace, read ReadFunc) ([]Edit, error) {
	var out []Edit
	index := map[string]int{}
	for _, c := range consumers {
		if c.Kind == KindConfigMap {
			continue
		}
		p := path.Clean(c.Path)
		var data []byte
		var mode fs.FileMode
		i, ok := index[p]
		if ok {
			data, mode = out[i].Data, out[i].Mode
		} else {
			var err error
			if data, mode, err = read(p); err != nil {
				return nil, &EditError{Consumer: c, Err: err}
			}
		}
		var next []byte
		var changed bool
		var err error
		switch c.Kind {
		case KindFile:
			next, changed, err = Rebundle(data, r)
		case KindKubeconfig:
			next, changed, err = rebundleKubeconfig(data, r)
		default:
			err = fmt.Errorf("unknown consumer kind %q", c.Kind)
		}
		if err != nil {
			return nil, &EditError{Consumer: c, Err: err}
		}
		if !changed {
			continue
		}
		if ok {
			out[i].Data = next
			out[i].Consumers = append(out[i].Consumers, c)
			continue
		}
		index[p] = len(out)
		out = append(out, Edit{Path: p, Data: next, Mode: mode, Consumers: []Consumer{c}})
	}
	return out, nil
}

// rebundleKubeconfig applies r to the certificate-authority-data of every
// cluster of a kubeconfig, re-encoded with clientcmd's codec; referenced CA
// files are file consumers of their own.
func rebundleKubeconfig(data []byte, r Replace) ([]byte, bool, error) {
	cfg, err := loadKubeconfig(data)
	if err != nil {
		return nil, false, err
	}
	changed := false
	for _, name := range sortedKeys(cfg.Clusters) {
		cl := cfg.Clusters[name]
		if len(cl.CertificateAuthorityData) == 0 {
			continue
		}
		next, ch, err := Rebundle(cl.CertificateAuthorityData, r)
		if err != nil {
			return nil, false, fmt.Errorf("cluster %q certificate-authority-data: %w", name, err)
		}
		if ch {
			cl.CertificateAuthorityData = next
			changed = true
		}
	}
	if !changed {
		return data, false, nil
	}
	out, err := kubeconfig.Encode(&kubeconfig.Kubeconfig{Config: cfg})
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// loadKubeconfig decodes a kubeconfig with clientcmd, whatever its contexts
// and users (cluster-info has neither), capped at kubeconfig.MaxSize.
func loadKubeconfig(data []byte) (cfg *clientcmdapi.Config, err error) {
	if len(data) > kubeconfig.MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than a kubeconfig's %d", ErrTooLarge, len(data), kubeconfig.MaxSize)
	}
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("not a kubeconfig: decoder failed: %v", r)
		}
	}()
	cfg, err = clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	return cfg, nil
}
