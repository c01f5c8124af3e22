package carotation

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// Options of a phase's plan.
type Options struct {
	Root  string
	Roles []layout.Role
	Now   time.Time
	// Validity of the re-issued leaves (renewal.DefaultValidity when 0).
	Validity time.Duration
	// Running keeps the components that run on the node (rescue.RunningHere);
	// every component is kept when nil.
	Running func(comps []string) []string
	// Components are the node's components (inventory.Reader.Components):
	// their signing flags follow the CA file's signing copy (SigningFlags).
	Components []inventory.Component
}

// Replace of each phase: what the consumers hold after it.
func trustBoth(st *Status) catrust.Replace {
	return catrust.Replace{Old: []*x509.Certificate{st.Old}, Bundle: []*x509.Certificate{st.Old, st.New}}
}

func newOnly(st *Status) catrust.Replace {
	return catrust.Replace{Old: []*x509.Certificate{st.Old, st.New}, Bundle: []*x509.Certificate{st.New}}
}

// ClusterReplace is the edit the cluster's ConfigMaps (cluster-info,
// kube-apiserver-ca) get once the node stands at st's phase: both CAs from
// phase 1 to 2, the new only when done. ok is false before phase 1.
func (st *Status) ClusterReplace() (r catrust.Replace, ok bool) {
	switch st.Phase {
	case PhaseTrusted, PhaseReissued:
		return trustBoth(st), true
	case PhaseDone:
		return newOnly(st), true
	}
	return catrust.Replace{}, false
}

// Plan is the next phase of every CA of sts (each from where it stands) as
// one plan: phase 1 and 3 edit every consumer; phase 2 re-issues every leaf
// still signed by the old CA from the new one and makes the new key the CA
// file's. A CA that is done (or not rotating) adds nothing. It writes
// nothing.
func Plan(n *nodefs.FS, o Options, sts []*Status) (*renewal.Plan, error) {
	if o.Running == nil {
		o.Running = func(c []string) []string { return c }
	}
	plan := &renewal.Plan{Now: o.Now}
	disk := catrust.DiskReader(n)
	staged := map[string]*renewal.File{}
	read := func(p string) ([]byte, fs.FileMode, error) {
		if f, ok := staged[resolved(n, p)]; ok {
			return f.Data, f.Mode, nil
		}
		return disk(p)
	}
	var leafNames []string
	signers := map[string]*pki.CA{}
	var reissue []*Status
	var items []renewal.Item
	stage := func(it *renewal.Item) {
		items = append(items, *it)
		last := &items[len(items)-1]
		for j := range last.Files {
			staged[resolved(n, last.Files[j].Path)] = &last.Files[j]
		}
	}
	for _, st := range sts {
		switch st.Phase {
		case PhaseStarted, PhaseReissued:
			r := trustBoth(st)
			if st.Phase == PhaseReissued {
				r = newOnly(st)
			}
			it, err := consumersItem(n, o, st, r, read)
			if err != nil {
				return nil, err
			}
			if st.Phase == PhaseStarted && st.Pending.SAKey != nil {
				if err := saTrustBoth(n, o, st, it, read); err != nil {
					return nil, err
				}
			}
			if err := addSigning(n, o, st, it, st.Old, read); err != nil {
				return nil, err
			}
			stage(it)
		case PhaseTrusted:
			reissue = append(reissue, st)
			signers[st.Role.Name] = &pki.CA{Cert: st.New, Signer: st.Pending.NewKey}
			for _, l := range st.Leaves {
				if !l.ByNew {
					leafNames = append(leafNames, l.Name)
				}
			}
		}
	}
	if len(reissue) > 0 {
		if len(leafNames) > 0 {
			lp, err := renewal.Prepare(renewal.Options{Root: o.Root, Roles: o.Roles, Names: leafNames, Now: o.Now, Validity: o.Validity, CAs: signers})
			if err != nil {
				return nil, fmt.Errorf("re-issue the leaves from the new CA: %w", err)
			}
			crossSign(lp, reissue)
			plan.Warnings = append(plan.Warnings, lp.Warnings...)
			plan.Skipped = append(plan.Skipped, lp.Skipped...)
			for i := range lp.Items {
				stage(&lp.Items[i])
			}
		}
		for _, st := range reissue {
			it, err := caFileItem(n, o, st, read)
			if err != nil {
				return nil, err
			}
			if err := addSigning(n, o, st, it, st.New, read); err != nil {
				return nil, err
			}
			stage(it)
		}
	}
	plan.Items = items
	return plan, nil
}

