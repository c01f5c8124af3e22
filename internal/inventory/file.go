package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/facts"
)

// MaxInventoryFileSize caps an inventory file.
const MaxInventoryFileSize = 4 << 20

// FileEntry is one entry of an inventory file.
type FileEntry struct {
	// Path is a node path: a certificate (PEM or DER, a bundle with its key
	// is fine), a kubeconfig, a private key, or a directory whose PEM files
	// are all read.
	Path string `json:"path"`
	// Kind is certificate, kubeconfig, key or directory; guessed when empty
	// (a directory, .conf/.kubeconfig/.yaml for kubeconfigs, else certificate).
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	Key  string `json:"key,omitempty"` // the private key of a certificate
	CA   string `json:"ca,omitempty"`  // the CA certificate that should sign it
	// IsCA says the certificate is a CA.
	IsCA bool `json:"isCA,omitempty"`
	// Usages the certificate needs, in cfssl's spelling ("server auth", "client auth").
	Usages []string `json:"usages,omitempty"`
	// SANs the certificate must carry (DNS names or IP addresses).
	SANs []string `json:"sans,omitempty"`
}

// InventoryFile is an operator's list of extra things to check:
//
//	items:
//	- path: /opt/registry/tls.crt
//	  key: /opt/registry/tls.key
//	  ca: /opt/registry/ca.crt
//	  usages: [server auth]
//	  sans: [registry.example.com]
//	- path: /root/.kube/config
//	- path: /etc/ssl/internal
//	  kind: directory
type InventoryFile struct {
	Path    string      `json:"-"`
	Entries []FileEntry `json:"items"`
}

// ParseInventoryFile decodes an inventory file strictly: an unknown field, a
// relative path or an unknown kind or usage is an error naming the entry.
func ParseInventoryFile(data []byte) (*InventoryFile, error) {
	if len(data) > MaxInventoryFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d-byte limit for an inventory file", ErrTooLarge, len(data), MaxInventoryFileSize)
	}
	var f InventoryFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("not an inventory file: %w", err)
	}
	for i, e := range f.Entries {
		at := fmt.Sprintf("items[%d]", i)
		if e.Path == "" {
			return nil, fmt.Errorf("%s.path: missing", at)
		}
		for _, p := range []struct{ field, v string }{{"path", e.Path}, {"key", e.Key}, {"ca", e.CA}} {
			if p.v != "" && !path.IsAbs(p.v) {
				return nil, fmt.Errorf("%s.%s: %q is not an absolute node path", at, p.field, p.v)
			}
		}
		switch e.Kind {
		case "", "certificate", "kubeconfig", "key", "directory":
		default:
			return nil, fmt.Errorf("%s.kind: %q: use certificate, kubeconfig, key or directory", at, e.Kind)
		}
		for _, u := range e.Usages {
			if _, ok := facts.ExtKeyUsages[strings.ToLower(u)]; !ok {
				return nil, fmt.Errorf("%s.usages: %q is not an extended key usage (for example \"server auth\", \"client auth\")", at, u)
			}
		}
	}
	return &f, nil
}

// LoadInventoryFile reads and parses an inventory file. Errors do not repeat
// the file name: the caller names the file as the operator gave it.
func LoadInventoryFile(p string) (*InventoryFile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxInventoryFileSize+1))
	if err != nil {
		return nil, err
	}
	inv, err := ParseInventoryFile(data)
	if err != nil {
		return nil, err
	}
	inv.Path = p
	return inv, nil
}

// Name is "inventory FILE".
func (f *InventoryFile) Name() string { return "inventory " + f.Path }

