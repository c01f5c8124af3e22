package carotation

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/renewal"
)

// The other nodes of the cluster trust the CAs too (a worker: the cluster
// CA in its ca.crt, kubelet.conf, bootstrap-kubelet.conf). A rotation hands
// them an archive (catrust's, kind ArchiveKindRotate): once phase 1 is done
// on this node, "trust-both" (each CA's new certificate: add it beside the
// old one); once phase 3 is done, "new-only" (drop the old one). Between the
// two, every node's leaves must be re-issued by the new CAs (the kubelet's
// own client certificate rotation, or this command on each control-plane
// node that holds the keys).

// Archive phases.
const (
	ArchiveTrustBoth = "trust-both"
	ArchiveNewOnly   = "new-only"
)

// ArchivePhase is the archive the node's phase calls for: trust-both from
// phase 1 to 2, new-only when every CA is done; "" before phase 1.
func ArchivePhase(sts []*Status) string {
	min := PhaseDone
	for _, st := range sts {
		if st.Phase < min {
			min = st.Phase
		}
	}
	switch {
	case min >= PhaseDone:
		return ArchiveNewOnly
	case min >= PhaseTrusted:
		return ArchiveTrustBoth
	}
	return ""
}

// ArchiveManifest is the archive of the rotations sts at phase.
func ArchiveManifest(sts []*Status, phase string, now time.Time, node string) catrust.Manifest {
	m := catrust.Manifest{Kind: catrust.ArchiveKindRotate, Phase: phase, Created: now.UTC(), Node: node}
	for _, st := range sts {
		if st.New == nil {
			continue
		}
		m.CAs = append(m.CAs, catrust.ArchiveCA{Name: st.Role.Name, Path: st.Role.CertPath, OldSHA256: catrust.Fingerprint(st.Old), Cert: st.New})
	}
	return m
}

// ErrForeignArchive: no CA of the archive is a CA this node holds.
var ErrForeignArchive = errors.New("no CA of the archive is one this node trusts (another cluster's archive?)")

// ApplyPlan is, on another node, the plan that puts what the archive m
// says into every trust consumer: the new CA beside the old one
// (trust-both) or the new one only (new-only). A CA the node does not hold
// (a worker holds the cluster CA only) is skipped; none at all is
// ErrForeignArchive. It writes nothing; a rerun when in place plans nothing.
func ApplyPlan(n *nodefs.FS, o Options, items []inventory.Item, m *catrust.Manifest) (*renewal.Plan, error) {
	if m.Kind != catrust.ArchiveKindRotate || (m.Phase != ArchiveTrustBoth && m.Phase != ArchiveNewOnly) {
		return nil, fmt.Errorf("%w: kind %q phase %q is not a rotation's", catrust.ErrBadArchive, m.Kind, m.Phase)
	}
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
	matched := false
	var onOld []string
	for _, ca := range m.CAs {
		old, holdsNew := oldOf(items, ca)
		matched = matched || old != nil || holdsNew
		if old == nil {
			continue // not a CA of this node, or the new one only already
		}
		if m.Phase == ArchiveNewOnly {
			onOld = append(onOld, signedBy(items, old)...)
		}
		st := &Status{Old: old, New: ca.Cert}
		for _, c := range catrust.Find(n, items, old, ca.Cert) {
			if nodefs.IsUnder(c.Path, Dir) || leafFile(c) {
				continue
			}
			st.Consumers = append(st.Consumers, ConsumerState{Consumer: c, State: catrust.StateOf(c.Holds, old, ca.Cert)})
		}
		st.Role.Name, st.Role.CertPath = ca.Name, ca.Path
		r := trustBoth(st)
		if m.Phase == ArchiveNewOnly {
			r = newOnly(st)
		}
		it, err := consumersItem(n, o, st, r, read)
		if err != nil {
			return nil, err
		}
		if len(it.Files) == 0 {
			continue // in place already
		}
		it.Path = it.Files[0].Path
		plan.Items = append(plan.Items, *it)
		last := &plan.Items[len(plan.Items)-1]
		for j := range last.Files {
			staged[resolved(n, last.Files[j].Path)] = &last.Files[j]
		}
	}
	if !matched {
		return nil, ErrForeignArchive
	}
	if len(onOld) > 0 {
		return nil, fmt.Errorf("%w; nothing was changed:\n  %s", ErrLeavesOnOld, strings.Join(onOld, "\n  "))
	}
	return plan, nil
}

// ErrLeavesOnOld: a new-only archive on a node whose certificates the old
// CA still signs: dropping the old CA would break them.
var ErrLeavesOnOld = errors.New("certificates of this node are still signed by the old CA: re-issue them from the new CA (the kubelet rotates its own client certificate) before dropping the old one")

// signedBy lists the leaves of the node (certificates and kubeconfigs'
// client certificates) that old signs.
func signedBy(items []inventory.Item, old *x509.Certificate) []string {
	var out []string
	for i := range items {
		it := &items[i]
		leaf := it.Leaf()
		if leaf == nil || leaf.IsCA || (it.Kind != inventory.KindCertificate && it.Kind != inventory.KindKubeconfig) {
			continue
		}
		if bytes.Equal(leaf.RawIssuer, old.RawSubject) && leaf.CheckSignatureFrom(old) == nil {
			out = append(out, fmt.Sprintf("%s (%s) is signed by the old %q", it.Name, it.Path, old.Subject.CommonName))
		}
	}
	return out
}

// oldOf is the node's certificate of the CA that ca replaces, by the
// fingerprint the manifest names (another cluster's CA of the same name is
// not it); holdsNew says the node holds the new one.
func oldOf(items []inventory.Item, ca catrust.ArchiveCA) (old *x509.Certificate, holdsNew bool) {
	for i := range items {
		it := &items[i]
		var certs []*x509.Certificate
		switch {
		case it.Kind == inventory.KindCertificate:
			certs = it.Certs
		case it.Kind == inventory.KindKubeconfig && it.Kubeconfig != nil:
			certs = it.Kubeconfig.CACerts
		}
		for _, c := range certs {
			switch {
			case carenewal.SameCA(c, ca.Cert):
				holdsNew = true
			case old == nil && catrust.Fingerprint(c) == ca.OldSHA256:
				old = c
			}
		}
	}
	return old, holdsNew
}

// ArchivePath is where ca rotate writes the archive of phase.
func ArchivePath(phase string) string { return path.Join(Dir, "ca-rotate-"+phase+".tar.gz") }
