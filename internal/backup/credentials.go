package backup

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
)

// StateDir is certrescue's own state on a node: the audit store (audit.db
// and its -wal and -shm files), transaction journals, locks and backups. A
// backup never holds it and a restore never writes it, whatever the flags.
const StateDir = "/var/lib/certrescue"

// TxnDir is where a restore journals its transaction, as a node path.
const TxnDir = StateDir + "/txn"

// Credentials is what a backup of a node is made of, as node paths: the
// places a restore may write. It is built from the node as it is now (never
// from an archive): DefaultPaths, and every file the node's inventory names
// (certificates, keys, kubeconfigs, the files kubeconfigs reference, CA
// certificates), each in its literal form and with its symlinks resolved
// inside the node. Allow adds what the operator confirmed.
type Credentials struct {
	trees   []string            // directories whose every entry is a credential (DefaultPaths' directories)
	globs   []string            // patterns of credential files (/etc/kubernetes/*.conf)
	files   map[string][]string // exact credential files -> what owns them: "item N" (its own files), "ca PATH" (a CA certificate and its key)
	names   map[string][]string // exact credential files -> those items' names, for messages
	dirs    map[string]bool     // directories holding inventory files: a symlink may lead there
	allowed []string            // operator-confirmed paths: a file, or a directory and everything below
}

// CredentialsOf is the credential set of the node at root whose inventory
// is items (inventory.ScanNode's, as `certrescue backup` takes them).
func CredentialsOf(root string, items []inventory.Item) *Credentials {
	n := nodefs.New(root)
	c := &Credentials{files: map[string][]string{}, names: map[string][]string{}, dirs: map[string]bool{}}
	for _, p := range DefaultPaths {
		if strings.ContainsAny(p, `*?[\`) {
			c.globs = append(c.globs, p)
			continue
		}
		c.trees = append(c.trees, forms(n, p)...)
	}
	add := func(p, owner, name string) {
		if p == "" || !path.IsAbs(p) || strings.ContainsRune(p, 0) {
			return
		}
		for _, f := range forms(n, path.Clean(p)) {
			c.files[f] = appendNew(c.files[f], owner)
			c.names[f] = appendNew(c.names[f], name)
			if d := path.Dir(f); strings.Count(d, "/") >= 2 {
				c.dirs[d] = true // never "/" or a top-level directory such as /etc
			}
		}
	}
	for i := range items {
		it := &items[i]
		if it.Kind == inventory.KindServed {
			continue
		}
		own := fmt.Sprintf("item %d", i)
		for _, p := range []string{it.Path, it.Resolved, it.KeyPath, it.KeyFile, it.PubPath} {
			add(p, own, it.Name)
		}
		if kc := it.Kubeconfig; kc != nil {
			add(kc.CertPath, own, it.Name) // a kubeconfig's renewal writes the certificate it references
			if kc.CAPath != "" {
				add(kc.CAPath, "ca "+path.Clean(kc.CAPath), kc.CAPath)
			}
		}
		for _, ca := range caCerts(it) {
			add(ca, "ca "+path.Clean(ca), ca)
			for _, k := range caKeys(ca) {
				add(k, "ca "+path.Clean(ca), ca)
			}
		}
	}
	return c
}

// caCerts are the CA certificates an item relies on: the CA it expects, and
// itself when it is a CA.
func caCerts(it *inventory.Item) []string {
	var out []string
	if it.CA.Path != "" {
		out = append(out, it.CA.Path)
	}
	if it.Kind == inventory.KindCertificate && (it.IsCA || (it.Leaf() != nil && it.Leaf().IsCA)) {
		out = append(out, it.Path)
	}
	return out
}

// caKeys are the names a CA's private key goes by beside its certificate, as
// kubeadm (ca.crt, ca.key) and cfssl (ca.pem, ca-key.pem) write them and as
// renew looks for a signer's key. They count whether or not the key is on
// the node now: a lost CA key is what a restore brings back.
func caKeys(certPath string) []string {
	dir, base := path.Split(certPath)
	stem := strings.TrimSuffix(base, path.Ext(base))
	return []string{path.Join(dir, stem+".key"), path.Join(dir, stem+"-key.pem"), path.Join(dir, stem+".key.pem")}
}

// ScanCredentials is CredentialsOf the node at root scanned with the
// inventory's default sources (no inventory files).
func ScanCredentials(ctx context.Context, root string) (*Credentials, error) {
	items, err := inventory.ScanNode(ctx, inventory.NewReader(root), inventory.NodeOptions{Node: true})
	if err != nil {
		return nil, err
	}
	return CredentialsOf(root, items), nil
}

// Allow adds node paths the operator confirmed: a file, or a directory and
// everything below it. StateDir and database files stay refused.
func (c *Credentials) Allow(paths ...string) {
	for _, p := range paths {
		if p != "" && path.IsAbs(p) {
			c.allowed = append(c.allowed, path.Clean(p))
		}
	}
}

// forms are a node path as written, with its directories' symlinks resolved,
// and wholly resolved: the names the same file goes by on the node.
func forms(n *nodefs.FS, p string) []string {
	out := []string{p}
	if d, err := n.Resolve(path.Dir(p)); err == nil {
		out = appendNew(out, path.Join(d, path.Base(p)))
	}
	if r, err := n.Resolve(p); err == nil {
		out = appendNew(out, r)
	}
	return out
}

func appendNew(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if nodefs.IsUnder(p, d) {
			return true
		}
	}
	return false
}

// holdsFile reports whether a file (or symlink) at node path p is a
// credential: under a default directory, matching a default pattern, named
// by the inventory, or allowed.
func (c *Credentials) holdsFile(p string) bool {
	if underAny(p, c.trees) || underAny(p, c.allowed) {
		return true
	}
	if _, ok := c.files[p]; ok {
		return true
	}
	for _, g := range c.globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}

// holdsDir reports whether a directory entry at p may be restored (created,
// given its mode and owner): a default directory or one below it, or allowed.
func (c *Credentials) holdsDir(p string) bool {
	return underAny(p, c.trees) || underAny(p, c.allowed)
}

// holdsTarget reports whether a symlink may lead to p: a credential file or
// a directory of credentials.
func (c *Credentials) holdsTarget(p string) bool {
	return c.holdsFile(p) || c.dirs[p]
}

// foreign reports whether files a and b are both named by the inventory,
// as files of different credentials (a CA certificate and its key belong to
// that CA, not to the certificates it signs): a symlink from one to the
// other would make a renewal of a write b.
func (c *Credentials) foreign(a, b string) bool {
	oa, ob := c.files[a], c.files[b]
	if len(oa) == 0 || len(ob) == 0 {
		return false
	}
	for _, o := range oa {
		if slices.Contains(ob, o) {
			return false
		}
	}
	return true
}

// describe says where credentials are, for a refusal.
func (c *Credentials) describe() string {
	return "under " + strings.Join(DefaultPaths, ", ") + " or named by check's inventory of this node"
}
