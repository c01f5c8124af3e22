package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/certrescue/certrescue/internal/carotation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/renewal"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/spf13/cobra"
)

type rescueFlags struct {
	renew       renewFlags
	backup      backupFlags
	dryRun, all bool
	within      string
	strategy    string
	commands    []string
	units       []string
	moveMan     bool
	gates       []string
	gateTimeout time.Duration
	// ca renew (ca_renew.go): the CAs to renew on their keys, no leaf.
	cas        []string
	caOnly     bool
	caValidity time.Duration
	export     string // node path of the archive for the other nodes
	imported   bool   // ca apply: the CAs come from another node's archive
	importCAs  []*x509.Certificate
	verb       string // the command's name in the header; "rescue" when ""

	// due and dueRule: renew --auto's rule for what is due (rescue.Options.Due).
	due      func(*x509.Certificate, time.Time) bool
	dueRule  string
	reload   reloadFlags
	planner  rescue.Planner      // ca rotate (ca_rotate.go): the phase's plan
	expected []*x509.Certificate // and its new CAs, made in memory by a dry run
	report   *rescue.Report      // what the last run did
}

func init() {
	register(63, func(env *Env) *cobra.Command {
		var f rescueFlags
		c := &cobra.Command{
			Use:   "rescue",
			Short: "Renew what is expired or expiring, restart in order with health checks, roll back on failure",
			Long: `The field guide's emergency procedure in one command, checked at every step:

  1. check        find the certificates that are expired or expire within --within
  2. lock         a second rescue on the same node is refused
  3. plan         renew each from its own template, signed by its role's CA, and
                  run check on the renewed set: what it still finds critical (a
                  SAN missing for the service IP, a key mismatch, an untrusted
                  chain) is shown with the flag that fixes it; the run then goes
                  on (renewed beats expired) but ends "renewed, still critical"
  4. backup       every file the renewal replaces and every file it relies on
                  (CA certificates and keys, files kubeconfigs reference), whatever
                  the layout, plus /etc/kubernetes and /var/lib/kubelet/pki,
                  verified (--dry-run stops before this and changes nothing)
  5. deploy       every file staged, then renamed into place
  6. restart      etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
                  kubelet, in that order, each followed by its health gates; a
                  credential its component takes up by itself (docs/reload.md:
                  the API server's serving certificate, CAs and front-proxy,
                  kubelet and etcd client certificates, etcd's certificates) is
                  not restarted for but gated on the component using it (the
                  served certificate, or its peer accepting it); one still in
                  use after the table's time is restarted after all
                  (--reload=false restarts everything). A controller-manager or
                  scheduler is healthy once its new process holds its leader
                  lease. A component whose certificates expired is killed 1s
                  after SIGTERM (it cannot work anyway); a planned renewal
                  gives it its normal stop period (--stop-grace overrides)

Health gates come from each component's own flags, as the static pod manifest,
the systemd unit (with its drop-ins and EnvironmentFile=) or the k3s/RKE2
configuration starts it: etcd /health on a local --listen-client-urls with a
client certificate etcd trusts; the API server's /livez and /readyz on its
--bind-address or --advertise-address and --secure-port (never the load
balancer a kubeconfig names), as admin.conf, a controller-manager or scheduler
kubeconfig or --kubelet-client-certificate; the controller-manager's and
scheduler's /healthz on their --secure-port; the kubelet's healthz port. etcd
and the API server must serve the renewed certificate now on disk. A component
restarted without a gate is reported as restarted and NOT verified (exit 4).

A failed restart or gate restores the backup, restarts again and reports what
failed, with exit code 1. Every step is journaled under /var/lib/certrescue, so
a rerun after a crash resumes or rolls back, never leaving old and new files
mixed. admin.conf always gets its own client certificate.

Restart strategies (--restart): auto (the default: each component the way the
node starts it: a static pod manifest with crictl, a systemd unit with
systemctl restart UNIT, k3s/RKE2 with their k3s.service or rke2-server.service),
static-pod (crictl stops the container, the kubelet recreates it;
--move-manifest moves the manifest out and back), systemd (systemctl restart
UNIT), command (--restart-command NAME=CMD for each component), none (renew,
then print what to restart). auto, static-pod and systemd restart processes of
this machine: with --root other than / they are refused (that disk belongs to
another machine); use command or none there. The dry run checks everything the
real run needs: crictl or systemctl on PATH, a command for each component, the
files each gate reads.`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error { return runRescue(cmd, env, &f) },
		}
		f.renew.add(c)
		f.backup.addDir(c)
		f.backup.addPaths(c)
		c.Flags().BoolVar(&f.dryRun, "dry-run", false, "check and print the plan, then stop: nothing is changed, nothing is backed up")
		c.Flags().BoolVar(&f.all, "all", false, "renew every certificate, not only the expired or expiring ones")
		c.Flags().StringVar(&f.within, "within", "30d", "renew what expires within this (30d, 720h)")
		c.Flags().StringVar(&f.strategy, "restart", restart.Auto, "how to restart components: "+strings.Join(restart.Strategies, ", "))
		c.Flags().StringArrayVar(&f.commands, "restart-command", nil, "COMPONENT=COMMAND for --restart command (repeatable; run with sh -c)")
		c.Flags().StringArrayVar(&f.units, "systemd-unit", nil, "COMPONENT=UNIT for --restart systemd or auto when a unit is not named after its component (repeatable)")
		c.Flags().BoolVar(&f.moveMan, "move-manifest", false, "static-pod: move the manifest out and back instead of stopping the container")
		c.Flags().StringArrayVar(&f.gates, "gate", nil, "COMPONENT=URL to probe instead of the one derived from its flags (the API server: its base URL), or COMPONENT=off (repeatable)")
		c.Flags().DurationVar(&f.gateTimeout, "gate-timeout", 90*time.Second, "how long each health gate may take to pass")
		f.reload.add(c)
		return audited(withHelp(c, `  certrescue rescue --dry-run
  certrescue rescue
  certrescue rescue --all --rotate-keys
  certrescue rescue --restart systemd --systemd-unit etcd=etcd-member
  certrescue --root /mnt/node rescue --restart none
  certrescue rescue --restart command \
    --restart-command etcd='systemctl restart etcd' \
    --restart-command kube-apiserver='systemctl restart kube-apiserver' ...
  certrescue rescue --restart none          # renew; print what to restart`, `  0  renewed, restarted and healthy; or nothing to do; or a dry run that found everything the run needs
  1  refused (another rescue is running, a CA is expired, the dry run found crictl, systemctl, a
     command or a gate's credentials missing) or failed and rolled back (the message says what failed)
  3  usage error (also: --restart auto, static-pod or systemd with --root other than /)
  4  renewed and restarted, but not verified: a restarted component had no health gate (named)
  5  renewed, still critical: deployed (and restarted) as planned, but check still finds
     a critical problem in the renewed certificates (a SAN missing for the service IP or
     the node address, a key mismatch, an untrusted chain); the plan names the flag that
     fixes it (--add-san 10.96.0.1, --rotate-keys) and "next:" the command to run.
     With --dry-run: the renewal would leave it so. 5 wins over 4 when both apply`))
	})
}

