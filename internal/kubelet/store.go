package kubelet

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Store prefixes: the kubelet's client and serving certificate stores.
const (
	ClientPrefix = "kubelet-client"
	ServerPrefix = "kubelet-server"
)

// timestampLayout is the kubelet's: kubelet-client-2026-12-02-04-17-45.pem.
const timestampLayout = "2006-01-02-15-04-05"

// MaxPairSize caps a pair file (a certificate chain and a key).
const MaxPairSize = 1 << 20

// ErrNotSymlink is a current file that is a regular file: the kubelet refuses
// to rotate it ("expected ... to be a symlink").
var ErrNotSymlink = errors.New("is a regular file, not the kubelet's symbolic link")

// Store is one of the kubelet's certificate stores on a node.
type Store struct {
	FS     *nodefs.FS
	Dir    string // node path, /var/lib/kubelet/pki
	Prefix string // ClientPrefix or ServerPrefix
}

// CurrentPath is PREFIX-current.pem.
func (s Store) CurrentPath() string { return path.Join(s.Dir, s.Prefix+"-current.pem") }

// UpdatedPath is the link the switch renames over the current one.
func (s Store) UpdatedPath() string { return path.Join(s.Dir, s.Prefix+"-updated.pem") }

// DatedPath is the file a pair issued at t is stored in.
func (s Store) DatedPath(t time.Time) string {
	return path.Join(s.Dir, s.Prefix+"-"+t.UTC().Format(timestampLayout)+".pem")
}

// Pair is a certificate (leaf first) and its key, as a pair file holds them.
type Pair struct {
	Certs []*x509.Certificate
	Key   crypto.Signer
	// KeyPEM is the key's PEM block, verbatim.
	KeyPEM []byte
}

// Leaf is the pair's certificate.
func (p *Pair) Leaf() *x509.Certificate { return p.Certs[0] }

// PEM is the pair file's content: certificates, then the key.
func (p *Pair) PEM() []byte {
	var b bytes.Buffer
	for _, c := range p.Certs {
		b.Write(pki.EncodeCertificatePEM(c.Raw))
	}
	b.Write(p.KeyPEM)
	return b.Bytes()
}

// ParsePair reads a pair file: at least one certificate and exactly one
// private key that matches the first certificate.
func ParsePair(data []byte) (*Pair, error) {
	if len(data) > MaxPairSize {
		return nil, fmt.Errorf("%d bytes, more than the %d-byte limit for a certificate and key", len(data), MaxPairSize)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, err
	}
	keyPEM, err := keyBlock(data)
	if err != nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	if !pki.PublicKeysEqual(certs[0].PublicKey, key.Public()) {
		return nil, errors.New("the private key does not match the certificate")
	}
	return &Pair{Certs: certs, Key: key, KeyPEM: keyPEM}, nil
}

// keyBlock is the pair's one private key block, re-encoded.
func keyBlock(data []byte) ([]byte, error) {
	var out []byte
	n := 0
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			n++
			out = pem.EncodeToMemory(b)
		}
	}
	switch n {
	case 0:
		return nil, errors.New("no private key")
	case 1:
		return out, nil
	default:
		return nil, fmt.Errorf("%d private keys, want one", n)
	}
}

// ReadPair reads and parses a pair file of the node.
func (s Store) ReadPair(nodePath string) (*Pair, error) {
	data, err := s.FS.Read(nodePath, MaxPairSize)
	if err != nil {
		return nil, err
	}
	p, err := ParsePair(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nodePath, err)
	}
	return p, nil
}

// State is what a store holds.
type State struct {
	Current string // the current file's node path
	// Exists is false when there is no current file at all.
	Exists bool
	// Link is true when the current file is a symbolic link (the kubelet's
	// way); Target is what it names (as stored) and Resolved the node path
	// it leads to.
	Link     bool
	Target   string
	Resolved string
	// Pair is the current pair, nil when it cannot be read (PairErr).
	Pair    *Pair
	PairErr error
	// Dated are the dated pair files, oldest first by the timestamp in
	// their names, and Newest the one with the latest NotAfter that parses
	// ("" when none does).
	Dated  []string
	Newest string
	// NewestPair is Newest's pair.
	NewestPair *Pair
	// Leftover is true when an -updated link is present: a switch was
	// interrupted before its rename (harmless: the next switch replaces it).
	Leftover bool
}

// Inspect reads the store's state. A missing directory is an error; a
// missing or unreadable current file is described in the State.
func (s Store) Inspect() (*State, error) {
	entries, err := s.FS.ReadDir(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Dir, err)
	}
	st := &State{Current: s.CurrentPath()}
	if fi, err := s.FS.Lstat(st.Current); err == nil {
		st.Exists = true
		st.Link = fi.Mode()&fs.ModeSymlink != 0
		if st.Link {
			st.Target, _ = s.FS.Readlink(st.Current)
		}
		st.Resolved, _ = s.FS.Resolve(st.Current)
		st.Pair, st.PairErr = s.ReadPair(st.Current)
	} else if !errors.Is(err, fs.ErrNotExist) {
		st.PairErr = fmt.Errorf("%s: %w", st.Current, err)
	}
	if _, err := s.FS.Lstat(s.UpdatedPath()); err == nil {
		st.Leftover = true
	}
	for _, e := range entries {
		n := e.Name()
		stamp, ok := strings.CutPrefix(n, s.Prefix+"-")
		if !ok || !strings.HasSuffix(stamp, ".pem") {
			continue
		}
		if _, err := time.Parse(timestampLayout, strings.TrimSuffix(stamp, ".pem")); err != nil {
			continue
		}
		st.Dated = append(st.Dated, path.Join(s.Dir, n))
	}
	sort.Strings(st.Dated) // the layout sorts by time
	for _, p := range st.Dated {
		pair, err := s.ReadPair(p)
		if err != nil {
			continue
		}
		if st.NewestPair == nil || pair.Leaf().NotAfter.After(st.NewestPair.Leaf().NotAfter) {
			st.Newest, st.NewestPair = p, pair
		}
	}
	return st, nil
}

// Stuck says why the kubelet's rotation cannot go on by itself ("" when it
// can): the current file is a regular file (the kubelet refuses to replace
// it), or it names a pair expired at now while a newer valid one sits in the
// store (a switch that never happened).
func (st *State) Stuck(now time.Time) string {
	if !st.Exists {
		return ""
	}
	if !st.Link {
		return st.Current + " " + ErrNotSymlink.Error() + ": the kubelet cannot rotate it"
	}
	if st.Pair == nil || st.NewestPair == nil || st.Newest == st.Resolved {
		return ""
	}
	cur, next := st.Pair.Leaf(), st.NewestPair.Leaf()
	if now.After(cur.NotAfter) && next.NotAfter.After(cur.NotAfter) && now.Before(next.NotAfter) && !now.Before(next.NotBefore) {
		return fmt.Sprintf("%s names %s, expired %s, while %s is valid until %s", st.Current, st.Resolved,
			cur.NotAfter.UTC().Format(time.RFC3339), st.Newest, next.NotAfter.UTC().Format(time.RFC3339))
	}
	return ""
}
