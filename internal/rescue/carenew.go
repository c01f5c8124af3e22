package rescue

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/restart"
)

// A rescue renews a CA on its own key (package carenewal) before the leaves
// when the CA is expired, not yet valid, expiring within Within, or expires
// before a leaf it signs (the renewed ones included): the CA renewal comes
// first in the plan, its new certificate signs the leaves that are due, and
// every trust consumer of the node (package catrust: the CA's files, the
// kubeconfigs' certificate-authority-data) gets the new certificate in the
// same deploy. Leaves that are not due are not re-issued: same key, same
// subject key ID, they verify against the renewed CA.

// ErrCANotFound is wrapped when a CA named to renew is not a CA of the node.
var ErrCANotFound = errors.New("not a CA of this node")

// CARoles are the CA roles of roles whose certificate is on the node.
func CARoles(root string, roles []layout.Role) []layout.Role {
	n := nodefs.New(root)
	defer n.Close()
	var out []layout.Role
	for _, r := range roles {
		if r.Kind == layout.KindCA && n.Exists(r.CertPath) {
			out = append(out, r)
		}
	}
	return out
}

// FindCA finds a CA role by its name ("ca", "etcd-ca"), its node path, or
// its path under kubeadm's PKI directory without the extension ("etcd/ca").
func FindCA(cas []layout.Role, name string) (layout.Role, error) {
	for _, r := range cas {
		p := path.Clean(r.CertPath)
		short := strings.TrimSuffix(strings.TrimPrefix(p, layout.PKIDir+"/"), path.Ext(p))
		if r.Name == name || p == path.Clean(name) || (nodefs.IsUnder(p, layout.PKIDir) && short == name) {
			return r, nil
		}
	}
	var names []string
	for _, r := range cas {
		names = append(names, r.Name)
	}
	return layout.Role{}, fmt.Errorf("%q: %w (its CAs: %v)", name, ErrCANotFound, names)
}

// dueCAs returns the CA roles a rescue renews: those named in Options.CAs,
// and those that are expired, expiring within Within, or expire before a
// leaf they sign would (a renewed leaf is valid for the renewal's validity).
func (r *runner) dueCAs(names []string) ([]layout.Role, []string, error) {
	cas := CARoles(r.o.Root, r.o.Roles)
	var out []layout.Role
	var why []string
	add := func(ca layout.Role, reason string) {
		i := slices.IndexFunc(out, func(o layout.Role) bool { return o.Name == ca.Name })
		switch {
		case i < 0:
			out, why = append(out, ca), append(why, ca.Name+": "+reason)
		case why[i] == ca.Name+": ":
			why[i] += reason
		}
	}
	n := nodefs.New(r.o.Root)
	defer n.Close()
	now := r.now()
	validity := r.o.Renew.Validity
	if validity == 0 {
		validity = renewal.DefaultValidity
	}
	// The latest NotAfter among each CA's leaves, renewed or kept.
	latest := map[string]time.Time{}
	for _, c := range renewal.Inspect(r.o.Root, r.o.Roles) {
		if c.Cert == nil || c.Role.CA == "" {
			continue
		}
		na := c.Cert.NotAfter
		if r.o.All || slices.Contains(names, c.Role.Name) {
			na = now.Add(validity)
		}
		if na.After(latest[c.Role.CA]) {
			latest[c.Role.CA] = na
		}
	}
	var named []layout.Role
	for _, name := range r.o.CAs {
		ca, err := FindCA(cas, name)
		if err != nil {
			return nil, nil, err
		}
		named = append(named, ca)
	}
	only := r.o.CAOnly || len(r.o.Imported) > 0
	for _, ca := range cas {
		isNamed := slices.ContainsFunc(named, func(o layout.Role) bool { return o.Name == ca.Name })
		if only && !isNamed {
			continue
		}
		if isNamed {
			add(ca, "") // in the order of the node's CAs; the reason below
		}
		if ca.KeyPath == "" || !n.Exists(ca.KeyPath) {
			continue // signed elsewhere: check reports it, a rescue cannot renew it
		}
		data, err := n.Read(ca.CertPath, pki.MaxPEMSize)
		if err != nil {
			continue
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			continue
		}
		c := certs[0]
		switch {
		case now.After(c.NotAfter):
			add(ca, "expired "+c.NotAfter.UTC().Format(time.DateOnly))
		case now.Before(c.NotBefore):
			add(ca, "not valid before "+c.NotBefore.UTC().Format(time.RFC3339))
		case !c.NotAfter.After(now.Add(r.o.Within)):
			add(ca, "expires "+c.NotAfter.UTC().Format(time.DateOnly))
		case c.NotAfter.Before(latest[ca.Name]):
			add(ca, fmt.Sprintf("expires %s, before a leaf it signs (until %s)", c.NotAfter.UTC().Format(time.DateOnly), latest[ca.Name].UTC().Format(time.DateOnly)))
		case isNamed:
			add(ca, "valid until "+c.NotAfter.UTC().Format(time.DateOnly))
		}
	}
	return out, why, nil
}

