package renewal

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/signer"
)

// DefaultValidity is kubeadm's leaf lifetime: one year.
const DefaultValidity = 365 * 24 * time.Hour

// Options says what to renew and how.
type Options struct {
	Root       string        // node root
	Roles      []layout.Role // the node's map; layout.Kubeadm when nil
	Names      []string      // roles to renew; every renewable role present on the node when empty
	Now        time.Time
	Validity   time.Duration // DefaultValidity when 0
	Backdate   time.Duration // pki.DefaultBackdate when 0
	AddSANs    []string      // added to every renewed serving certificate
	RotateKeys bool          // new keys (same algorithm and size) instead of the old ones
	RotateFor  []string      // roles that get a new key whatever RotateKeys says (a mismatched pair)
	// ClientNames is the identity to give a kubeconfig whose client
	// certificate is foreign (--client-name), by role name; "" for any.
	ClientNames map[string]evaluation.Identity
	// CAs sign in place of the CA files of the node, by CA role name: a CA
	// renewed in the same run (package carenewal) signs with its new
	// certificate, whatever the old one's validity.
	CAs map[string]*pki.CA
	// Signers, when set, sign instead of the CA keys of the node: each
	// credential by the signer whose CA is its CA certificate on the node
	// (signer.Set.For). No CA key is read. A credential whose CA none of
	// them holds is skipped (renew all) or refused (named).
	Signers *signer.Set
	Context context.Context // for remote signers; context.Background() when nil
}

// File is one file a plan writes, by node path (symlinks resolved).
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
	Key  bool // holds a private key
}

// Item is the renewal of one credential.
type Item struct {
	Role   layout.Role
	Path   string // node path of the certificate's file (kubeconfig, bundle or .crt)
	Old    *x509.Certificate
	New    *x509.Certificate
	Key    pki.KeySpec
	NewKey bool // a new key was generated
	// Own says why a kubeconfig got its own new credential instead of a renewal
	// of the one it had ("" for an ordinary renewal).
	Own string
	// CAPath is the node path of the CA certificate that signs it.
	CAPath string
	// Signer names the remote signer that signed it (signer.Signer's
	// String), for output and the audit log; "" for the CA key on the node.
	Signer string
	// SharedWith names the item whose file this credential is (kubelet.conf
	// referencing kubelet-client-current.pem); such an item writes nothing.
	SharedWith string
	Files      []File
}

// Skip is a role that was not renewed, and why.
type Skip struct {
	Name   string
	Reason string
}

// Plan is a renewal computed in memory: nothing is written yet.
type Plan struct {
	Now      time.Time
	Items    []Item
	Skipped  []Skip
	Warnings []string
}

// Files returns every file of the plan, in item order.
func (p *Plan) Files() []File {
	var out []File
	for _, it := range p.Items {
		out = append(out, it.Files...)
	}
	return out
}

// Components returns the components that must restart to load the renewed
// credentials, in layout.RestartOrder.
func (p *Plan) Components() []string {
	need := map[string]bool{}
	for _, it := range p.Items {
		for _, c := range it.Role.Components {
			need[c] = true
		}
	}
	var out []string
	for _, c := range layout.RestartOrder {
		if need[c] {
			out = append(out, c)
		}
	}
	return out
}

