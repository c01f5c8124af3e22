package carotation

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// Phase is where a CA's rotation stands on the node.
type Phase int

// Phases, in order.
const (
	PhaseNone     Phase = iota // no rotation: no new CA pending
	PhaseStarted               // a new CA is pending; nothing trusts it yet
	PhaseTrusted               // 1 done: every consumer holds the old and the new CA
	PhaseReissued              // 2 done: every leaf is the new CA's, which is the CA file's key
	PhaseDone                  // 3 done: every consumer holds the new CA only
)

func (p Phase) String() string {
	switch p {
	case PhaseNone:
		return "not rotating"
	case PhaseStarted:
		return "new CA made (phase 1, trust both, next)"
	case PhaseTrusted:
		return "phase 1 done: old and new trusted (phase 2, re-issue, next)"
	case PhaseReissued:
		return "phase 2 done: leaves re-issued by the new CA (phase 3, drop the old, next)"
	case PhaseDone:
		return "phase 3 done: the new CA only"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// ConsumerState is one trust consumer and what it holds of the two CAs.
type ConsumerState struct {
	catrust.Consumer
	State catrust.State
}

// LeafState is one certificate the CA signs and which of the two signed it.
type LeafState struct {
	Name, Path string
	Cert       *x509.Certificate
	ByNew      bool
}

// Status is where one CA's rotation stands, read from the node.
type Status struct {
	Role      layout.Role
	Old, New  *x509.Certificate // New is nil with PhaseNone
	Pending   *Pending
	Phase     Phase
	KeyIsNew  bool // the CA key file holds the new key
	Consumers []ConsumerState
	Leaves    []LeafState
	// SA is the service-account key pair's state when the rotation rotates
	// it: "" (not rotated), "both-trusted", "signing-new".
	SA string
}

// ErrDisagree is wrapped by *DisagreeError.
var ErrDisagree = errors.New("the node is half-rotated: its files disagree about the CA")

// DisagreeError is a node whose files do not agree on a phase: each line
// names a file and what it holds.
type DisagreeError struct {
	CA    string
	Lines []string
}

func (e *DisagreeError) Error() string {
	return fmt.Sprintf("CA %s: %v; nothing was changed:\n  %s", e.CA, ErrDisagree, strings.Join(e.Lines, "\n  "))
}

func (e *DisagreeError) Unwrap() error { return ErrDisagree }

// Read computes the status of CA role's rotation: items are the node's
// inventory (as check finds it), roles its credentials' map.
func Read(n *nodefs.FS, roles []layout.Role, role layout.Role, items []inventory.Item) (*Status, error) {
	certs, err := readCerts(n, role.CertPath)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %s: %w", role.Name, role.CertPath, err)
	}
	p, err := LoadPending(n, role.Name)
	if err != nil {
		return nil, err
	}
	st := &Status{Role: role, Pending: p}
	if p == nil {
		st.Old = certs[0]
		for _, c := range catrust.Find(n, items, st.Old) {
			if leafFile(c) || signingCopyOf(n, c.Path, role.CertPath) {
				continue
			}
			st.Consumers = append(st.Consumers, ConsumerState{Consumer: c, State: catrust.StateOld})
		}
		st.Leaves = leaves(n, roles, role, st.Old, nil)
		return st, st.checkForeign()
	}
	st.Old, st.New = p.Old, p.New
	key, err := readKey(n, role)
	if err != nil {
		return nil, err
	}
	switch {
	case pki.PublicKeysEqual(key, p.New.PublicKey):
		st.KeyIsNew = true
	case pki.PublicKeysEqual(key, p.Old.PublicKey):
	default:
		return nil, &DisagreeError{CA: role.Name, Lines: []string{fmt.Sprintf("%s is neither the old nor the new CA key of the pending rotation (%s)", role.KeyPath, pendingPath(role.Name, fileNew))}}
	}
	for _, c := range catrust.Find(n, items, st.Old, st.New) {
		if nodefs.IsUnder(c.Path, Dir) || leafFile(c) || signingCopyOf(n, c.Path, role.CertPath) {
			continue
		}
		st.Consumers = append(st.Consumers, ConsumerState{Consumer: c, State: catrust.StateOf(c.Holds, st.Old, st.New)})
	}
	st.Leaves = leaves(n, roles, role, st.Old, st.New)
	st.SA = saState(n, roles, p)
	if err := st.checkForeign(); err != nil {
		return st, err
	}
	return st, st.classify(certs[0])
}

// leafFile says whether a file consumer is a leaf's file that carries CA
// certificates as its chain (a cross-signed intermediate): not a trust anchor.
func leafFile(c catrust.Consumer) bool {
	return c.Kind == catrust.KindFile && len(c.Holds) > 0 && !c.Holds[0].IsCA
}

// classify sets Phase from what every consumer, the key and the leaves hold,
// or says how they disagree.
func (st *Status) classify(first *x509.Certificate) error {
	byState := map[catrust.State][]string{}
	for _, c := range st.Consumers {
		byState[c.State] = append(byState[c.State], describe(c.Consumer))
	}
	var byNew, byOld []string
	for _, l := range st.Leaves {
		if l.ByNew {
			byNew = append(byNew, l.Path)
		} else {
			byOld = append(byOld, l.Path)
		}
	}
	disagree := func(why string) error {
		lines := []string{why}
		for _, s := range []catrust.State{catrust.StateOld, catrust.StateBoth, catrust.StateNew} {
			for _, p := range byState[s] {
				lines = append(lines, fmt.Sprintf("%s holds %s", p, stateWords(s)))
			}
		}
		if len(byNew) > 0 && len(byOld) > 0 {
			lines = append(lines, "signed by the new CA: "+strings.Join(byNew, ", "), "signed by the old CA: "+strings.Join(byOld, ", "))
		}
		return &DisagreeError{CA: st.Role.Name, Lines: lines}
	}
	if len(byState) > 1 {
		return disagree("some trust consumers hold the old CA only, some both, some the new only:")
	}
	keyWords := map[bool]string{false: "the old", true: "the new"}[st.KeyIsNew]
	switch {
	case len(byState[catrust.StateOld]) > 0:
		if st.KeyIsNew || len(byNew) > 0 {
			return disagree(fmt.Sprintf("every consumer holds the old CA only, but %s holds %s key and %d leaves are signed by the new CA:", st.Role.KeyPath, keyWords, len(byNew)))
		}
		st.Phase = PhaseStarted
	case len(byState[catrust.StateBoth]) > 0:
		switch {
		case !st.KeyIsNew && len(byNew) > 0:
			return disagree(fmt.Sprintf("%s holds the old key, but leaves are signed by the new CA:", st.Role.KeyPath))
		case st.KeyIsNew && !carenewal.SameCA(first, st.New):
			return disagree(fmt.Sprintf("%s holds the new key, but the first certificate of %s is the old CA:", st.Role.KeyPath, st.Role.CertPath))
		case !st.KeyIsNew && !carenewal.SameCA(first, st.Old):
			return disagree(fmt.Sprintf("%s holds the old key, but the first certificate of %s is the new CA:", st.Role.KeyPath, st.Role.CertPath))
		case st.KeyIsNew && len(byOld) == 0:
			st.Phase = PhaseReissued
		default:
			st.Phase = PhaseTrusted // phase 2 not done (or not finished): re-issue what is left
		}
	case len(byState[catrust.StateNew]) > 0:
		if !st.KeyIsNew || len(byOld) > 0 {
			return disagree(fmt.Sprintf("every consumer holds the new CA only, but %s holds %s key and %d leaves are signed by the old CA:", st.Role.KeyPath, keyWords, len(byOld)))
		}
		st.Phase = PhaseDone
	default:
		return disagree("no trust consumer of the CA was found")
	}
	return nil
}

// checkForeign refuses consumers that hold a certificate with the CA's
// subject that is neither the old nor the new CA: another rotation, by hand
// or by another tool.
func (st *Status) checkForeign() error {
	var lines []string
	for _, c := range st.Consumers {
		for _, h := range c.Holds {
			if !bytes.Equal(h.RawSubject, st.Old.RawSubject) || !h.IsCA || carenewal.SameCA(h, st.Old) || (st.New != nil && carenewal.SameCA(h, st.New)) {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s holds another CA certificate named %q (subject key ID %x) that this rotation did not make", describe(c.Consumer), h.Subject.CommonName, h.SubjectKeyId))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	return &DisagreeError{CA: st.Role.Name, Lines: lines}
}

// leaves are the certificates of the node's roles signed under the CA's name.
func leaves(n *nodefs.FS, roles []layout.Role, ca layout.Role, old, nw *x509.Certificate) []LeafState {
	var out []LeafState
	for _, c := range renewal.Inspect(n.Root(), roles) {
		if c.Err != nil || c.Cert == nil || c.Role.CA != ca.Name || c.Role.Kind == layout.KindCA {
			continue
		}
		l := LeafState{Name: c.Role.Name, Path: c.Role.CertPath, Cert: c.Cert}
		l.ByNew = nw != nil && bytes.Equal(c.Cert.AuthorityKeyId, nw.SubjectKeyId) && c.Cert.CheckSignatureFrom(nw) == nil
		if !l.ByNew && nw != nil && len(c.Cert.AuthorityKeyId) == 0 {
			l.ByNew = c.Cert.CheckSignatureFrom(nw) == nil
		}
		out = append(out, l)
	}
	return out
}

func describe(c catrust.Consumer) string {
	s := c.Path
	if c.Field != "" {
		s += " " + c.Field
	}
	if len(c.Refs) > 0 {
		s += " (" + strings.Join(c.Refs, "; ") + ")"
	}
	return s
}

func stateWords(s catrust.State) string {
	switch s {
	case catrust.StateOld:
		return "the old CA only"
	case catrust.StateBoth:
		return "the old and the new CA"
	case catrust.StateNew:
		return "the new CA only"
	}
	return "neither"
}

func readCerts(n *nodefs.FS, p string) ([]*x509.Certificate, error) {
	data, err := n.Read(p, pki.MaxPEMSize)
	if err != nil {
		return nil, err
	}
	return pki.ParseCertificatesPEM(data)
}

func readKey(n *nodefs.FS, role layout.Role) (any, error) {
	data, err := n.Read(role.KeyPath, pki.MaxPEMSize)
	if err != nil {
		return nil, fmt.Errorf("CA %s: key %s: %w", role.Name, role.KeyPath, err)
	}
	k, err := pki.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("CA %s: key %s: %w", role.Name, role.KeyPath, err)
	}
	return k.Public(), nil
}

// Summary is one line per consumer and leaf, for --status.
func (st *Status) Summary(now time.Time) []string {
	var out []string
	for _, c := range st.Consumers {
		out = append(out, fmt.Sprintf("%-6s %s", c.State, describe(c.Consumer)))
	}
	for _, l := range st.Leaves {
		by := "old CA"
		if l.ByNew {
			by = "new CA"
		}
		exp := ""
		if now.After(l.Cert.NotAfter) {
			exp = ", expired"
		}
		out = append(out, fmt.Sprintf("leaf   %s (%s) signed by the %s%s", l.Name, l.Path, by, exp))
	}
	if st.SA != "" {
		out = append(out, "sa     service-account key: "+st.SA)
	}
	return out
}