func runRescue(cmd *cobra.Command, env *Env, f *rescueFlags) error {
	within, err := cfssl.ParseDuration(f.within)
	if err != nil {
		return usagef("--within: %w", err)
	}
	roles, _, err := f.renew.roles(cmd.Context(), env)
	if err != nil {
		return err
	}
	ro, err := f.renew.options(env, roles, nil)
	if err != nil {
		return err
	}
	reader := inventory.NewReader(env.Root)
	restarter, manual, err := f.restarter(env, reader)
	if err != nil {
		return err
	}
	endpoints, err := parseGates(f.gates)
	if err != nil {
		return err
	}
	ho := health.Options{Endpoints: endpoints, Timeout: f.gateTimeout, Clock: env.Clock}
	gates, notes := health.ForNode(reader, ho)
	p := newProgress(env.Stdout, wall)
	p.dryRun, p.manual, p.where = f.dryRun, manual, mountedNode(env)
	p.next = func(fix []string) string {
		if f.dryRun {
			return rerun(cmd, env, nil, nil, fix...)
		}
		if !f.all && f.due == nil {
			fix = append([]string{"--all"}, fix...) // what was due is renewed now: renew it all again, fixed
		}
		return rerun(cmd, env, nil, nil, fix...)
	}
	var recErrs []error
	var reloadGate func(reload.Take) (health.Gate, bool, error) // set below, used by the plan's output
	txn := env.newTxn(cmd, TxnDir)
	o := rescue.Options{
		Txn:         txn,
		Intent:      func(plan *renewal.Plan) error { return planIntent(cmd, env, plan, facts.ActionRenew, txn) },
		Root:        env.Root,
		Roles:       roles,
		Renew:       ro,
		All:         f.all,
		Within:      within,
		DryRun:      f.dryRun,
		BackupDir:   f.backup.realDir(env),
		BackupPaths: f.backup.paths,
		Scan:        f.renew.scanner(env),
		StateDir:    env.NodePath(rescue.StateDir),
		Restarter:   restarter,
		Manual:      manual,
		Clock:       env.Clock,
		Wall:        wall, // gates and step timings measure real processes
		Gates:       gates,
		Events: func(e rescue.Event) {
			if e.Action != "" {
				recErrs = append(recErrs, env.record(cmd, CertEvent{Action: e.Action, Name: e.Name, Path: e.Path, Cert: e.Cert, Previous: e.Previous, Err: e.Err}))
				return
			}
			p.event(e)
			if e.Step == "plan" && e.Status == rescue.EventOK && e.Plan != nil {
				restarts := e.Plan.Components()
				if e.Decision != nil {
					restarts = e.Decision.Restart
				}
				printRestarts(env.Stdout, restarts, restarter, manual, gates, notes)
				printReloads(env.Stdout, e.Decision, reloadGate, restarter, gates)
			}
		},
		BeforeDeploy: beforeDeploy(cmd.Context()), // nil but in tests (testhooks.go)
		CAs:          f.cas,
		CAOnly:       f.caOnly,
		CAValidity:   f.caValidity,
		Imported:     f.importCAs,
		Due:          f.due,
		DueRule:      f.dueRule,
		Planner:      f.planner,

		ExpectedAnchors: append(carotation.Anchors(env.FS()), f.expected...),
	}
	if err := f.reload.apply(&o, reader, ho); err != nil {
		return err
	}
	reloadGate = o.ReloadGate
	verb := f.verb
	if verb == "" {
		verb = "rescue"
	}
	fmt.Fprintf(env.Stdout, "certrescue %s of %s (%d credentials found, restart: %s)\n", verb, env.Root, len(roles), f.strategy)
	rep, err := rescue.Run(cmd.Context(), o)
	f.report = rep
	p.summary(rep, err)
	afterCARenewal(cmd, env, f, rep) // ca_publish.go
	printRescueHints(env, f, rep)
	if errors.Is(err, rescue.ErrUnverified) {
		err = &ExitError{Code: ExitUnverified, Err: err}
	}
	if rep != nil && (rep.Result == rescue.ResultStillCritical || rep.Result == rescue.ResultDryRun) {
		err = stillCritical(err, rep.Critical, f.dryRun)
	}
	if err != nil {
		return errors.Join(append([]error{rescueAdvice(env, &f.backup, err)}, recErrs...)...)
	}
	return errors.Join(recErrs...)
}