// Items lists the entries; directories are listed with Dir.
func (f *InventoryFile) Items(ctx context.Context, r *Reader) ([]Item, error) {
	var items []Item
	src := []string{f.Name()}
	for _, e := range f.Entries {
		p := path.Clean(e.Path)
		kind := e.Kind
		if kind == "" {
			kind = guessKind(r, p)
		}
		if kind == "directory" {
			sub, err := Dir{Path: p, Source: f.Name()}.Items(ctx, r)
			if err != nil {
				return nil, err
			}
			items = append(items, sub...)
			continue
		}
		it := Item{Name: e.Name, Path: p, Sources: src, IsCA: e.IsCA}
		if it.Name == "" {
			it.Name = strings.TrimSuffix(path.Base(p), path.Ext(p))
		}
		switch kind {
		case "kubeconfig":
			it.Kind, it.ExtKeyUsage = KindKubeconfig, clientUsage
		case "key":
			it.Kind = KindKey
		default:
			it.Kind = KindCertificate
			it.KeyPath = e.Key
		}
		if e.CA != "" {
			it.CA.Path, it.caExplicit = path.Clean(e.CA), true
		}
		for _, u := range e.Usages {
			it.ExtKeyUsage = append(it.ExtKeyUsage, facts.ExtKeyUsages[strings.ToLower(u)])
		}
		if it.Kind == KindKubeconfig && len(e.Usages) == 0 {
			it.ExtKeyUsage = clientUsage
		}
		for _, s := range e.SANs {
			it.ExpectSANs = append(it.ExpectSANs, ExpectedSAN{Value: s, Why: f.Name()})
		}
		items = append(items, it)
	}
	return items, ctx.Err()
}

func guessKind(r *Reader, p string) string {
	if r.Node.IsDir(p) {
		return "directory"
	}
	switch path.Ext(p) {
	case ".conf", ".kubeconfig", ".yaml", ".yml":
		return "kubeconfig"
	case ".key":
		return "key"
	}
	return "certificate"
}

// pemExts are the extensions Dir reads.
var pemExts = map[string]bool{".crt": true, ".pem": true, ".cer": true, ".cert": true, ".der": true, ".key": true}

// Dir names every certificate and key file under a node directory
// (recursively): *.crt, *.pem, *.cer, *.cert, *.der and *.key. A key whose
// certificate sits beside it (name.crt and name.key, or cfssl's name.pem and
// name-key.pem) is that certificate's key; other keys are items of their own.
type Dir struct {
	Path   string
	Source string // what named the directory ("" means "directory PATH")
}

// Name is "directory PATH".
func (d Dir) Name() string { return "directory " + d.Path }

// Items lists the directory.
func (d Dir) Items(ctx context.Context, r *Reader) ([]Item, error) {
	src := d.Source
	if src == "" {
		src = d.Name()
	}
	entries, err := r.Node.Walk(d.Path, nil)
	if err != nil {
		it := Item{Name: path.Base(d.Path), Kind: KindFile, Path: d.Path, Sources: []string{src}}
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("directory does not exist")
		}
		it.problem(facts.ReasonUnreadable, d.Path, "directory", err)
		return []Item{it}, ctx.Err()
	}
	files := make(map[string]bool, len(entries))
	for _, e := range entries {
		files[e.Path] = true
	}
	var items []Item
	for _, e := range entries {
		if e.Type.IsDir() {
			it := Item{Name: path.Base(e.Path), Kind: KindFile, Path: e.Path, Sources: []string{src}}
			it.problem(facts.ReasonUnreadable, e.Path, "directory", errors.New("cannot be listed"))
			items = append(items, it)
			continue
		}
		ext := path.Ext(e.Path)
		if !pemExts[ext] {
			continue
		}
		stem := strings.TrimSuffix(e.Path, ext)
		if ext == ".key" && (files[stem+".crt"] || files[stem+".pem"] || files[stem+".cer"]) {
			continue
		}
		if ext == ".pem" && strings.HasSuffix(stem, "-key") && files[strings.TrimSuffix(stem, "-key")+".pem"] {
			continue
		}
		it := Item{Name: strings.TrimPrefix(strings.TrimPrefix(stem, d.Path), "/"), Kind: KindCertificate, Path: e.Path,
			Sources: []string{src}, sniff: true}
		switch {
		case ext == ".key":
			it.Kind, it.sniff = KindKey, false
		case files[stem+".key"]:
			it.KeyPath = stem + ".key"
		case ext == ".pem" && files[stem+"-key.pem"]:
			it.KeyPath = stem + "-key.pem"
		}
		items = append(items, it)
		if len(items)%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return items, ctx.Err()
}
