package inventory

import (
	"context"
	"errors"
	"fmt"
	"github.com/certrescue/certrescue/internal/nodefs"
	"path"
	"path/filepath"
)

// NodeOptions say where a command looks for a node's credentials. check,
// renew, rescue and the exporter all pass their flags here, so they find the
// same files.
type NodeOptions struct {
	// Node reads the node's own layouts (Sources: kubeadm, the kubelet, static
	// pod manifests, systemd units, k3s/RKE2 and the usual binary-install
	// directories). check's --scan-node=false clears it.
	Node bool
	// Inventories are inventory files. An absolute path is a node path, read
	// through the node (under the root); a relative one is the operator's own
	// file on this machine.
	Inventories []string
	// Dirs are node directories whose PEM files are all read. A relative
	// directory is taken from the working directory when the root is "/"
	// and refused otherwise.
	Dirs []string
}

// ErrRelativeDir is wrapped by a SourceError for a relative directory under
// a root other than "/": it names no node path.
var ErrRelativeDir = errors.New("not an absolute node path")

// SourceError is an inventory file or directory that cannot be used. Kind is
// "inventory" or "dir"; the command layer names its flag.
type SourceError struct {
	Kind string
	Path string
	Err  error
}

func (e *SourceError) Error() string {
	if e.Kind == "dir" {
		return fmt.Sprintf("directory %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("inventory file %s: %v", e.Path, e.Err)
}

func (e *SourceError) Unwrap() error { return e.Err }

// NodeSources turns the options into sources, in the order their names win:
// the node's own layouts, then the inventory files, then the directories.
// An inventory file that cannot be read or parsed, or a relative directory
// under a root, is a *SourceError; nothing is read but the inventory files.
func NodeSources(r *Reader, o NodeOptions) ([]Source, error) {
	var sources []Source
	if o.Node {
		sources = Sources()
	}
	for _, p := range o.Inventories {
		inv, err := r.loadInventory(p)
		if err != nil {
			return nil, &SourceError{Kind: "inventory", Path: p, Err: err}
		}
		sources = append(sources, inv)
	}
	for _, d := range o.Dirs {
		if !path.IsAbs(d) {
			if !r.Node.IsHost() {
				return nil, &SourceError{Kind: "dir", Path: d, Err: ErrRelativeDir}
			}
			abs, err := filepath.Abs(d)
			if err != nil {
				return nil, &SourceError{Kind: "dir", Path: d, Err: err}
			}
			d = abs
		}
		sources = append(sources, Dir{Path: path.Clean(d)})
	}
	return sources, nil
}

// ScanNode scans what the options name, plus extra sources (check's
// --endpoint files, the exporter's --path patterns): the one entry every
// command reads a node's credentials through.
func ScanNode(ctx context.Context, r *Reader, o NodeOptions, extra ...Source) ([]Item, error) {
	sources, err := NodeSources(r, o)
	if err != nil {
		return nil, err
	}
	return Scan(ctx, r, append(sources, extra...)...)
}

// loadInventory reads an inventory file: through the node when its path is
// absolute, from this machine when it is relative.
func (r *Reader) loadInventory(p string) (*InventoryFile, error) {
	if !path.IsAbs(p) {
		inv, err := LoadInventoryFile(p)
		if err != nil {
			return nil, nodefs.UnwrapPath(err)
		}
		inv.Path = p
		return inv, nil
	}
	f, err := r.Node.ReadFile(p, MaxInventoryFileSize)
	if err != nil {
		return nil, err
	}
	inv, err := ParseInventoryFile(f.Data)
	if err != nil {
		return nil, err
	}
	inv.Path = p
	return inv, nil
}
