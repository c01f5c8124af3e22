package inventory

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/pki"
)

// Reader reads a node's files for the sources and for Scan.
type Reader struct {
	Node *Node
	// Workers bounds parallel parsing; 0 means GOMAXPROCS.
	Workers int

	compOnce   sync.Once
	components []Component
	compItems  []Item
}

// NewReader reads the node mounted at root.
func NewReader(root string) *Reader { return &Reader{Node: NewNode(root)} }

// Load reads and parses every item's files, in parallel. Items whose main file
// is absent get Missing set (and, unless Optional, an unreadable Problem).
func (r *Reader) Load(ctx context.Context, items []Item) {
	workers := r.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(items))
	if workers <= 1 {
		for i := range items {
			if ctx.Err() != nil {
				return
			}
			r.load(&items[i])
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) || ctx.Err() != nil {
					return
				}
				r.load(&items[i])
			}
		}()
	}
	wg.Wait()
}

func (r *Reader) load(it *Item) {
	switch it.Kind {
	case KindCertificate:
		r.loadCertificate(it)
	case KindKey:
		r.loadKey(it)
	case KindKeyPair:
		r.loadKeyPair(it)
	case KindKubeconfig:
		r.loadKubeconfig(it)
	}
	r.loadKubeletStore(it)
}

// readFor reads one of an item's files, turning failures into Problems.
// main says whether the file is the item's own (its absence makes the item
// Missing) or a companion (key, public half).
func (r *Reader) readFor(it *Item, path, what string, limit int64, main bool) *File {
	f, err := r.Node.ReadFile(path, limit)
	if err == nil {
		if main && f.Resolved != path {
			it.Resolved = f.Resolved
		}
		return f
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) && !r.Node.Exists(path):
		if main {
			it.Missing = true
			if it.Optional {
				return nil
			}
		}
		it.problem(facts.ReasonUnreadable, path, what, errors.New("does not exist"))
	case errors.Is(err, fs.ErrNotExist):
		it.problem(facts.ReasonUnreadable, path, what, fmt.Errorf("dangling symbolic link: %w", err))
	case errors.Is(err, ErrTooLarge):
		it.problem(facts.ReasonMalformed, path, what, err)
	default:
		it.problem(facts.ReasonUnreadable, path, what, err)
	}
	return nil
}

func (r *Reader) loadCertificate(it *Item) {
	f := r.readFor(it, it.Path, "certificate", pki.MaxPEMSize, true)
	if f == nil {
		return
	}
	c := Decode(f.Data)
	if it.sniff && len(c.Certs) == 0 && c.CertErr == nil && (c.Key != nil || c.KeyErr != nil) {
		it.Kind, it.KeyPath = KindKey, ""
	}
	if it.Kind == KindKey {
		it.KeyFile, it.KeyMode, it.KeyModeSet, it.Key = it.Path, f.Mode.Perm(), true, c.Key
		if c.KeyErr != nil {
			it.problem(facts.ReasonMalformed, it.Path, "key", c.KeyErr)
		}
		return
	}
	it.Certs, it.Skipped = c.Certs, c.Skipped
	switch {
	case c.CertErr != nil:
		it.problem(facts.ReasonMalformed, it.Path, "certificate", c.CertErr)
	case len(c.Certs) == 0 && c.Blocks == 0:
		it.problem(facts.ReasonMalformed, it.Path, "certificate", errNoPEM)
	case len(c.Certs) == 0:
		it.problem(facts.ReasonMalformed, it.Path, "certificate", fmt.Errorf("no CERTIFICATE block among its %d PEM blocks", c.Blocks))
	}
	if c.KeyErr != nil {
		it.problem(facts.ReasonMalformed, it.Path, "key", c.KeyErr)
	}
	if c.Key != nil {
		it.Key, it.KeyFile, it.KeyMode, it.KeyModeSet = c.Key, it.Path, f.Mode.Perm(), true
	}
	if it.KeyPath == "" {
		return
	}
	if it.IsCA && !r.Node.Exists(it.KeyPath) {
		return // an external CA: its key is kept off the node
	}
	r.loadKeyFile(it, it.KeyPath)
}

func (r *Reader) loadKeyFile(it *Item, path string) {
	f := r.readFor(it, path, "key", pki.MaxPEMSize, false)
	if f == nil {
		return
	}
	c := Decode(f.Data)
	it.KeyFile, it.KeyMode, it.KeyModeSet = path, f.Mode.Perm(), true
	switch {
	case c.KeyErr != nil:
		it.problem(facts.ReasonMalformed, path, "key", c.KeyErr)
	case c.Key == nil:
		it.problem(facts.ReasonMalformed, path, "key", errors.New("no private key PEM block (expected RSA PRIVATE KEY, EC PRIVATE KEY or PRIVATE KEY)"))
	default:
		it.Key = c.Key
	}
}

func (r *Reader) loadKey(it *Item) {
	if !r.Node.Exists(it.Path) {
		it.Missing = true
		if it.Optional {
			return
		}
	}
	r.loadKeyFile(it, it.Path)
}