// ExitUnverified is rescue's exit code when it renewed and restarted but a
// restarted component had no health gate.
const ExitUnverified = 4

func (f *rescueFlags) restarter(env *Env, reader *inventory.Reader) (restart.Restarter, bool, error) {
	if len(f.commands) > 0 && f.strategy != restart.Command {
		return nil, false, usagef("--restart-command needs --restart command (got --restart %s)", f.strategy)
	}
	if err := restart.CheckRoot(f.strategy, env.Root); err != nil {
		return nil, false, usagef("%w: that disk belongs to another machine; pass --restart command with --restart-command NAME=COMMAND for each component (commands that restart them on that node), or --restart none", err)
	}
	units, err := parsePairs("--systemd-unit", f.units)
	if err != nil {
		return nil, false, err
	}
	staticPod := restart.StaticPodRestarter{Root: env.Root, MoveManifest: f.moveMan, Clock: wall}
	switch f.strategy {
	case restart.Auto:
		comps, _ := reader.Components()
		servers, _ := reader.RancherServers()
		targets := restart.Targets(comps, servers)
		for c, u := range units {
			t := targets[c]
			t.Component, t.Strategy, t.Unit = c, restart.Systemd, u
			if t.Origin == "" {
				t.Origin = "--systemd-unit"
			}
			targets[c] = t
		}
		return restart.AutoRestarter{Targets: targets, StaticPod: staticPod}, false, nil
	case restart.StaticPod:
		return staticPod, false, nil
	case restart.Systemd:
		return restart.SystemdRestarter{Units: units}, false, nil
	case restart.Command:
		cmds, err := restart.ParseCommands(f.commands, layout.RestartOrder)
		if err != nil {
			return nil, false, usageError(err)
		}
		if len(cmds) == 0 {
			return nil, false, usagef("--restart command needs --restart-command COMPONENT=COMMAND for each component to restart")
		}
		return restart.CommandRestarter{Commands: cmds}, false, nil
	case restart.None:
		return restart.NoneRestarter{}, true, nil
	}
	return nil, false, usagef("--restart %q: use %s", f.strategy, strings.Join(restart.Strategies, ", "))
}