// Prepare reads the node, issues every new certificate (and key, when asked)
// and returns the plan. It writes nothing.
func Prepare(o Options) (*Plan, error) {
	if o.Roles == nil {
		o.Roles = layout.Kubeadm
	}
	if o.Validity == 0 {
		o.Validity = DefaultValidity
	}
	if o.Backdate == 0 {
		o.Backdate = pki.DefaultBackdate
	}
	for _, s := range o.AddSANs {
		if err := CheckSAN(s); err != nil {
			return nil, fmt.Errorf("add SAN %w", err)
		}
	}
	selected, explicit, err := selectRoles(o.Roles, o.Names)
	if err != nil {
		return nil, err
	}
	n := NewNode(o.Root)
	defer n.Close()
	if o.Context == nil {
		o.Context = context.Background()
	}
	plan := &Plan{Now: o.Now}
	cas := map[string]*caSigner{}
	for name, ca := range o.CAs {
		cas[name] = &caSigner{Signer: signer.Local{Key: ca, Where: caPath(o.Roles, name)}, cert: ca.Cert}
	}

	// Leaves and bundles first: a kubeconfig may reference one of their files.
	slices.SortStableFunc(selected, func(a, b layout.Role) int {
		return boolInt(a.Kind == layout.KindKubeconfig) - boolInt(b.Kind == layout.KindKubeconfig)
	})
	type pending struct {
		st   *state
		item *Item
		tmpl pki.Template
		ca   *caSigner
		key  crypto.Signer
	}
	var work []*pending
	var specs []pki.KeySpec
	var needKey []*pending
	owner := map[string]string{} // resolved file -> item name
	var creds []evaluation.Credential
	for _, r := range selected {
		st, err := readState(n, r)
		if errors.Is(err, ErrNotOnNode) && !explicit {
			plan.Skipped = append(plan.Skipped, Skip{r.Name, "not present on this node"})
			continue
		}
		if err != nil {
			return nil, err
		}
		ca, err := loadSigner(o, n, r, cas)
		if errors.Is(err, signer.ErrNoSigner) && !explicit {
			plan.Skipped = append(plan.Skipped, Skip{r.Name, strings.TrimPrefix(err.Error(), r.Name+" is ")})
			continue
		}
		if err != nil {
			return nil, err
		}
		it := &Item{Role: r, Path: st.certPath, Old: st.cert, CAPath: caPath(o.Roles, r.CA), Signer: ca.remoteName()}
		p := &pending{st: st, item: it, ca: ca}
		if st.kc != nil {
			it.Own = foreign(n, o.Roles, st, &creds)
			if ref := st.kc.ClientCert.Path; ref != "" && it.Own == "" {
				if rp, err := n.Resolve(ref); err == nil {
					if other, ok := owner[rp]; ok {
						it.SharedWith = other // kubelet.conf -> kubelet-client-current.pem
					}
				}
			}
		}
		if st.kc != nil && legacyAdmin(r, st.cert) {
			plan.Warnings = append(plan.Warnings, "admin.conf is in group system:masters, as kubeadm wrote it before v1.29: renewed as it is; "+
				"kubeadm:cluster-admins is only used once a kubeadm upgrade has bound it")
		}
		if it.SharedWith != "" {
			plan.Items = append(plan.Items, *it)
			continue
		}
		owner[st.certPath] = r.Name
		if it.Own != "" {
			id, from, err := ownIdentity(n, o, st, use(n, r, st.kc.ClientCert.Path))
			if err != nil {
				return nil, &ForeignError{Name: r.Name, Why: it.Own}
			}
			p.tmpl = ownTemplate(id)
			it.Own += "; issued " + id.String() + " from " + from
		} else {
			p.tmpl = TemplateFrom(st.cert)
		}
		addSANs(&p.tmpl, o.AddSANs)
		p.tmpl.NotBefore, p.tmpl.NotAfter = pki.Window(o.Now, o.Backdate, o.Validity)
		spec, err := pki.SpecOf(st.cert.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.Name, st.certPath, err)
		}
		it.Key = spec
		if o.RotateKeys || it.Own != "" || slices.Contains(o.RotateFor, r.Name) {
			it.NewKey = true
			specs = append(specs, spec)
			needKey = append(needKey, p)
		} else {
			if st.keyErr != nil {
				return nil, &KeyError{Name: r.Name, CertPath: st.certPath, Err: st.keyErr}
			}
			if !pki.PublicKeysEqual(st.key.Public(), st.cert.PublicKey) {
				return nil, &KeyError{Name: r.Name, CertPath: st.certPath}
			}
			p.key = st.key
		}
		work = append(work, p)
	}
	keys, err := pki.GenerateKeys(specs)
	if err != nil {
		return nil, fmt.Errorf("generate keys: %w", err)
	}
	for i, p := range needKey {
		p.key = keys[i]
	}
	for _, p := range work {
		if err := issue(o.Context, n, plan, p.st, p.item, p.tmpl, p.ca, p.key); err != nil {
			return nil, err
		}
		plan.Items = append(plan.Items, *p.item)
	}
	sortLike(plan.Items, o.Roles)
	return plan, checkFiles(plan)
}

