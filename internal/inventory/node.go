package inventory

import (
	"path"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// ErrTooLarge is wrapped when a file is larger than the limit for its kind.
var ErrTooLarge = nodefs.ErrTooLarge

// ErrLinkLoop is wrapped when resolving a path follows too many symlinks.
var ErrLinkLoop = nodefs.ErrLinkLoop

// Node is the node's filesystem, read through nodefs, the one view of the
// node's disk: symlinks resolve inside the root, so a mounted node's
// kubelet-client-current.pem never leads to this machine's files.
type Node = nodefs.FS

// NewNode returns a Node rooted at root ("" means "/").
func NewNode(root string) *Node { return nodefs.New(root) }

// File is a file read from the node.
type File = nodefs.File

// Entry is a directory entry found by Walk.
type Entry = nodefs.Entry

// nodeDir is the node directory of a node path (for relative kubeconfig references).
func nodeDir(p string) string { return path.Dir(p) }

// isUnder reports whether p is dir or below it.
func isUnder(p, dir string) bool { return nodefs.IsUnder(p, dir) }