// renewCAs renews each CA in memory, proving every certificate of the node
// it signed verifies against the new certificate (but those this run
// re-issues: names, or every renewable role with All).
func (r *runner) renewCAs(cas []layout.Role, names []string) ([]*carenewal.Renewal, error) {
	if len(r.o.Imported) > 0 {
		return r.adoptCAs()
	}
	if len(cas) == 0 {
		return nil, nil
	}
	if err := r.scan(); err != nil {
		return nil, err
	}
	n := nodefs.New(r.o.Root)
	defer n.Close()
	reissued := map[string]bool{}
	for _, role := range r.o.Roles {
		if !r.o.CAOnly && renewal.Renewable(role) && (r.o.All || slices.Contains(names, role.Name)) {
			reissued[role.CertPath] = true
			if rp, err := n.Resolve(role.CertPath); err == nil {
				reissued[rp] = true
			}
		}
	}
	var out []*carenewal.Renewal
	for _, ca := range cas {
		rn, err := carenewal.Renew(n, ca, r.items, carenewal.Options{Now: r.now(), Validity: r.o.CAValidity, Reissued: reissued})
		if err != nil {
			return nil, err
		}
		out = append(out, rn)
	}
	return out, nil
}

// adoptCAs matches each imported certificate with the node's CA of the
// same subject and key and proves the node's certificates verify against it.
func (r *runner) adoptCAs() ([]*carenewal.Renewal, error) {
	if err := r.scan(); err != nil {
		return nil, err
	}
	n := nodefs.New(r.o.Root)
	defer n.Close()
	cas := CARoles(r.o.Root, r.o.Roles)
	var out []*carenewal.Renewal
	var missing []string
	for _, c := range r.o.Imported {
		i := slices.IndexFunc(cas, func(ca layout.Role) bool {
			data, err := n.Read(ca.CertPath, pki.MaxPEMSize)
			if err != nil {
				return false
			}
			certs, err := pki.ParseCertificatesPEM(data)
			return err == nil && carenewal.SameCA(certs[0], c)
		})
		if i < 0 {
			missing = append(missing, fmt.Sprintf("%q (subject key ID %x)", c.Subject.String(), c.SubjectKeyId))
			continue // a worker holds the cluster CA only
		}
		rn, err := carenewal.Adopt(n, cas[i], c, r.items, carenewal.Options{Now: r.now()})
		if err != nil {
			return nil, err
		}
		out = append(out, rn)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(missing, ", "), ErrCANotFound)
	}
	return out, nil
}

// pendingImports are the imported certificates not yet in place: the
// node's certificate of their CA (same subject and key) is another one.
// Certificates of CAs the node does not hold (a worker holds the cluster CA
// only) are dropped, unless no imported certificate is a CA of the node at
// all: then they stay, for adoptCAs to refuse (another cluster's archive).
func (r *runner) pendingImports() []*x509.Certificate {
	n := nodefs.New(r.o.Root)
	defer n.Close()
	var node []*x509.Certificate
	for _, ca := range CARoles(r.o.Root, r.o.Roles) {
		if data, err := n.Read(ca.CertPath, pki.MaxPEMSize); err == nil {
			if certs, err := pki.ParseCertificatesPEM(data); err == nil {
				node = append(node, certs[0])
			}
		}
	}
	var out []*x509.Certificate
	matched := false
	for _, c := range r.o.Imported {
		same := slices.ContainsFunc(node, func(o *x509.Certificate) bool { return carenewal.SameCA(o, c) })
		inPlace := slices.ContainsFunc(node, func(o *x509.Certificate) bool { return o.Equal(c) })
		matched = matched || same
		if same && !inPlace {
			out = append(out, c)
		}
	}
	if !matched {
		return r.o.Imported
	}
	return out
}

// scan reads the node's credentials as check does, once.
func (r *runner) scan() error {
	if r.items != nil {
		return nil
	}
	scan := r.o.Scan
	if scan == nil {
		scan = DefaultScanner(r.o.Root)
	}
	items, err := scan(r.ctx)
	if err != nil {
		return fmt.Errorf("check the node's certificates: %w", err)
	}
	r.items = items
	return nil
}