func issue(ctx context.Context, n Node, plan *Plan, st *state, it *Item, tmpl pki.Template, ca *caSigner, key crypto.Signer) error {
	r := st.role
	res, err := ca.Sign(ctx, signer.Request{Name: r.Name, Template: tmpl, Key: key, RequireUsages: true})
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	cert := res.Cert
	if err := verify(cert, ca, key, plan.Now); err != nil {
		return fmt.Errorf("%s: the renewed certificate (from %s) does not verify: %w", r.Name, ca, err)
	}
	it.New = cert
	if cert.NotAfter.After(ca.cert.NotAfter) {
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("%s: the renewed certificate (until %s) outlives its CA %q (until %s); plan a CA rotation",
			r.Name, cert.NotAfter.UTC().Format(time.DateOnly), ca.cert.Subject.CommonName, ca.cert.NotAfter.UTC().Format(time.DateOnly)))
	}
	certPEM := pki.EncodeCertificatePEM(cert.Raw)
	for _, c := range ca.intermediates {
		certPEM = append(certPEM, pki.EncodeCertificatePEM(c.Raw)...)
	}
	var keyPEM []byte
	if it.NewKey {
		if keyPEM, err = pki.MarshalPrivateKeyPEM(key); err != nil {
			return fmt.Errorf("%s: encode key: %w", r.Name, err)
		}
	}
	files, err := filesFor(n, st, it, certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	it.Files = files
	return nil
}

func verify(cert *x509.Certificate, ca *caSigner, key crypto.Signer, now time.Time) error {
	if !pki.PublicKeysEqual(cert.PublicKey, key.Public()) {
		return errors.New("public key does not match the private key")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	inter := x509.NewCertPool()
	for _, c := range ca.intermediates {
		inter.AddCert(c)
	}
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

// Errors of a name given to renew: callers branch on them with errors.Is
// (both are the user's mistake) and errors.As (*NameError lists the names
// that would do).
var (
	ErrUnknownName  = errors.New("unknown certificate")
	ErrNotRenewable = errors.New("not renewable: a CA or a key pair")
)

// ErrKeyNotKept is wrapped when a certificate's private key cannot be kept for
// its renewal: unreadable, or not the certificate's. A new key
// (Options.RotateKeys) replaces it.
var ErrKeyNotKept = errors.New("the private key cannot be kept")

// KeyError is a certificate whose private key cannot be kept (errors.Is
// ErrKeyNotKept).
type KeyError struct {
	Name     string // the certificate's name
	CertPath string
	Err      error // why the key cannot be read; nil: it does not match the certificate
}

func (e *KeyError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("%s: the private key does not match the certificate %s", e.Name, e.CertPath)
}

// Unwrap returns ErrKeyNotKept and, for an unreadable key, why.
func (e *KeyError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrKeyNotKept, e.Err}
	}
	return []error{ErrKeyNotKept}
}

// NameError is a name that cannot be renewed, with the names that can.
type NameError struct {
	Name  string
	Valid []string // the renewable names of the node, in layout order
	Err   error    // ErrUnknownName or ErrNotRenewable
}

func (e *NameError) Error() string {
	if errors.Is(e.Err, ErrNotRenewable) {
		return fmt.Sprintf("%q is a CA or a key pair: renew renews leaf certificates and kubeconfigs (%s)", e.Name, strings.Join(e.Valid, ", "))
	}
	return fmt.Sprintf("unknown certificate %q; valid names: all, %s", e.Name, strings.Join(e.Valid, ", "))
}