// printRestarts shows, for each component the plan restarts, how it will be
// restarted and which gates will check it, or that nothing will.
func printRestarts(w io.Writer, components []string, r restart.Restarter, manual bool, gates map[string][]health.Gate, notes []health.Note) {
	if len(components) == 0 {
		return
	}
	fmt.Fprintln(w, "restarts and health gates:")
	for _, c := range components {
		fmt.Fprintf(w, "  %-24s %s\n", c+":", r.Describe(c))
		if manual {
			continue
		}
		for _, g := range gates[c] {
			fmt.Fprintf(w, "  %-24s gate %s\n", "", g.Name)
		}
		for _, n := range notes {
			switch {
			case n.Component != c:
			case n.NoGate:
				fmt.Fprintf(w, "  %-24s %s: restarted, NOT verified (exit %d)\n", "", n.Text, ExitUnverified)
			default:
				fmt.Fprintf(w, "  %-24s   %s\n", "", n.Text)
			}
		}
	}
	fmt.Fprintln(w)
}

func parseGates(specs []string) (map[string]string, error) {
	out, err := parsePairs("--gate", specs)
	if err != nil {
		return nil, err
	}
	for c := range out {
		if !slices.Contains(layout.RestartOrder, c) {
			return nil, usagef("--gate %s=...: unknown component (use %s)", c, strings.Join(layout.RestartOrder, ", "))
		}
	}
	return out, nil
}

func parsePairs(flag string, specs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range specs {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" || v == "" {
			return nil, usagef("%s %q: want NAME=VALUE", flag, s)
		}
		out[k] = v
	}
	return out, nil
}

// progress prints a rescue step by step with timings.
type progress struct {
	w      io.Writer
	clock  clock.Clock // the wall clock: elapsed time of the run
	start  time.Time
	dryRun bool
	manual bool   // --restart none: the operator restarts
	where  string // " (on the node whose disk is mounted at R)" under --root
	// next is the command to run with the flags that fix what is left critical.
	next func(fix []string) string
}

func newProgress(w io.Writer, c clock.Clock) *progress {
	return &progress{w: w, clock: c, start: c.Now()}
}

func (p *progress) event(e rescue.Event) {
	if e.Status == rescue.EventStart {
		if e.Step == "gate" {
			fmt.Fprintf(p.w, "  %-8s %-24s waiting: %s\n", "gate", e.Component, e.Detail)
		}
		return
	}
	mark := map[string]string{rescue.EventOK: "ok", rescue.EventFail: "FAILED", rescue.EventSkip: "skip"}[e.Status]
	took := ""
	if e.Took > 0 {
		took = fmt.Sprintf("%.2fs", e.Took.Seconds())
	}
	detail := e.Detail
	if e.Err != nil {
		detail = strings.TrimSpace(detail + " " + e.Err.Error())
	}
	fmt.Fprintf(p.w, "[%6.2fs] %-8s %-24s %-6s %7s  %s\n", p.clock.Now().Sub(p.start).Seconds(), e.Step, e.Component, mark, took, detail)
	if e.Step == "plan" && e.Plan != nil {
		fmt.Fprintln(p.w)
		_ = printPlan(p.w, "table", e.Plan, "") // a progress stream: a failed write has nowhere to go
		printCritical(p.w, e.Critical, criticalHeading(e.Critical, true))
		fmt.Fprintln(p.w)
	}
}

func (p *progress) summary(rep *rescue.Report, err error) {
	if rep == nil {
		return
	}
	fmt.Fprintf(p.w, "\nresult: %s in %.2fs", rep.Result, rep.Took.Seconds())
	if rep.Backup != nil {
		fmt.Fprintf(p.w, "; backup %s", rep.Backup.ID)
	}
	fmt.Fprintln(p.w)
	if rep.Recovered != "" {
		fmt.Fprintf(p.w, "recovered: %s\n", rep.Recovered)
	}
	switch rep.Result {
	case rescue.ResultManualRestart:
		fmt.Fprintf(p.w, "restart now, in this order: %s%s\n", strings.Join(rep.Components, ", "), p.where)
	case rescue.ResultStillCritical:
		printCritical(p.w, rep.Critical, criticalHeading(rep.Critical, false))
		if p.manual && len(rep.Components) > 0 {
			fmt.Fprintf(p.w, "restart now, in this order: %s%s\n", strings.Join(rep.Components, ", "), p.where)
		}
	}
	if len(rep.Critical) > 0 && (rep.Result == rescue.ResultStillCritical || rep.Result == rescue.ResultDryRun) {
		if fix := fixFlags(rep.Critical); len(fix) > 0 && p.next != nil {
			fmt.Fprintf(p.w, "next: %s\n", p.next(fix))
		}
	}
	// Then check and undo with: printRescueHints.
	_ = err // printed on stderr by the command's error handler
}
