package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/layout"
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
  3. plan         renew each from its own template, signed by its role's CA
  4. backup       /etc/kubernetes and /var/lib/kubelet/pki, verified (--dry-run
                  stops before this and changes nothing)
  5. deploy       every file staged, then renamed into place
  6. restart      etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
                  kubelet, in that order, each followed by a health gate: etcd
                  /health, the API server's /livez and /readyz with the renewed
                  admin.conf, controller-manager 10257/healthz, scheduler
                  10259/healthz, kubelet 10248/healthz

A failed restart or gate restores the backup, restarts again and reports what
failed, with exit code 1. Every step is journaled under /var/lib/certrescue, so
a rerun after a crash resumes or rolls back, never leaving old and new files
mixed. admin.conf always gets its own client certificate.

Restart strategies (--restart): static-pod (kubeadm: crictl stops the container,
the kubelet recreates it; --move-manifest moves the manifest out and back),
systemd (systemctl restart UNIT), command (--restart-command NAME=CMD for each
component), none (renew, then print what to restart).`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error { return runRescue(cmd, env, &f) },
		}
		f.renew.add(c)
		f.backup.addDir(c)
		f.backup.addPaths(c)
		c.Flags().BoolVar(&f.dryRun, "dry-run", false, "check and print the plan, then stop: nothing is changed, nothing is backed up")
		c.Flags().BoolVar(&f.all, "all", false, "renew every certificate, not only the expired or expiring ones")
		c.Flags().StringVar(&f.within, "within", "30d", "renew what expires within this (30d, 720h)")
		c.Flags().StringVar(&f.strategy, "restart", restart.StaticPod, "how to restart components: "+strings.Join(restart.Strategies, ", "))
		c.Flags().StringArrayVar(&f.commands, "restart-command", nil, "COMPONENT=COMMAND for --restart command (repeatable; run with sh -c)")
		c.Flags().StringArrayVar(&f.units, "systemd-unit", nil, "COMPONENT=UNIT for --restart systemd when a unit is not named after its component (repeatable)")
		c.Flags().BoolVar(&f.moveMan, "move-manifest", false, "static-pod: move the manifest out and back instead of stopping the container")
		c.Flags().StringArrayVar(&f.gates, "gate", nil, "COMPONENT=URL to probe instead of the default (the API server: its base URL), or COMPONENT=off (repeatable)")
		c.Flags().DurationVar(&f.gateTimeout, "gate-timeout", 90*time.Second, "how long each health gate may take to pass")
		return audited(withHelp(c, `  certrescue rescue --dry-run
  certrescue rescue
  certrescue rescue --all --rotate-keys
  certrescue rescue --restart systemd --systemd-unit etcd=etcd-member
  certrescue rescue --restart command \
    --restart-command etcd='systemctl restart etcd' \
    --restart-command kube-apiserver='systemctl restart kube-apiserver' ...
  certrescue rescue --restart none          # renew; print what to restart`, `  0  renewed, restarted and healthy; or nothing to do; or a dry run
  1  refused (another rescue is running, a CA is expired) or failed and rolled back (the message says what failed)
  3  usage error`))
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
	restarter, manual, err := f.restarter(env)
	if err != nil {
		return err
	}
	endpoints, err := parseGates(f.gates)
	if err != nil {
		return err
	}
	p := newProgress(env.Stdout)
	var recErrs []error
	o := rescue.Options{
		Root:        env.Root,
		Roles:       roles,
		Renew:       ro,
		All:         f.all,
		Within:      within,
		DryRun:      f.dryRun,
		BackupDir:   f.backup.realDir(env),
		BackupPaths: f.backup.paths,
		StateDir:    env.NodePath(rescue.StateDir),
		Restarter:   restarter,
		Manual:      manual,
		Now:         env.Clock.Now,
		// Gates and step timings measure real processes: real time.
		Clock: health.Clock{Now: time.Now, Sleep: restart.SleepContext},
		Gates: health.Kubeadm(health.Options{Root: env.Root, Endpoints: endpoints, Timeout: f.gateTimeout, Now: env.Clock.Now}),
		Events: func(e rescue.Event) {
			if e.Action != "" {
				recErrs = append(recErrs, env.record(cmd, CertEvent{Action: e.Action, Name: e.Name, Path: e.Path, Cert: e.Cert, Previous: e.Previous, Err: e.Err}))
				return
			}
			p.event(e, env.Clock.Now())
		},
		BeforeDeploy: beforeDeploy(cmd.Context()), // nil but in tests (testhooks.go)
	}
	fmt.Fprintf(env.Stdout, "certrescue rescue of %s (%d credentials found, restart: %s)\n", env.Root, len(roles), f.strategy)
	rep, err := rescue.Run(cmd.Context(), o)
	p.summary(rep, err)
	if err != nil {
		return errors.Join(append([]error{err}, recErrs...)...)
	}
	return errors.Join(recErrs...)
}

func (f *rescueFlags) restarter(env *Env) (restart.Restarter, bool, error) {
	if len(f.commands) > 0 && f.strategy != restart.Command {
		return nil, false, usagef("--restart-command needs --restart command (got --restart %s)", f.strategy)
	}
	switch f.strategy {
	case restart.StaticPod:
		return restart.StaticPodRestarter{Root: env.Root, MoveManifest: f.moveMan, Sleep: restart.SleepContext, Now: time.Now}, false, nil
	case restart.Systemd:
		units, err := parsePairs("--systemd-unit", f.units)
		if err != nil {
			return nil, false, err
		}
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
	w     io.Writer
	start time.Time
}

func newProgress(w io.Writer) *progress { return &progress{w: w, start: time.Now()} }

func (p *progress) event(e rescue.Event, now time.Time) {
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
	fmt.Fprintf(p.w, "[%6.2fs] %-8s %-24s %-6s %7s  %s\n", time.Since(p.start).Seconds(), e.Step, e.Component, mark, took, detail)
	if e.Step == "plan" && e.Plan != nil {
		fmt.Fprintln(p.w)
		printPlan(p.w, "table", e.Plan, "")
		fmt.Fprintln(p.w)
	}
	_ = now
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
		fmt.Fprintf(p.w, "restart now, in this order: %s\n", strings.Join(rep.Components, ", "))
	}
	_ = err // printed on stderr by the command's error handler
}
