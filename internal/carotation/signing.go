package carotation

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/flagedit"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/renewal"
)

// SigningFlags are the controller-manager's flags that name a CA
// certificate it signs with. The controller-manager refuses to start when
// such a file holds more than one certificate ("error reading CA cert file:
// expected 1 certificate, found 2"), and phases 1 and 2 turn the CA file
// into a bundle of the old and new CA. kubeadm names ca.crt with
// --cluster-signing-cert-file, and with --client-ca-file of the API server,
// so one file cannot be both.
//
// So phase 1 points each such flag at the CA file's signing copy
// (layout.SigningCopy: ca-signing.crt beside ca.crt), a file with the one
// certificate that pairs with the CA key: the old CA in phase 1, the new
// one from phase 2 (written with the new key, in the same transaction).
// The flag is changed in the file it is read from (flagedit: the static pod
// manifest, the unit, its drop-in or environment file), nothing else in
// that file; phase 3, when the CA file is one certificate again, points it
// back at the CA file, so the node ends as it began but for the new CA. The
// signing copy stays, with the new CA in it (nothing names it; the next
// rotation writes it again).
var SigningFlags = []string{
	"cluster-signing-cert-file",
	"cluster-signing-kube-apiserver-client-cert-file",
	"cluster-signing-kubelet-client-cert-file",
	"cluster-signing-kubelet-serving-cert-file",
	"cluster-signing-legacy-unknown-cert-file",
}

// SigningConflict is a signing flag that names the file of a CA a rotation
// would bundle (or its signing copy); Why says why it cannot be changed
// ("" when it can).
type SigningConflict struct {
	CA, Component, Flag, From, Path string
	Why                             string
}

func (c SigningConflict) String() string {
	s := fmt.Sprintf("%s --%s (%s) names %s, the %s CA file", c.Component, c.Flag, c.From, c.Path, c.CA)
	if c.Why != "" {
		s += ": " + c.Why
	}
	return s
}

// ErrSigningFlag is wrapped by *SigningError.
var ErrSigningFlag = errors.New("a signing flag names the CA file and cannot be changed")

// SigningError lists the signing flags a rotation cannot point at the
// signing copy, and why.
type SigningError struct{ Conflicts []SigningConflict }

func (e *SigningError) Error() string {
	lines := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		lines[i] = c.String()
	}
	return ErrSigningFlag.Error() + ": " + strings.Join(lines, "; ")
}

func (e *SigningError) Unwrap() error { return ErrSigningFlag }

// CheckSigningFlags says, before anything changes, whether every signing
// flag of comps that the next phase of each rotation in sts changes can be
// changed (each exactly once in one of its component's files, with the
// value the inventory read). A *SigningError lists those that cannot.
func CheckSigningFlags(n *nodefs.FS, comps []inventory.Component, sts []*Status) error {
	disk := catrust.DiskReader(n)
	var bad []SigningConflict
	for _, st := range sts {
		phase := st.Phase
		if phase == PhaseNone {
			phase = PhaseStarted
		}
		_, _, err := signingFiles(n, comps, st, phase, nil, disk)
		var se *SigningError
		if errors.As(err, &se) {
			bad = append(bad, se.Conflicts...)
		} else if err != nil {
			return err
		}
	}
	if len(bad) > 0 {
		return &SigningError{Conflicts: bad}
	}
	return nil
}

