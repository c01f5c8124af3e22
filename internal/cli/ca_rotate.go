package cli

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/spf13/cobra"
)

type caRotateFlags struct {
	rescue      rescueFlags
	status      bool
	until       int
	crossSign   bool
	rotateSAKey bool
	again       bool
	validity    string
	leaf        string
	output      string
	exportKeys  string
	importKeys  string
}

// newCARotateCmd is `ca rotate`: a CA to a new key in three phases, each
// through rescue's transaction.
func newCARotateCmd(env *Env) *cobra.Command {
	var f caRotateFlags
	c := &cobra.Command{
		Use:   "rotate all|NAME...",
		Short: "Rotate CAs to new keys in three resumable phases (trust both, re-issue, drop the old), with health checks",
		Long: `Rotate a CA to a NEW key (a lost or compromised key, or policy), in phases
read from the certificates and files themselves, so that a rerun after a
crash at any point continues where the node stands:

  0. a new CA (same subject, new key of the same kind) is made once and kept
     under /var/lib/certrescue/ca-rotate/NAME (key 0600) with the old one
  1. trust both: the old and the new CA certificate in every trust consumer:
     the CA file and what its flags read (kube-apiserver --client-ca-file,
     --requestheader-client-ca-file for front-proxy-ca, etcd --trusted-ca-file
     and --peer-trusted-ca-file, kube-apiserver --etcd-cafile, the kubelet's
     clientCAFile, the controller-manager's --root-ca-file), every copy and
     bundle, certificate-authority-data of every kubeconfig; restart what
     reads them, behind health gates; then kube-public/cluster-info and
     kube-system/kube-apiserver-ca in the cluster
  2. re-issue every leaf the CA signs from the new CA (--cross-sign: each
     leaf file also carries the new CA signed by the old, for clients that
     only know the old); the CA file's first certificate and the CA key
     become the new ones (the old certificate stays after it, trusted);
     restart; gate
  3. drop the old CA from every bundle and the cluster's ConfigMaps; restart;
     gate

A phase starts only when every consumer holds what the previous one left; a
node whose files disagree (some hold both CAs, some the old only; leaves
signed by a key the CA file does not hold) is refused, naming each file and
what it holds. Every phase is rescue's transaction: lock, backup, journaled
atomic deploy, restarts in order behind health gates, rollback on failure,
audit. --status says where each CA stands and changes nothing.

Service-account keys are not a CA and are left alone, unless --rotate-sa-key
(with the ca CA): phase 1 puts a new public key in front of the old one in
--service-account-key-file (both trusted, so tokens issued before keep
working), phase 2 makes the new private key the signing key.

On an HA control plane every control-plane node holds the CA keys and
rotates to the same new CAs: the first node writes them with --export-keys
(a key archive, 0600, checksummed), each other node takes them with
--import-keys (its own CA must be the archive's old one) and runs the same
phases; every node finishes a phase before any starts the next
(deploy/ansible/ca-rotate.yml does it node by node). Remove the key archive
from every node once phase 2 is done everywhere.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("ca rotate needs 'all' or CA names (ca, front-proxy-ca, etcd-ca)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runCARotate(cmd, env, &f, args) },
	}
	c.Flags().BoolVar(&f.status, "status", false, "say where each CA's rotation stands (every consumer, every leaf) and change nothing")
	c.Flags().IntVar(&f.until, "until", 3, "stop once this phase is done (1 trust both, 2 re-issue, 3 drop the old)")
	c.Flags().BoolVar(&f.crossSign, "cross-sign", false, "phase 2: re-issued leaves carry the new CA signed by the old one too")
	c.Flags().BoolVar(&f.rotateSAKey, "rotate-sa-key", false, "rotate the service-account key pair with the ca CA, both public keys trusted")
	c.Flags().StringVarP(&f.output, "output", "o", "text", "--status output: text or json")
	c.Flags().StringVar(&f.exportKeys, "export-keys", "", "write the new CAs (keys included, 0600) for the other control-plane nodes to this file ("+carotation.KeysArchivePath+")")
	c.Flags().StringVar(&f.importKeys, "import-keys", "", "rotate to the new CAs of this key archive (--export-keys on the node that started the rotation), not to new ones of this node")
	c.Flags().BoolVar(&f.again, "again", false, "start another rotation of a CA whose last one is done")
	c.Flags().StringVar(&f.validity, "validity", "87600h", "lifetime of the new CA certificates (87600h, 3650d, 10y)")
	c.Flags().StringVar(&f.leaf, "leaf-validity", "8760h", "lifetime of the re-issued leaves")
	addCATxnFlags(c, &f.rescue)
	return audited(withHelp(c, `  certrescue ca rotate all --status
  certrescue ca rotate all --dry-run
  certrescue ca rotate all
  certrescue ca rotate ca --until 1          # trust both, then roll the other nodes
  certrescue ca rotate all --until 1 --export-keys /var/lib/certrescue/ca-rotate-keys.tar.gz
  certrescue ca rotate all --until 1 --import-keys /var/lib/certrescue/ca-rotate-keys.tar.gz  # the other control-plane nodes
  certrescue ca rotate all --status -o json
  certrescue ca rotate ca --rotate-sa-key --cross-sign
  certrescue ca rotate etcd-ca --restart systemd`, `  0  every named CA reached the phase asked (--until), restarted and healthy; or --status, --dry-run
  1  refused, nothing changed: the node is half-rotated (its files disagree: listed), a CA key
     does not match or is not on the node; or a phase failed and was rolled back
  3  usage error (unknown CA name, bad flag)
  4  a phase restarted a component that had no health gate (named)`))
}

func runCARotate(cmd *cobra.Command, env *Env, f *caRotateFlags, args []string) error {
	validity, err := cfssl.ParseDuration(f.validity)
	if err != nil || validity <= 0 {
		return usagef("--validity %q: use a duration such as 87600h, 3650d or 10y", f.validity)
	}
	leafValidity, err := cfssl.ParseDuration(f.leaf)
	if err != nil || leafValidity <= 0 {
		return usagef("--leaf-validity %q: use a duration such as 8760h or 365d", f.leaf)
	}
	if f.until < 1 || f.until > 3 {
		return usagef("--until %d: a phase, 1, 2 or 3", f.until)
	}
	if f.output != "text" && f.output != "json" {
		return usagef("-o %q: text or json", f.output)
	}
	if f.output == "json" && !f.status {
		return usagef("-o json is --status's output")
	}
	if f.importKeys != "" && (f.again || f.rotateSAKey || f.crossSign) {
		return usagef("--import-keys rotates to the archive's new CAs as they were made: --again, --rotate-sa-key and --cross-sign are the first node's")
	}
	rf := &f.rescue
	rf.verb, rf.imported = "ca rotate", true // imported: no ca-renew archive, no renew publish (ca_publish.go)
	names, err := caNames(cmd, env, rf, args)
	if err != nil {
		return err
	}
	roles, _, err := rf.renew.roles(cmd.Context(), env)
	if err != nil {
		return err
	}
	cas := rescue.CARoles(env.Root, roles)
	var sel []layout.Role
	for _, name := range names {
		r, err := rescue.FindCA(cas, name)
		if err != nil {
			return usageError(err)
		}
		sel = append(sel, r)
	}
	if f.rotateSAKey && !containsCA(sel, "ca") {
		return usagef("--rotate-sa-key rotates the service-account key with the ca CA: name ca (or all)")
	}
	read := func() ([]*carotation.Status, error) {
		items, err := rf.renew.scanner(env)(cmd.Context())
		if err != nil {
			return nil, err
		}
		n := nodefs.New(env.Root)
		defer n.Close()
		var out []*carotation.Status
		var errs []error
		for _, r := range sel {
			st, err := carotation.Read(n, roles, r, items)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, st)
		}
		return out, errors.Join(errs...)
	}
	sts, err := read()
	if !f.status && !rf.dryRun && rescue.Unfinished(env.NodePath(rescue.StateDir)) != "" {
		// A crashed run first: rescue's recovery (resume its restarts, or
		// roll it back) with nothing planned, then read the node again. The
		// files may say a phase is done while its restarts are not.
		rf.planner = func() (*renewal.Plan, error) { return &renewal.Plan{Now: env.Clock.Now()}, nil }
		if err := runRescue(cmd, env, rf); err != nil {
			return err
		}
		sts, err = read()
	}
	if f.status && f.output == "json" && err == nil {
		return printRotateStatusJSON(env, sts)
	}
	if f.status || err != nil {
		printRotateStatus(env, sts)
		if u := rescue.Unfinished(env.NodePath(rescue.StateDir)); u != "" {
			fmt.Fprintf(env.Stdout, "unfinished run: %s\n", u)
		}
		return err
	}
	target := []carotation.Phase{0, carotation.PhaseTrusted, carotation.PhaseReissued, carotation.PhaseDone}[f.until]
	if err := refuseSigningBundles(env, sts); err != nil {
		return err
	}

	if f.importKeys != "" {
		// Another control-plane node's new CAs, not new ones of this node.
		if sts, err = importKeys(cmd, env, f, sts); err != nil {
			return err
		}
	}
	// A new CA for every CA not rotating (or done, with --again).
	if sts, err = startRotations(cmd, env, f, roles, sts, validity); err != nil {
		return err
	}
	if f.exportKeys != "" && !rf.dryRun {
		if err := exportKeys(cmd, env, f.exportKeys, sts); err != nil {
			return err
		}
	}
	for step := 0; step < 4; step++ {
		if !rf.dryRun {
			publishPhase(cmd, env, sts)
			exportPhase(cmd, env, sts)
		}
		if reached(sts, target) {
			printRotateStatus(env, sts)
			fmt.Fprintf(env.Stdout, "ca rotate: every CA named is at least at: %s\n", target)
			return nil
		}
		before := phases(sts)
		rf.planner = func() (*renewal.Plan, error) {
			// After the lock and the recovery of a crashed run: read again
			// (a dry run plans from the new CA it made in memory).
			now := sts
			if !rf.dryRun {
				var err error
				if now, err = read(); err != nil {
					return nil, err
				}
			}
			var next []*carotation.Status
			for _, st := range now {
				if st.Phase < target {
					next = append(next, st)
				}
			}
			n := nodefs.New(env.Root)
			defer n.Close()
			return carotation.Plan(n, carotation.Options{Root: env.Root, Roles: roles, Now: env.Clock.Now(), Validity: leafValidity,
				Running: func(c []string) []string { return rescue.RunningHere(env.Root, c) }, Components: components(env)}, next)
		}
		rf.expected = nil
		for _, st := range sts {
			if st.New != nil {
				rf.expected = append(rf.expected, st.New, st.Old)
			}
		}
		fmt.Fprintf(env.Stdout, "ca rotate: %s\n", describePhases(sts))
		if err := runRescue(cmd, env, rf); err != nil {
			return err
		}
		if rf.dryRun {
			return nil
		}
		if sts, err = read(); err != nil {
			printRotateStatus(env, sts)
			return err
		}
		if rf.strategy == restart.None {
			printRotateStatus(env, sts)
			fmt.Fprintf(env.Stdout, "restart the components above yourself, then run again: %s\n", env.command(append([]string{"ca", "rotate"}, args...)...).String())
			return nil
		}
		if phases(sts) == before && (rf.report == nil || rf.report.Recovered == "") {
			return fmt.Errorf("ca rotate: the phase did not advance (%s)", describePhases(sts))
		}
	}
	return nil
}

func containsCA(rs []layout.Role, name string) bool {
	for _, r := range rs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// startRotations makes and keeps the new CA of every CA that is not
// rotating; a dry run makes it in memory only.
func startRotations(cmd *cobra.Command, env *Env, f *caRotateFlags, roles []layout.Role, sts []*carotation.Status, validity time.Duration) ([]*carotation.Status, error) {
	n := nodefs.New(env.Root)
	defer n.Close()
	for i, st := range sts {
		if st.Phase == carotation.PhaseDone && f.again {
			if err := carotation.Forget(n, st.Role.Name); err != nil {
				return nil, err
			}
			st = &carotation.Status{Role: st.Role, Old: st.New, Phase: carotation.PhaseNone}
			sts[i] = st
		}
		if st.Phase != carotation.PhaseNone {
			continue
		}
		old, key, err := carenewal.Load(n, st.Role)
		if err != nil {
			return nil, err
		}
		o := carotation.NewOptions{Now: env.Clock.Now(), Validity: validity, CrossSign: f.crossSign}
		if f.rotateSAKey && st.Role.Name == "ca" {
			if o.SAKeyLike, err = carotation.SAPublic(n, roles); err != nil {
				return nil, err
			}
		}
		p, err := carotation.NewPending(st.Role.Name, old, key, o)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(env.Stdout, "ca rotate: new CA for %s: %q, subject key ID %x, valid until %s\n", st.Role.Name, p.New.Subject.CommonName, p.New.SubjectKeyId, p.New.NotAfter.UTC().Format(time.DateOnly))
		if f.rescue.dryRun {
			cp := *st
			cp.Pending, cp.New, cp.Phase = p, p.New, carotation.PhaseStarted
			sts[i] = &cp
			continue
		}
		if err := carotation.Save(n, p, env.newTxn(cmd, TxnDir)); err != nil {
			return nil, err
		}
		if err := env.record(cmd, CertEvent{Action: facts.ActionCreate, Name: st.Role.Name, Path: path.Join(carotation.Dir, st.Role.Name), Cert: p.New, Previous: old,
			Detail: "ca rotate: new CA key, pending"}); err != nil {
			return nil, err
		}
	}
	if f.rescue.dryRun {
		return sts, nil
	}
	items, err := f.rescue.renew.scanner(env)(cmd.Context())
	if err != nil {
		return nil, err
	}
	var errs []error
	for i := range sts {
		st, err := carotation.Read(n, roles, sts[i].Role, items)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sts[i] = st
	}
	return sts, errors.Join(errs...)
}

// publishPhase puts into the cluster's ConfigMaps what the node's phase
// says (both CAs after phase 1, the new only when done), once the API
// server answers. Reruns do it again: it is idempotent.
func publishPhase(cmd *cobra.Command, env *Env, sts []*carotation.Status) {
	var reps []catrust.Replace
	for _, st := range sts {
		if r, ok := st.ClusterReplace(); ok {
			reps = append(reps, r)
		}
	}
	if len(reps) == 0 {
		return
	}
	if err := publish(cmd, env, "", "", reps); err != nil {
		env.warnf("%v\nrerun ca rotate once the API answers: it publishes again", err)
	}
}

func reached(sts []*carotation.Status, target carotation.Phase) bool {
	for _, st := range sts {
		if st.Phase < target {
			return false
		}
	}
	return true
}

func phases(sts []*carotation.Status) string {
	var b strings.Builder
	for _, st := range sts {
		fmt.Fprintf(&b, "%s=%d ", st.Role.Name, st.Phase)
	}
	return b.String()
}

func describePhases(sts []*carotation.Status) string {
	var parts []string
	for _, st := range sts {
		parts = append(parts, st.Role.Name+": "+st.Phase.String())
	}
	return strings.Join(parts, "; ")
}

func printRotateStatus(env *Env, sts []*carotation.Status) {
	for _, st := range sts {
		fmt.Fprintf(env.Stdout, "%s (%s): %s\n", st.Role.Name, st.Role.CertPath, st.Phase)
		fmt.Fprintf(env.Stdout, "  old CA: subject key ID %x, until %s\n", st.Old.SubjectKeyId, st.Old.NotAfter.UTC().Format(time.DateOnly))
		if st.New != nil {
			fmt.Fprintf(env.Stdout, "  new CA: subject key ID %x, until %s (key %s)\n", st.New.SubjectKeyId, st.New.NotAfter.UTC().Format(time.DateOnly),
				map[bool]string{true: "in place", false: "pending"}[st.KeyIsNew])
		}
		for _, line := range st.Summary(env.Clock.Now()) {
			fmt.Fprintf(env.Stdout, "  %s\n", line)
		}
	}
}

// refuseSigningBundles refuses, before anything is changed, a rotation whose
// phases 1 and 2 would put two certificates in a file the controller-manager
// signs with, when its flag cannot be pointed at the signing copy
// (carotation.SigningFlags): it would not start again.
func refuseSigningBundles(env *Env, sts []*carotation.Status) error {
	r := inventory.NewReader(env.Root)
	defer r.Node.Close()
	comps, _ := r.Components()
	var se *carotation.SigningError
	if err := carotation.CheckSigningFlags(r.Node, comps, sts); errors.As(err, &se) {
		return signingRefusal(se.Conflicts)
	} else if err != nil {
		return err
	}
	return nil
}

// components are the node's components, for the planner.
func components(env *Env) []inventory.Component {
	r := inventory.NewReader(env.Root)
	defer r.Node.Close()
	comps, _ := r.Components()
	return comps
}

// signingRefusal says which signing flags name a file a rotation would make
// a bundle, and what to do; nil when none.
func signingRefusal(conflicts []carotation.SigningConflict) error {
	if len(conflicts) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("ca rotate: nothing was changed: phases 1 and 2 make the CA file a bundle of the old and the new CA, and the controller-manager refuses a bundle in a file it signs with (\"expected 1 certificate\"):\n")
	for _, c := range conflicts {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	b.WriteString("certrescue points such a flag at a single-certificate copy (ca-signing.crt beside ca.crt) for phases 1 and 2 and back in phase 3, " +
		"but only where the flag is written once, with that value, in the manifest, unit, drop-in or environment file it is read from.\n")
	b.WriteString("otherwise remove these flags and their --cluster-signing-*-key-file for the rotation (the controller-manager's CSR signer is off meanwhile: " +
		"approve or sign kubelet CSRs with certrescue sign), restart the controller-manager, run ca rotate through phase 3, then put them back " +
		"(docs/runbook-expired-ca.md, rotation)")
	return errors.New(b.String())
}