func (e *NameError) Unwrap() error { return e.Err }

func selectRoles(roles []layout.Role, names []string) ([]layout.Role, bool, error) {
	if len(names) == 0 || (len(names) == 1 && names[0] == "all") {
		var out []layout.Role
		for _, r := range roles {
			if Renewable(r) {
				out = append(out, r)
			}
		}
		return out, false, nil
	}
	var out []layout.Role
	for _, name := range names {
		i := slices.IndexFunc(roles, func(r layout.Role) bool { return r.Name == name })
		if i < 0 {
			return nil, true, &NameError{Name: name, Valid: RenewableNames(roles), Err: ErrUnknownName}
		}
		if !Renewable(roles[i]) {
			return nil, true, &NameError{Name: name, Valid: RenewableNames(roles), Err: ErrNotRenewable}
		}
		if !slices.ContainsFunc(out, func(r layout.Role) bool { return r.Name == name }) {
			out = append(out, roles[i])
		}
	}
	return out, true, nil
}

// RenewableNames lists the names renew accepts, in layout order.
func RenewableNames(roles []layout.Role) []string {
	var out []string
	for _, r := range roles {
		if Renewable(r) {
			out = append(out, r.Name)
		}
	}
	return out
}

func loadCA(n Node, roles []layout.Role, r layout.Role, now time.Time) (*pki.CA, error) {
	i := slices.IndexFunc(roles, func(o layout.Role) bool { return o.Name == r.CA })
	if i < 0 {
		return nil, fmt.Errorf("%s: its CA %q is not in the node's layout", r.Name, r.CA)
	}
	cr := roles[i]
	if cr.KeyPath == "" {
		return nil, fmt.Errorf("%s is signed by %s (%s), whose private key is not on this node: renew it where the CA key is", r.Name, r.CA, cr.CertPath)
	}
	ca, err := pki.LoadCAFrom(n.Read, cr.CertPath, cr.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("%s is signed by %s: %w", r.Name, r.CA, err)
	}
	if err := ca.CheckValidAt(now, false); err != nil {
		return nil, fmt.Errorf("%s is signed by %s (%s): %w", r.Name, r.CA, cr.CertPath, err)
	}
	return ca, nil
}

// caPath is the certificate path of the CA role named ca.
func caPath(roles []layout.Role, ca string) string {
	if i := slices.IndexFunc(roles, func(o layout.Role) bool { return o.Name == ca }); i >= 0 {
		return roles[i].CertPath
	}
	return ""
}

// ForeignError is a kubeconfig whose client certificate is not its own
// (Why) and whose own identity nothing says: no --client-name, no previous
// client certificate with its key, no standard identity for its role.
type ForeignError struct {
	Name, Why string
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("%s: %s, and %v (not kubeadm's own layout, no client certificate of the node with its key)", e.Name, e.Why, ErrNoIdentity)
}

func (e *ForeignError) Unwrap() error { return ErrNoIdentity }

// checkFiles refuses a plan that would write one path twice with different
// content.
func checkFiles(p *Plan) error {
	seen := map[string]string{}
	for _, it := range p.Items {
		for _, f := range it.Files {
			if other, ok := seen[f.Path]; ok {
				return fmt.Errorf("%s and %s would both write %s; renew them one at a time", other, it.Role.Name, f.Path)
			}
			seen[f.Path] = it.Role.Name
		}
	}
	return nil
}

func sortLike(items []Item, roles []layout.Role) {
	idx := map[string]int{}
	for i, r := range roles {
		idx[r.Name] = i
	}
	slices.SortStableFunc(items, func(a, b Item) int { return idx[a.Role.Name] - idx[b.Role.Name] })
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func keyBlocks(data []byte) []byte {
	var out []byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return out
		}
		if b.Type != "CERTIFICATE" {
			out = append(out, pem.EncodeToMemory(b)...)
		}
	}
}