func (r *Reader) loadKeyPair(it *Item) {
	if !r.Node.Exists(it.Path) && (it.PubPath == "" || !r.Node.Exists(it.PubPath)) {
		it.Missing = true
		if it.Optional {
			return
		}
	}
	if it.Path != "" && it.Path != it.PubPath {
		r.loadKeyFile(it, it.Path)
	}
	if it.PubPath == "" {
		return
	}
	f := r.readFor(it, it.PubPath, "public key", pki.MaxPEMSize, false)
	if f == nil {
		return
	}
	c := Decode(f.Data)
	switch {
	case c.KeyErr != nil:
		it.problem(facts.ReasonMalformed, it.PubPath, "public key", c.KeyErr)
	case c.PubKey == nil && c.Key != nil:
		it.PubKey = c.Key // the API server accepts a private key file here and uses its public half
	case c.PubKey == nil && len(c.Certs) > 0:
		it.PubKey = c.Certs[0].PublicKey // and a certificate (keyutil.ParsePublicKeysPEM): binary installs pass ca.pem or service-account.pem
	case c.PubKey == nil:
		it.problem(facts.ReasonMalformed, it.PubPath, "public key", errors.New("no PUBLIC KEY PEM block"))
	default:
		it.PubKey = c.PubKey
	}
}

func (r *Reader) loadKubeconfig(it *Item) {
	f := r.readFor(it, it.Path, "kubeconfig", kubeconfig.MaxSize, true)
	if f == nil {
		return
	}
	modes := map[string]fs.FileMode{}
	var mu sync.Mutex
	read := func(p string) ([]byte, error) {
		rf, err := r.Node.ReadFile(p, pki.MaxPEMSize)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, errors.New("does not exist")
			}
			return nil, err
		}
		mu.Lock()
		modes[p] = rf.Mode.Perm()
		mu.Unlock()
		return rf.Data, nil
	}
	kc, err := kubeconfig.Parse(f.Data, nodeDir(it.Path), read)
	if err != nil {
		it.problem(facts.ReasonMalformed, it.Path, "kubeconfig", err)
		return
	}
	kf := &KubeconfigFacts{
		Server: kc.Server, Context: kc.Context, User: kc.User,
		CAPath: kc.CA.Path, CAEmbedded: kc.CA.Embedded,
		CertPath: kc.ClientCert.Path, CertEmbedded: kc.ClientCert.Embedded,
		KeyEmbedded: kc.ClientKey.Embedded, OtherAuth: kc.OtherAuth, Insecure: kc.InsecureSkipTLSVerify,
	}
	it.Kubeconfig = kf
	if c, ok := r.material(it, kc.ClientCert, "client-certificate"); ok {
		it.Certs = c.Certs
		if len(c.Certs) == 0 && c.CertErr == nil {
			it.problem(facts.ReasonMalformed, where(it, kc.ClientCert), field(kc.ClientCert, "client-certificate"), errors.New("no CERTIFICATE block"))
		}
		if c.CertErr != nil {
			it.problem(facts.ReasonMalformed, where(it, kc.ClientCert), field(kc.ClientCert, "client-certificate"), c.CertErr)
		}
		if c.Key != nil && !kc.ClientKey.Present() { // a bundle named as both
			it.Key, it.KeyFile, it.KeyMode, it.KeyModeSet = c.Key, kc.ClientCert.Path, modes[kc.ClientCert.Path], true
		}
	}
	if c, ok := r.material(it, kc.ClientKey, "client-key"); ok {
		switch {
		case c.KeyErr != nil:
			it.problem(facts.ReasonMalformed, where(it, kc.ClientKey), field(kc.ClientKey, "client-key"), c.KeyErr)
		case c.Key == nil:
			it.problem(facts.ReasonMalformed, where(it, kc.ClientKey), field(kc.ClientKey, "client-key"), errors.New("no private key PEM block"))
		default:
			it.Key = c.Key
		}
		if kc.ClientKey.Embedded {
			it.KeyFile, it.KeyMode, it.KeyModeSet = it.Path, f.Mode.Perm(), true
		} else {
			it.KeyFile, it.KeyMode, it.KeyModeSet = kc.ClientKey.Path, modes[kc.ClientKey.Path], true
		}
	}
	if c, ok := r.material(it, kc.CA, "certificate-authority"); ok {
		kf.CACerts, kf.CASkipped = c.Certs, c.Skipped
		if c.CertErr != nil || len(c.Certs) == 0 {
			err := c.CertErr
			if err == nil {
				err = errors.New("no CERTIFICATE block")
			}
			it.problem(facts.ReasonMalformed, where(it, kc.CA), field(kc.CA, "certificate-authority"), err)
		}
	}
}

// material decodes one kubeconfig material, or records why it cannot.
func (r *Reader) material(it *Item, m kubeconfig.Material, what string) (Contents, bool) {
	if !m.Present() {
		return Contents{}, false
	}
	if m.Err != nil {
		reason := facts.ReasonUnreadable
		if errors.Is(m.Err, ErrTooLarge) {
			reason = facts.ReasonMalformed
		}
		it.problem(reason, m.Path, what, m.Err)
		return Contents{}, false
	}
	return Decode(m.Data), true
}

func where(it *Item, m kubeconfig.Material) string {
	if m.Embedded {
		return it.Path
	}
	return m.Path
}

// field names a kubeconfig material as the file spells it.
func field(m kubeconfig.Material, name string) string {
	if m.Embedded {
		return name + "-data"
	}
	return name
}