// signers are the renewed CAs, to sign the leaves with.
func signers(rns []*carenewal.Renewal) map[string]*pki.CA {
	out := map[string]*pki.CA{}
	for _, rn := range rns {
		if rn.CA != nil {
			out[rn.Role.Name] = rn.CA
		}
	}
	return out
}

// MergeCARenewals puts each renewed CA in front of plan: an item whose files
// are the edits that give every trust consumer of the node (items: its
// inventory) the new certificate in place of the old one. A file the plan
// already writes (a kubeconfig whose client certificate is renewed) gets the
// edit on top of its new bytes. The item restarts the CA's components and
// every consumer's.
func MergeCARenewals(root string, plan *renewal.Plan, rns []*carenewal.Renewal, consumers func(*carenewal.Renewal) []catrust.Consumer) error {
	if len(rns) == 0 {
		return nil
	}
	n := nodefs.New(root)
	defer n.Close()
	disk := catrust.DiskReader(n)
	staged := func() map[string]*renewal.File {
		m := map[string]*renewal.File{}
		for i := range plan.Items {
			for j := range plan.Items[i].Files {
				f := &plan.Items[i].Files[j]
				m[resolved(n, f.Path)] = f
			}
		}
		return m
	}
	var items []renewal.Item
	for _, rn := range rns {
		cs := append([]catrust.Consumer{{Kind: catrust.KindFile, Path: rn.Role.CertPath}}, consumers(rn)...)
		files := staged()
		for _, it := range items {
			for j := range it.Files {
				files[resolved(n, it.Files[j].Path)] = &it.Files[j]
			}
		}
		read := func(p string) ([]byte, fs.FileMode, error) {
			if f, ok := files[resolved(n, p)]; ok {
				return f.Data, f.Mode, nil
			}
			return disk(p)
		}
		edits, err := catrust.PlanEdits(cs, catrust.Replace{Old: []*x509.Certificate{rn.Old}, Bundle: []*x509.Certificate{rn.New}}, read)
		if err != nil {
			return fmt.Errorf("%s: %w", rn.Role.Name, err)
		}
		spec, _ := pki.SpecOf(rn.New.PublicKey)
		role := rn.Role
		role.CA = role.Name // self-signed
		it := renewal.Item{Role: role, Path: role.CertPath, Old: rn.Old, New: rn.New, Key: spec, CAPath: role.CertPath}
		comps := slices.Clone(role.Components)
		for _, e := range edits {
			for _, c := range e.Consumers {
				for _, comp := range c.Components {
					if !slices.Contains(comps, comp) {
						comps = append(comps, comp)
					}
				}
			}
			if f, ok := files[resolved(n, e.Path)]; ok {
				f.Data = e.Data
				continue
			}
			it.Files = append(it.Files, renewal.File{Path: resolved(n, e.Path), Data: e.Data, Mode: e.Mode})
		}
		it.Role.Components = runningHere(root, comps)
		items = append(items, it)
		plan.Warnings = append(plan.Warnings, rn.Warnings...)
	}
	plan.Items = append(items, plan.Items...)
	return nil
}

func resolved(n *nodefs.FS, p string) string {
	if rp, err := n.Resolve(p); err == nil {
		return rp
	}
	return path.Clean(p)
}

// consumers are the node's trust consumers of a renewed CA.
func (r *runner) consumers(rn *carenewal.Renewal) []catrust.Consumer {
	n := nodefs.New(r.o.Root)
	defer n.Close()
	return catrust.Find(n, r.items, rn.Old)
}

// runningHere keeps the components that run on the node: those a static pod
// manifest, a systemd unit or k3s/RKE2 starts, and the kubelet when the node
// has its kubeconfig or configuration. A worker that trusts the cluster CA
// restarts its kubelet, not an API server it does not run. When the node
// names no component at all, every one is kept.
func runningHere(root string, comps []string) []string {
	reader := inventory.NewReader(root)
	found, _ := reader.Components()
	servers, _ := reader.RancherServers()
	here := map[string]bool{}
	for _, c := range found {
		here[c.Name] = true
	}
	for _, t := range restart.Targets(found, servers) {
		here[t.Component] = true
	}
	n := nodefs.New(root)
	defer n.Close()
	if n.Exists(layout.KubernetesDir+"/kubelet.conf") || n.Exists(inventory.KubeletConfigPath) {
		here[layout.Kubelet] = true
	}
	if len(here) == 0 {
		return comps
	}
	var out []string
	for _, c := range comps {
		if here[c] {
			out = append(out, c)
		}
	}
	return out
}

// adoptedNames names the CAs a run adopted from another node's archive.
func adoptedNames(rns []*carenewal.Renewal) string {
	var out []string
	for _, rn := range rns {
		out = append(out, rn.Role.Name)
	}
	return strings.Join(out, ", ")
}
