package rescue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// ErrStillCritical is wrapped when a renewal went through but check still
// finds a critical problem in what it renewed (a SAN missing for the service
// IP, a key that does not match, an untrusted chain): renewing was better
// than leaving the certificates expired, but the result is not healthy.
var ErrStillCritical = errors.New("renewed, still critical")

// Left is a critical finding check still makes on a renewed credential.
type Left struct {
	Name string // the credential as check names it ("apiserver", "admin.conf")
	evaluation.Finding
}

// Scanner finds the node's credentials as check does (package inventory's
// sources and the operator's inventory files).
type Scanner func(ctx context.Context) ([]inventory.Item, error)

// DefaultScanner scans the node at root with the inventory's default sources.
func DefaultScanner(root string) Scanner {
	return func(ctx context.Context) ([]inventory.Item, error) {
		return inventory.Scan(ctx, inventory.NewReader(root), inventory.Sources()...)
	}
}

// Recheck runs check's evaluation on the node as the plan will leave it: the
// inventory items with the plan's new certificates, keys and kubeconfigs in
// place of the files they replace, judged at the plan's now with check's
// default policy. It returns the critical findings on the credentials the
// plan renews, or whose files it rewrites (a kubeconfig referencing a renewed
// certificate), in check's order. It reads the node (referenced files a
// kubeconfig names) but writes nothing.
func Recheck(root string, items []inventory.Item, plan *renewal.Plan) []Left {
	return RecheckPolicy(root, items, plan, evaluation.DefaultPolicy())
}

// RecheckPolicy is Recheck with policy p (a CA rotation's expected anchors).
func RecheckPolicy(root string, items []inventory.Item, plan *renewal.Plan, p evaluation.Policy) []Left {
	renewed, touched := RenewedSet(root, items, plan)
	rep := evaluation.Evaluate(renewed, plan.Now, p)
	var out []Left
	for _, r := range rep.Results {
		if !touched[itemKey(r.Kind, r.Path)] {
			continue
		}
		for _, f := range r.Findings {
			if f.Severity >= facts.SeverityCritical {
				out = append(out, Left{Name: r.Name, Finding: f})
			}
		}
	}
	return out
}

func itemKey(k inventory.Kind, p string) string { return string(k) + "\x00" + p }

// RenewedSet returns a copy of items with the plan's files substituted, and
// the keys (kind, path) of the items that changed.
func RenewedSet(root string, items []inventory.Item, plan *renewal.Plan) ([]inventory.Item, map[string]bool) {
	s := substitution{n: nodefs.New(root), files: map[string]renewal.File{}}
	for _, f := range plan.Files() {
		s.files[path.Clean(f.Path)] = f
	}
	out := make([]inventory.Item, len(items))
	touched := map[string]bool{}
	for i := range items {
		out[i] = items[i]
		it := &out[i]
		var changed bool
		switch it.Kind {
		case inventory.KindCertificate:
			changed = s.certificate(it)
		case inventory.KindKubeconfig:
			changed = s.kubeconfig(it)
		case inventory.KindKey:
			changed = s.keyFile(it, it.Path)
		}
		if changed {
			touched[itemKey(it.Kind, it.Path)] = true
		}
	}
	return out, touched
}

type substitution struct {
	n     *nodefs.FS
	files map[string]renewal.File // by resolved node path
}

// planned returns the plan's file for a node path (symlinks resolved).
func (s substitution) planned(p string) (renewal.File, bool) {
	if p == "" {
		return renewal.File{}, false
	}
	rp, err := s.n.Resolve(p)
	if err != nil {
		return renewal.File{}, false
	}
	f, ok := s.files[rp]
	return f, ok
}

// read reads a node file as the plan leaves it.
func (s substitution) read(p string) ([]byte, error) {
	if f, ok := s.planned(p); ok {
		return f.Data, nil
	}
	f, err := s.n.ReadFile(p, pki.MaxPEMSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("does not exist")
	}
	if err != nil {
		return nil, err
	}
	return f.Data, nil
}

func (s substitution) certificate(it *inventory.Item) bool {
	changed := false
	if f, ok := s.planned(it.Path); ok {
		c := inventory.Decode(f.Data)
		it.Certs = c.Certs
		dropProblems(it, it.Path, it.Resolved)
		if c.Key != nil {
			it.Key, it.KeyFile, it.KeyMode, it.KeyModeSet = c.Key, it.Path, f.Mode, true
		}
		changed = true
	}
	kp := it.KeyFile
	if kp == "" {
		kp = it.KeyPath
	}
	if kp != "" && kp != it.Path && s.keyFile(it, kp) {
		changed = true
	}
	return changed
}

// keyFile substitutes a planned key file's public half.
func (s substitution) keyFile(it *inventory.Item, p string) bool {
	f, ok := s.planned(p)
	if !ok {
		return false
	}
	if c := inventory.Decode(f.Data); c.Key != nil {
		it.Key = c.Key
	}
	it.KeyFile, it.KeyMode, it.KeyModeSet = p, f.Mode, true
	dropProblems(it, p)
	return true
}

