package cli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/spf13/cobra"
)

// importKeys makes the key archive's rotations (ca rotate --export-keys on
// the node that started them) this node's pending ones, for every CA named:
// every control-plane node of an HA plane rotates to the same new CA. Every
// CA is checked before the first is written; a dry run writes nothing and
// plans from the archive's new CAs in memory.
func importKeys(cmd *cobra.Command, env *Env, f *caRotateFlags, sts []*carotation.Status) ([]*carotation.Status, error) {
	if strings.TrimSpace(f.importKeys) == "-" {
		return nil, usagef("--import-keys names a file (it holds private keys: not through stdin)")
	}
	data, err := readInput(env, "key archive", f.importKeys)
	if err != nil {
		return nil, err
	}
	ps, err := carotation.ReadKeysArchive(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; nothing was changed", f.importKeys, err)
	}
	byName := map[string]*carotation.Pending{}
	var in []string
	for _, p := range ps {
		byName[p.Name] = p
		in = append(in, p.Name)
	}
	n := env.FS()
	todo := map[int]*carotation.Pending{}
	again := map[int]bool{}
	for i, st := range sts {
		p := byName[st.Role.Name]
		if p == nil {
			return nil, fmt.Errorf("%s: no rotation of %s in the archive (it holds %s): name those CAs; nothing was changed", f.importKeys, st.Role.Name, strings.Join(in, ", "))
		}
		if st.Phase == carotation.PhaseDone && !bytes.Equal(st.New.Raw, p.New.Raw) && carenewal.SameCA(st.New, p.Old) {
			// Another rotation after this one finished (--again there):
			// the finished one is forgotten first, as --again does.
			again[i] = true
			todo[i] = p
			continue
		}
		done, err := carotation.Importable(n, p, st.Old)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.importKeys, err)
		}
		if !done {
			todo[i] = p
		}
	}
	for i, st := range sts {
		p := todo[i]
		if p == nil {
			continue
		}
		fmt.Fprintf(env.Stdout, "ca rotate: new CA for %s from %s: %q, subject key ID %x, valid until %s\n", st.Role.Name, f.importKeys,
			p.New.Subject.CommonName, p.New.SubjectKeyId, p.New.NotAfter.UTC().Format(time.DateOnly))
		if again[i] {
			if !f.rescue.dryRun {
				if err := carotation.Forget(n, st.Role.Name); err != nil {
					return nil, err
				}
			}
			st = &carotation.Status{Role: st.Role, Old: st.New, Phase: carotation.PhaseNone}
		}
		if !f.rescue.dryRun {
			if _, err := carotation.Import(n, p, st.Old, env.newTxn(cmd, TxnDir)); err != nil {
				return nil, err
			}
			if err := env.record(cmd, CertEvent{Action: facts.ActionCreate, Name: st.Role.Name, Path: path.Join(carotation.Dir, st.Role.Name), Cert: p.New, Previous: st.Old,
				Detail: "ca rotate: new CA key imported from " + filepath.Base(f.importKeys) + ", pending"}); err != nil {
				return nil, err
			}
		}
		// Pending now: startRotations makes no new CA of its own for it
		// (and reads the node again after a real import).
		cp := *st
		cp.Pending, cp.New, cp.Phase = p, p.New, carotation.PhaseStarted
		sts[i] = &cp
	}
	return sts, nil
}

