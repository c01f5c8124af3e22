package cli

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/spf13/cobra"
)

// exportPhase writes the archive the other nodes need at the node's phase
// (carotation.ArchivePhase): trust-both once phase 1 is done, new-only when
// every CA is done. The same bytes are rewritten on a rerun.
func exportPhase(cmd *cobra.Command, env *Env, sts []*carotation.Status) {
	phase := carotation.ArchivePhase(sts)
	if phase == "" {
		return
	}
	host := ""
	if data, err := env.FS().Read("/etc/hostname", 256); err == nil {
		host = strings.TrimSpace(string(data))
	}
	p := carotation.ArchivePath(phase)
	m := carotation.ArchiveManifest(sts, phase, earliest(sts), host)
	data, err := catrust.WriteArchive(m)
	if err == nil {
		n := env.FS()
		if err = n.MkdirAll(path.Dir(p), 0o700); err == nil {
			err = n.WriteSet([]nodefs.Put{{Path: p, Data: data, Mode: 0o644}}, nodefs.WriteOptions{Force: true})
		}
	}
	if err != nil {
		env.warnf("the archive for the other nodes was not written: %v", err)
		return
	}
	fmt.Fprintf(env.Stdout, "archive for the other nodes (%s): %s (copy it to each and run: %s)\n", phase, p, env.command("ca", "apply", path.Base(p)).String())
	_ = env.record(cmd, CertEvent{Action: facts.ActionCreate, Name: "ca-rotate-archive", Path: p, Detail: fmt.Sprintf("%s, %d CA certificates", phase, len(m.CAs))})
}

// earliest is the archive's creation time: the new CAs' NotBefore, so that
// a rerun writes the same bytes.
func earliest(sts []*carotation.Status) (t0 time.Time) {
	for _, st := range sts {
		if st.New != nil && (t0.IsZero() || st.New.NotBefore.Before(t0)) {
			t0 = st.New.NotBefore
		}
	}
	return t0
}

// runRotateApply is ca apply of a rotation's archive: every trust consumer
// of this node gets the new CA beside the old (trust-both) or alone
// (new-only), through rescue's transaction.
func runRotateApply(cmd *cobra.Command, env *Env, f *rescueFlags, name string, m *catrust.Manifest) error {
	for _, ca := range m.CAs {
		fmt.Fprintf(env.Stdout, "%s: rotation (%s) of %s to %s, valid until %s (sha256 %s)\n", name, m.Phase, ca.Name, ca.Subject, ca.NotAfter.Format("2006-01-02"), ca.NewSHA256[:16])
	}
	roles, _, err := f.renew.roles(cmd.Context(), env)
	if err != nil {
		return err
	}
	f.verb, f.imported = "ca apply", true
	for _, ca := range m.CAs {
		f.expected = append(f.expected, ca.Cert)
	}
	f.planner = func() (*renewal.Plan, error) {
		items, err := f.renew.scanner(env)(cmd.Context())
		if err != nil {
			return nil, err
		}
		n := nodefs.New(env.Root)
		defer n.Close()
		plan, err := carotation.ApplyPlan(n, carotation.Options{Root: env.Root, Roles: roles, Now: env.Clock.Now(),
			Running: func(c []string) []string { return rescue.RunningHere(env.Root, c) }}, items, m)
		if err != nil {
			return nil, err
		}
		r := inventory.NewReader(env.Root)
		defer r.Node.Close()
		comps, _ := r.Components()
		if err := signingRefusal(carotation.SigningBundles(r.Node, comps, plan)); err != nil {
			return nil, err
		}
		return plan, nil
	}
	return runRescue(cmd, env, f)
}