// kubeconfig parses a kubeconfig again when the plan rewrites it or a file it
// references, and takes its client certificate and key from that.
func (s substitution) kubeconfig(it *inventory.Item) bool {
	main, rewritten := s.planned(it.Path)
	changed := rewritten
	if kf := it.Kubeconfig; kf != nil {
		for _, p := range []string{kf.CertPath, it.KeyFile} {
			if _, ok := s.planned(p); ok && p != it.Path {
				changed = true
			}
		}
	}
	if !changed {
		return false
	}
	data := main.Data
	mode := main.Mode
	if !rewritten {
		f, err := s.n.ReadFile(it.Path, kubeconfig.MaxSize)
		if err != nil {
			return false // the scan could not read it either: its problems stand
		}
		data, mode = f.Data, f.Mode.Perm()
	}
	kc, err := kubeconfig.Parse(data, path.Dir(it.Path), s.read)
	old := it.Kubeconfig
	it.Certs, it.Key, it.KeyFile, it.KeyModeSet, it.Problems = nil, nil, "", false, nil
	if err != nil {
		it.Problems = append(it.Problems, inventory.Problem{Reason: facts.ReasonMalformed, Path: it.Path, What: "kubeconfig", Err: err})
		return true
	}
	kf := &inventory.KubeconfigFacts{Server: kc.Server, Context: kc.Context, User: kc.User,
		CAPath: kc.CA.Path, CAEmbedded: kc.CA.Embedded, CertPath: kc.ClientCert.Path, CertEmbedded: kc.ClientCert.Embedded,
		KeyEmbedded: kc.ClientKey.Embedded, OtherAuth: kc.OtherAuth, Insecure: kc.InsecureSkipTLSVerify}
	if old != nil {
		kf.CACerts = old.CACerts
	}
	it.Kubeconfig = kf
	material := func(m kubeconfig.Material, what string) (inventory.Contents, bool) {
		if !m.Present() {
			return inventory.Contents{}, false
		}
		if m.Err != nil {
			where := m.Path
			if m.Embedded {
				where = it.Path
			}
			it.Problems = append(it.Problems, inventory.Problem{Reason: facts.ReasonUnreadable, Path: where, What: what, Err: m.Err})
			return inventory.Contents{}, false
		}
		return inventory.Decode(m.Data), true
	}
	if c, ok := material(kc.ClientCert, "client-certificate"); ok {
		it.Certs = c.Certs
		if len(c.Certs) == 0 {
			it.Problems = append(it.Problems, inventory.Problem{Reason: facts.ReasonMalformed, Path: it.Path, What: "client-certificate", Err: errors.New("no CERTIFICATE block")})
		}
		if c.Key != nil && !kc.ClientKey.Present() {
			it.Key, it.KeyFile = c.Key, kc.ClientCert.Path
		}
	}
	if c, ok := material(kc.ClientKey, "client-key"); ok {
		it.Key = c.Key
		it.KeyFile = kc.ClientKey.Path
		if kc.ClientKey.Embedded {
			it.KeyFile = it.Path
		}
	}
	if c, ok := material(kc.CA, "certificate-authority"); ok && len(c.Certs) > 0 {
		kf.CACerts = c.Certs
	}
	if it.KeyFile != "" {
		it.KeyMode, it.KeyModeSet = s.mode(it.KeyFile, it.Path, mode), true
	}
	return true
}

// mode is a file's permission bits as the plan leaves them.
func (s substitution) mode(p, kubeconfigPath string, kubeconfigMode fs.FileMode) fs.FileMode {
	if p == kubeconfigPath {
		return kubeconfigMode
	}
	if f, ok := s.planned(p); ok {
		return f.Mode
	}
	if f, err := s.n.ReadFile(p, pki.MaxPEMSize); err == nil {
		return f.Mode.Perm()
	}
	return 0o600
}

// dropProblems removes the problems about files the plan replaces.
func dropProblems(it *inventory.Item, paths ...string) {
	kept := it.Problems[:0:0]
	for _, p := range it.Problems {
		drop := false
		for _, q := range paths {
			if q != "" && p.Path == q {
				drop = true
			}
		}
		if !drop {
			kept = append(kept, p)
		}
	}
	it.Problems = kept
}

// summary is one line naming what is left critical.
func summary(left []Left) string {
	var parts []string
	for _, l := range left {
		parts = append(parts, fmt.Sprintf("%s: %s", l.Name, l.Reason))
	}
	return fmt.Sprintf("%d critical finding(s) left on the renewed certificates (%s)", len(left), strings.Join(parts, ", "))
}

// recheck is Recheck with the runner's scanner; the items are kept for the
// backup set.
func (r *runner) recheck(plan *renewal.Plan) error {
	scan := r.o.Scan
	if scan == nil {
		scan = DefaultScanner(r.o.Root)
	}
	items, err := scan(r.ctx)
	if err != nil {
		return fmt.Errorf("check the renewed certificates: %w", err)
	}
	r.items = items
	p := evaluation.DefaultPolicy()
	p.Expected = r.o.ExpectedAnchors
	r.rep.Critical = RecheckPolicy(r.o.Root, items, plan, p)
	return nil
}