// addSigning adds to it the signing flags' and signing copies' files of the
// phase after st's (SigningFlags): the copy holds cert.
func addSigning(n *nodefs.FS, o Options, st *Status, it *renewal.Item, cert *x509.Certificate, read catrust.ReadFunc) error {
	files, comps, err := signingFiles(n, o.Components, st, st.Phase, cert, read)
	if err != nil {
		return fmt.Errorf("CA %s: %w", st.Role.Name, err)
	}
	it.Files = append(it.Files, files...)
	it.Role.Components = addAll(it.Role.Components, o.Running(comps)...)
	return nil
}

// consumersItem is the edit r of every consumer of st's CA.
func consumersItem(n *nodefs.FS, o Options, st *Status, r catrust.Replace, read catrust.ReadFunc) (*renewal.Item, error) {
	var cs []catrust.Consumer
	for _, c := range st.Consumers {
		cs = append(cs, c.Consumer)
	}
	edits, err := catrust.PlanEdits(cs, r, read)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", st.Role.Name, err)
	}
	it := caItem(st)
	comps := slices.Clone(st.Role.Components)
	for _, e := range edits {
		for _, c := range e.Consumers {
			comps = addAll(comps, c.Components...)
		}
		it.Files = append(it.Files, renewal.File{Path: resolved(n, e.Path), Data: e.Data, Mode: e.Mode})
	}
	it.Role.Components = o.Running(comps)
	return it, nil
}

// caFileItem makes the new CA the CA file's first certificate (the old one
// after it, still trusted) and the new key the CA key.
func caFileItem(n *nodefs.FS, o Options, st *Status, read catrust.ReadFunc) (*renewal.Item, error) {
	it := caItem(st)
	data, mode, err := read(st.Role.CertPath)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %s: %w", st.Role.Name, st.Role.CertPath, err)
	}
	next, _, err := catrust.Rebundle(data, catrust.Replace{Old: []*x509.Certificate{st.Old, st.New}, Bundle: []*x509.Certificate{st.New, st.Old}})
	if err != nil {
		return nil, fmt.Errorf("CA %s: %s: %w", st.Role.Name, st.Role.CertPath, err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(st.Pending.NewKey)
	if err != nil {
		return nil, err
	}
	it.Files = []renewal.File{{Path: resolved(n, st.Role.CertPath), Data: next, Mode: mode}}
	if !st.KeyIsNew {
		it.Files = append(it.Files, renewal.File{Path: resolved(n, st.Role.KeyPath), Data: keyPEM, Mode: atomicfile.KeyMode, Key: true})
	}
	comps := slices.Clone(st.Role.Components)
	for _, c := range st.Consumers {
		if path.Clean(c.Path) == path.Clean(st.Role.CertPath) {
			comps = addAll(comps, c.Components...)
		}
	}
	if st.Role.Name == "ca" {
		comps = addAll(comps, layout.KubeControllerManager) // it signs with ca.key
	}
	if st.Pending.SAKey != nil && st.SA != "signing-new" {
		if err := saSigning(n, o.Roles, st, it); err != nil {
			return nil, err
		}
		comps = addAll(comps, layout.KubeAPIServer, layout.KubeControllerManager)
	}
	it.Role.Components = o.Running(comps)
	return it, nil
}

func caItem(st *Status) *renewal.Item {
	role := st.Role
	role.CA = role.Name // self-signed
	spec, _ := pki.SpecOf(st.New.PublicKey)
	return &renewal.Item{Role: role, Path: role.CertPath, Old: st.Old, New: st.New, Key: spec, CAPath: role.CertPath}
}

// crossSign appends, to every re-issued leaf certificate file of a CA that
// has one, the new CA certificate signed by the old key: a client that only
// knows the old CA verifies leaf -> cross-signed new CA -> old CA.
func crossSign(lp *renewal.Plan, sts []*Status) {
	cross := map[string]*x509.Certificate{}
	for _, st := range sts {
		if st.Pending.Cross != nil {
			cross[st.Role.Name] = st.Pending.Cross
		}
	}
	for i := range lp.Items {
		it := &lp.Items[i]
		c, ok := cross[it.Role.CA]
		if !ok || it.Role.Kind != layout.KindLeaf {
			continue
		}
		for j := range it.Files {
			f := &it.Files[j]
			if !f.Key && path.Clean(f.Path) != "" && bytes.Contains(f.Data, []byte("CERTIFICATE")) {
				f.Data = append(bytes.Clone(f.Data), pki.EncodeCertificatePEM(c.Raw)...)
				break
			}
		}
	}
}

func resolved(n *nodefs.FS, p string) string {
	if rp, err := n.Resolve(p); err == nil {
		return rp
	}
	return path.Clean(p)
}

func addAll(a []string, b ...string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// The service-account key pair (kubeadm's sa.key/sa.pub).

// saRole is the node's service-account key pair: the roles' (a map read
// from the inventory may not list it), else kubeadm's sa.key and sa.pub.
func saRole(roles []layout.Role) (layout.Role, bool) {
	for _, list := range [][]layout.Role{roles, layout.Kubeadm} {
		for _, r := range list {
			if r.Kind == layout.KindKeyPair && r.PubPath != "" {
				return r, true
			}
		}
	}
	return layout.Role{}, false
}

// ErrNoSAKey: --rotate-sa-key on a node without a service-account key pair.
var ErrNoSAKey = errors.New("no service-account key pair on this node")

// SAPublic reads the current service-account public key, to make a new one
// like it.
func SAPublic(n *nodefs.FS, roles []layout.Role) (crypto.PublicKey, error) {
	r, ok := saRole(roles)
	if !ok || !n.Exists(r.KeyPath) {
		return nil, ErrNoSAKey
	}
	data, err := n.Read(r.KeyPath, pki.MaxPEMSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.KeyPath, err)
	}
	k, err := pki.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.KeyPath, err)
	}
	return k.Public(), nil
}