// signingFiles are the files the next phase of st (standing at phase)
// changes for the signing flags of comps, and the components that read
// them: in phases 1 and 2 each flag naming the CA file is pointed at its
// signing copy, and each signing copy gets cert (skipped when nil); in
// phase 3 each flag naming a signing copy is pointed back at the CA file.
func signingFiles(n *nodefs.FS, comps []inventory.Component, st *Status, phase Phase, cert *x509.Certificate, read catrust.ReadFunc) ([]renewal.File, []string, error) {
	caFile := resolved(n, st.Role.CertPath)
	var files []renewal.File
	index := map[string]int{}
	put := func(f renewal.File) {
		if i, ok := index[f.Path]; ok {
			files[i] = f
			return
		}
		index[f.Path] = len(files)
		files = append(files, f)
	}
	readStaged := func(p string) ([]byte, fs.FileMode, error) {
		if i, ok := index[resolved(n, p)]; ok {
			return files[i].Data, files[i].Mode, nil
		}
		return read(p)
	}
	var restart []string
	var bad []SigningConflict
	for _, c := range comps {
		for _, fl := range SigningFlags {
			v, ok := c.Flags[fl]
			if !ok || v == "" {
				continue
			}
			namesCA := resolved(n, v) == caFile
			orig, isCopy := layout.SigningOriginal(v)
			isCopy = isCopy && resolved(n, orig) == caFile
			var to string
			switch {
			case namesCA && phase < PhaseReissued:
				to = layout.SigningCopy(v)
			case isCopy && phase == PhaseReissued:
				to = orig
			case isCopy && phase < PhaseReissued:
			default:
				continue
			}
			if to != "" {
				f, err := editFlag(n, c, fl, v, to, readStaged)
				if err != nil {
					from := c.Origin
					if f, ok := c.FlagFrom[fl]; ok && f != "" {
						from = f
					}
					bad = append(bad, SigningConflict{CA: st.Role.Name, Component: c.Name, Flag: fl, From: from, Path: v, Why: err.Error()})
					continue
				}
				put(f)
				restart = addAll(restart, c.Name)
			}
			if phase < PhaseReissued && cert != nil {
				cp := v
				if namesCA {
					cp = layout.SigningCopy(v)
				}
				copyPath := path.Join(resolved(n, path.Dir(cp)), path.Base(cp))
				data := pki.EncodeCertificatePEM(cert.Raw)
				if old, _, err := read(copyPath); err != nil || string(old) != string(data) {
					put(renewal.File{Path: copyPath, Data: data, Mode: atomicfile.CertMode})
					restart = addAll(restart, c.Name)
				}
			}
		}
	}
	if len(bad) > 0 {
		return nil, nil, &SigningError{Conflicts: bad}
	}
	return files, restart, nil
}

// editFlag changes flag from one value to another in the one file of c's
// that holds it.
func editFlag(n *nodefs.FS, c inventory.Component, flag, from, to string, read catrust.ReadFunc) (renewal.File, error) {
	cands := c.Files
	if len(cands) == 0 {
		cands = []string{c.Origin}
	}
	var holders []string
	var file renewal.File
	for _, p := range cands {
		data, mode, err := read(p)
		if err != nil || len(flagedit.Find(data, flag)) == 0 {
			continue
		}
		holders = append(holders, p)
		out, err := flagedit.Set(data, flag, from, to)
		if err != nil {
			return renewal.File{}, fmt.Errorf("%s: %w", p, err)
		}
		file = renewal.File{Path: resolved(n, p), Data: out, Mode: mode}
	}
	switch {
	case len(holders) == 0:
		return renewal.File{}, fmt.Errorf("--%s=%s is not written in %s (set through a variable?): %w", flag, from, strings.Join(cands, ", "), flagedit.ErrNotFound)
	case len(holders) > 1:
		return renewal.File{}, fmt.Errorf("--%s is in more than one file (%s): %w", flag, strings.Join(holders, ", "), flagedit.ErrTwice)
	}
	return file, nil
}

// SigningBundles are the signing flags of comps that name a file of plan
// whose new contents hold more than one certificate (ca apply of a
// trust-both archive on another node).
func SigningBundles(n *nodefs.FS, comps []inventory.Component, plan *renewal.Plan) []SigningConflict {
	var out []SigningConflict
	for _, it := range plan.Items {
		for _, f := range it.Files {
			if certs, err := pki.ParseCertificatesPEM(f.Data); err == nil && len(certs) > 1 {
				out = appendConflicts(out, n, comps, it.Role.Name, f.Path)
			}
		}
	}
	return out
}

func appendConflicts(out []SigningConflict, n *nodefs.FS, comps []inventory.Component, ca, file string) []SigningConflict {
	caFile := resolved(n, file)
	for _, c := range comps {
		for _, fl := range SigningFlags {
			v, ok := c.Flags[fl]
			if !ok || v == "" || resolved(n, v) != caFile {
				continue
			}
			from := c.Origin
			if f, ok := c.FlagFrom[fl]; ok && f != "" {
				from = f
			}
			sc := SigningConflict{CA: ca, Component: c.Name, Flag: fl, From: from, Path: v}
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// signingCopyOf reports whether node path p is the signing copy of CA file
// caFile (both resolved inside the node).
func signingCopyOf(n *nodefs.FS, p, caFile string) bool {
	orig, ok := layout.SigningOriginal(p)
	return ok && resolved(n, orig) == resolved(n, caFile)
}