// exportKeys writes the key archive of the node's pending rotations (the
// new CA keys) for the other control-plane nodes: 0600, atomically, an
// absolute path on the node (under --root), a relative one in the working
// directory. Never to stdout: it holds private keys.
func exportKeys(cmd *cobra.Command, env *Env, dest string, sts []*carotation.Status) error {
	var ps []*carotation.Pending
	var names []string
	for _, st := range sts {
		if st.Pending != nil {
			ps = append(ps, st.Pending)
			names = append(names, st.Role.Name)
		}
	}
	data, err := carotation.WriteKeysArchive(ps, earliest(sts))
	if err != nil {
		return err
	}
	fsys := env.FS()
	if !filepath.IsAbs(dest) {
		fsys = nodefs.Host()
	}
	if _, err := makeDirs(fsys, filepath.Dir(dest)); err != nil {
		return err
	}
	if err := fsys.WriteSet([]nodefs.Put{{Path: dest, Data: data, Mode: atomicfile.KeyMode}}, nodefs.WriteOptions{Force: true}); err != nil {
		return fmt.Errorf("--export-keys %s: %w", dest, err)
	}
	fmt.Fprintf(env.Stdout, "key archive for the other control-plane nodes (%s; new CA keys, 0600; remove it everywhere once phase 2 is done on every node): %s\n",
		strings.Join(names, ", "), shownPath(fsys, dest))
	fmt.Fprintf(env.Stdout, "  on each of them: %s\n", env.command("ca", "rotate", strings.Join(names, " "), "--import-keys", filepath.Base(dest), "--until", "1").String())
	return env.record(cmd, CertEvent{Action: facts.ActionCreate, Name: "ca-rotate-keys", Path: shownPath(fsys, dest),
		Detail: fmt.Sprintf("ca rotate: key archive of %s written (0600)", strings.Join(names, ", "))})
}

// rotateStatusJSON is --status -o json: where each CA stands, for scripts
// and playbooks (ca-rotate.yml reads the new cluster CA's key ID).
type rotateStatusJSON struct {
	Name       string          `json:"name"`
	CertPath   string          `json:"certPath"`
	Phase      int             `json:"phase"`
	State      string          `json:"state"`
	Old        *rotateCAJSON   `json:"old"`
	New        *rotateCAJSON   `json:"new,omitempty"`
	KeyIsNew   bool            `json:"keyIsNew"`
	Consumers  []rotateFileRef `json:"consumers"`
	LeavesOld  []string        `json:"leavesOnOld"`
	ServiceKey string          `json:"serviceAccountKey,omitempty"`
}

type rotateCAJSON struct {
	Subject      string    `json:"subject"`
	SubjectKeyID string    `json:"subjectKeyId"`
	SHA256       string    `json:"sha256"`
	NotAfter     time.Time `json:"notAfter"`
}

type rotateFileRef struct {
	Path  string `json:"path"`
	Holds string `json:"holds"`
}

func printRotateStatusJSON(env *Env, sts []*carotation.Status) error {
	out := []rotateStatusJSON{}
	for _, st := range sts {
		j := rotateStatusJSON{Name: st.Role.Name, CertPath: st.Role.CertPath, Phase: int(st.Phase), State: st.Phase.String(),
			Old: caJSON(st), KeyIsNew: st.KeyIsNew, ServiceKey: st.SA, Consumers: []rotateFileRef{}, LeavesOld: []string{}}
		if st.New != nil {
			j.New = &rotateCAJSON{Subject: st.New.Subject.String(), SubjectKeyID: hex.EncodeToString(st.New.SubjectKeyId),
				SHA256: catrust.Fingerprint(st.New), NotAfter: st.New.NotAfter.UTC()}
		}
		for _, c := range st.Consumers {
			ref := rotateFileRef{Path: c.Path, Holds: string(c.State)}
			if !slices.Contains(j.Consumers, ref) {
				j.Consumers = append(j.Consumers, ref)
			}
		}
		for _, l := range st.Leaves {
			if !l.ByNew {
				j.LeavesOld = append(j.LeavesOld, l.Path)
			}
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func caJSON(st *carotation.Status) *rotateCAJSON {
	return &rotateCAJSON{Subject: st.Old.Subject.String(), SubjectKeyID: hex.EncodeToString(st.Old.SubjectKeyId),
		SHA256: catrust.Fingerprint(st.Old), NotAfter: st.Old.NotAfter.UTC()}
}