func publicKeys(data []byte) []crypto.PublicKey {
	var out []crypto.PublicKey
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			return out
		}
		data = rest
		if b.Type != "PUBLIC KEY" {
			continue
		}
		if k, err := x509.ParsePKIXPublicKey(b.Bytes); err == nil {
			out = append(out, k)
		}
	}
}

func saState(n *nodefs.FS, roles []layout.Role, p *Pending) string {
	r, ok := saRole(roles)
	if p.SAKey == nil || !ok {
		return ""
	}
	if data, err := n.Read(r.KeyPath, pki.MaxPEMSize); err == nil {
		if k, err := pki.ParsePrivateKeyPEM(data); err == nil && pki.PublicKeysEqual(k.Public(), p.SAKey.Public()) {
			return "signing-new"
		}
	}
	if data, err := n.Read(r.PubPath, pki.MaxPEMSize); err == nil {
		if slices.ContainsFunc(publicKeys(data), func(k crypto.PublicKey) bool { return pki.PublicKeysEqual(k, p.SAKey.Public()) }) {
			return "both-trusted"
		}
	}
	return "old"
}

// saTrustBoth puts the new public key in front of the old one in the
// public-key file (--service-account-key-file).
func saTrustBoth(n *nodefs.FS, o Options, st *Status, it *renewal.Item, read catrust.ReadFunc) error {
	if st.SA != "old" {
		return nil
	}
	r, _ := saRole(o.Roles)
	data, mode, err := read(r.PubPath)
	if err != nil {
		return fmt.Errorf("service-account public key %s: %w", r.PubPath, err)
	}
	der, err := x509.MarshalPKIXPublicKey(st.Pending.SAKey.Public())
	if err != nil {
		return err
	}
	next := append(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), data...)
	it.Files = append(it.Files, renewal.File{Path: resolved(n, r.PubPath), Data: next, Mode: mode})
	it.Role.Components = addAll(it.Role.Components, o.Running([]string{layout.KubeAPIServer})...)
	return nil
}

// saSigning makes the new service-account key the signing key.
func saSigning(n *nodefs.FS, roles []layout.Role, st *Status, it *renewal.Item) error {
	r, ok := saRole(roles)
	if !ok {
		return ErrNoSAKey
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(st.Pending.SAKey)
	if err != nil {
		return err
	}
	it.Files = append(it.Files, renewal.File{Path: resolved(n, r.KeyPath), Data: keyPEM, Mode: atomicfile.KeyMode, Key: true})
	return nil
}
