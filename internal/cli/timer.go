package cli

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/due"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/certrescue/certrescue/internal/timer"
	"github.com/spf13/cobra"
)

// timerFlags are timer install's and timer show's.
type timerFlags struct {
	binary   string
	calendar string
	delay    time.Duration
	timeout  time.Duration
	before   string
	restart  string
	lease    string
	noEnable bool
}

func (f *timerFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.binary, "binary", timer.DefaultBinary, "certrescue's absolute path on the node, for ExecStart")
	fl.StringVar(&f.calendar, "on-calendar", timer.DefaultCalendar, "when the timer runs (systemd OnCalendar; daily is right: a run with nothing due changes nothing)")
	fl.DurationVar(&f.delay, "randomized-delay", timer.DefaultDelay, "RandomizedDelaySec: each node's own fixed offset after --on-calendar, so control-plane nodes do not start together")
	fl.DurationVar(&f.timeout, "timeout", timer.DefaultTimeout, "TimeoutStartSec of one run (renewal, restarts and gates)")
	fl.StringVar(&f.before, "before", due.DefaultBefore, "renew --auto --before: due when less than this is left (1/3 of the lifetime, 25%, 30d)")
	fl.StringVar(&f.restart, "restart", "", "renew --auto --restart (default: renew's, auto)")
	fl.StringVar(&f.lease, "lease", "", "renew --auto --lease: auto, required or off (default: renew's, auto)")
}

// options turns the flags and the arguments after -- (more renew --auto
// flags) into the units' options, checking each against renew's own flags.
func (f *timerFlags) options(env *Env, extra []string) (timer.Options, error) {
	p, err := due.ParsePolicy(f.before)
	if err != nil {
		return timer.Options{}, usagef("--before: %w", err)
	}
	if p.Margin > 0 && p.Margin < 3*24*time.Hour {
		return timer.Options{}, usagef("--before %s: a daily timer with a margin under 3 days can let a certificate expire between two runs (a node off for a day, a failed run); use a share of the lifetime (1/3) or at least 3d", f.before)
	}
	args := []string{"--before", p.String()}
	if f.restart != "" {
		args = append(args, "--restart", f.restart)
	}
	if f.lease != "" {
		args = append(args, "--lease", f.lease)
	}
	args = append(args, extra...)
	if err := checkRenewAutoArgs(env, args); err != nil {
		return timer.Options{}, err
	}
	return timer.Options{Binary: f.binary, Calendar: f.calendar, Delay: f.delay, Timeout: f.timeout, Args: args}, nil
}

// checkRenewAutoArgs parses args as renew --auto would, so a typo fails
// now rather than every night in the journal.
func checkRenewAutoArgs(env *Env, args []string) error {
	probe := &Env{Stdin: strings.NewReader(""), Stdout: &strings.Builder{}, Stderr: &strings.Builder{}, Clock: env.Clock, Root: "/", Getenv: env.Getenv}
	renew, _, err := NewRootCommand(probe).Find([]string{"renew"})
	if err != nil {
		return err
	}
	if err := renew.ParseFlags(append([]string{"--auto"}, args...)); err != nil {
		return usagef("renew --auto %s: %w", strings.Join(args, " "), err)
	}
	if rest := renew.Flags().Args(); len(rest) > 0 {
		return usagef("renew --auto takes no names (got %s after --)", strings.Join(rest, " "))
	}
	for _, n := range []string{"root", "dry-run", "no-backup", "output"} {
		if renew.Flags().Changed(n) {
			return usagef("--%s after --: the timer's renewal runs on the node itself, for real, with its progress in the journal", n)
		}
	}
	for _, n := range []string{"restart", "lease"} {
		fl := renew.Flags().Lookup(n)
		if fl == nil || !renew.Flags().Changed(n) {
			continue
		}
		ok := map[string][]string{"restart": restart.Strategies, "lease": {leaseAuto, leaseRequired, leaseOff}}[n]
		if !slices.Contains(ok, fl.Value.String()) {
			return usagef("--%s %q: use %s", n, fl.Value.String(), strings.Join(ok, ", "))
		}
	}
	policy, err := due.ParsePolicy(renew.Flags().Lookup("before").Value.String())
	if err != nil {
		return usagef("--before: %w", err)
	}
	validity, err := cfssl.ParseDuration(renew.Flags().Lookup("validity").Value.String())
	if err != nil || validity <= 0 {
		return usagef("--validity %q: use a duration such as 8760h, 365d or 1y", renew.Flags().Lookup("validity").Value.String())
	}
	return renewsForever(policy, validity)
}

// checkCalendar asks this machine's systemd-analyze, when there is one,
// whether the calendar parses and when it next elapses: kubespray's timer
// failed on systemd versions that could not parse its calendar.
func checkCalendar(ctx context.Context, calendar string) (string, error) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		return "", nil // not on this machine: systemd checks it when the timer is enabled
	}
	out, err := exec.CommandContext(ctx, bin, "calendar", calendar).CombinedOutput() // #nosec G204 -- the operator's own calendar, one argument, no shell
	if err != nil {
		return "", usagef("--on-calendar %q: systemd-analyze calendar refuses it: %s", calendar, strings.TrimSpace(string(out)))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if _, v, ok := strings.Cut(line, "Next elapse:"); ok {
			v = strings.TrimSpace(v)
			if v == "never" {
				return "", usagef("--on-calendar %q never elapses again", calendar)
			}
			return v, nil
		}
	}
	return "", nil
}

func init() {
	register(64, func(env *Env) *cobra.Command {
		c := &cobra.Command{
			Use:   "timer",
			Short: "Install the systemd timer that renews the node's certificates before they are due",
			Long: `The long-term set-up's first step: a systemd service and timer that run
'certrescue renew --auto' every day on this node. renew --auto renews only what
is due (less than --before of each certificate's own lifetime left, a third by
default), restarts it in order behind health gates and rolls back on failure;
with nothing due it changes nothing. See docs/long-term.md.`,
			Args: exactArgs(0, "a subcommand (install, show, uninstall)"),
			RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		}
		c.AddCommand(timerInstallCmd(env), timerShowCmd(env), timerUninstallCmd(env))
		return withHelp(c, `  certrescue timer install
  certrescue timer show
  certrescue timer uninstall`, exitCodesSimple)
	})
}

func timerInstallCmd(env *Env) *cobra.Command {
	var f timerFlags
	c := &cobra.Command{
		Use:   "install [-- RENEW-FLAGS...]",
		Short: "Write certrescue-renew.service and .timer and enable the timer",
		Long: `Writes /etc/systemd/system/certrescue-renew.service (oneshot: renew --auto) and
certrescue-renew.timer (OnCalendar daily, Persistent=true, RandomizedDelaySec
with FixedRandomDelay), both at once, then runs 'systemctl daemon-reload' and
'systemctl enable --now certrescue-renew.timer'. With --root (another node's
disk) or --no-enable it writes the units and prints those commands instead.

Flags after -- are more renew --auto flags (--systemd-unit, --gate,
--inventory, --lease-kubeconfig ...), checked now against renew's own.

What it avoids (kubespray's k8s-certs-renew timer): the margin never comes from
the timer's next run (which systemd reports empty while the unit runs, and
kubespray then renewed everything, every month); the restarts are ordered and
gated (kubespray removed every control-plane pod at once and the
controller-manager lost its leader election and crashed); the calendar is
checked with systemd-analyze when this machine has it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(env, args)
			if err != nil {
				return err
			}
			next, err := checkCalendar(cmd.Context(), o.Calendar)
			if err != nil {
				return err
			}
			u, err := timer.Make(o)
			if err != nil {
				return usageError(err)
			}
			if !env.FS().IsRegular(o.Binary) {
				env.warnf("%s is not on the node (yet): the timer's runs fail until it is (--binary names another path)", o.Binary)
			}
			paths, err := timer.Install(env.FS(), u, env.newTxn(cmd, TxnDir))
			if err != nil {
				return fmt.Errorf("%w; nothing was installed", err)
			}
			for _, p := range paths {
				fmt.Fprintf(env.Stdout, "wrote %s\n", p)
			}
			if next != "" {
				fmt.Fprintf(env.Stdout, "next run: %s (plus this node's fixed random delay of up to %s)\n", next, o.Delay)
			}
			enable := [][]string{{"systemctl", "daemon-reload"}, {"systemctl", "enable", "--now", timer.TimerName}}
			if f.noEnable || !env.FS().IsHost() {
				fmt.Fprintf(env.Stdout, "to enable it%s, run:\n", mountedNode(env))
				for _, e := range enable {
					fmt.Fprintf(env.Stdout, "  %s\n", strings.Join(e, " "))
				}
				return nil
			}
			for _, e := range enable {
				out, err := exec.CommandContext(cmd.Context(), e[0], e[1:]...).CombinedOutput() // #nosec G204 -- fixed commands
				if err != nil {
					return fmt.Errorf("%s: %w: %s\nthe units are written; run it once systemd runs", strings.Join(e, " "), err, strings.TrimSpace(string(out)))
				}
			}
			fmt.Fprintf(env.Stdout, "enabled and started %s (systemctl list-timers %s shows its next run)\n", timer.TimerName, timer.TimerName)
			return nil
		},
	}
	f.add(c)
	c.Flags().BoolVar(&f.noEnable, "no-enable", false, "write the units only, and print the systemctl commands that enable the timer")
	return withHelp(c, `  certrescue timer install
  certrescue timer install --before 30d --on-calendar '*-*-* 02:00:00'
  certrescue timer install -- --systemd-unit etcd=etcd-member --lease required
  certrescue --root /mnt/node timer install`, `  0  installed (and, on this machine, enabled)
  1  a unit could not be written, or systemctl failed (the message says which)
  3  usage error: a bad flag, a calendar systemd-analyze refuses, a renew flag after -- that renew does not take`)
}

func timerShowCmd(env *Env) *cobra.Command {
	var f timerFlags
	c := &cobra.Command{
		Use:   "show [-- RENEW-FLAGS...]",
		Short: "Print the units timer install would write, and write nothing",
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := f.options(env, args)
			if err != nil {
				return err
			}
			u, err := timer.Make(o)
			if err != nil {
				return usageError(err)
			}
			fmt.Fprintf(env.Stdout, "# %s/%s\n%s\n# %s/%s\n%s", timer.UnitDir, timer.ServiceName, u.Service, timer.UnitDir, timer.TimerName, u.Timer)
			return nil
		},
	}
	f.add(c)
	return withHelp(c, `  certrescue timer show
  certrescue timer show --before 25% -- --restart systemd`, exitCodesSimple)
}

func timerUninstallCmd(env *Env) *cobra.Command {
	var noDisable, force bool
	c := &cobra.Command{
		Use:   "uninstall",
		Short: "Stop and disable the renewal timer and remove the units timer install wrote",
		Long: `Runs 'systemctl disable --now certrescue-renew.timer', removes
certrescue-renew.timer and certrescue-renew.service from /etc/systemd/system
(the timer first) and runs 'systemctl daemon-reload'. With --root (another
node's disk) or --no-disable it removes the files, the timers.target.wants
link included, and prints the systemctl commands instead.

A unit of the same name that timer install did not write (its first line is
not certrescue's) is refused, and nothing is removed, unless --force. Nothing
installed: nothing to do, exit 0.`,
		Args: exactArgs(0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fsys := env.FS()
			timerPath := timer.UnitDir + "/" + timer.TimerName
			onHost := !noDisable && fsys.IsHost()
			if onHost && fsys.Exists(timerPath) {
				out, err := exec.CommandContext(cmd.Context(), "systemctl", "disable", "--now", timer.TimerName).CombinedOutput() // #nosec G204 -- fixed command
				if err != nil {
					return fmt.Errorf("systemctl disable --now %s: %w: %s\nnothing was removed", timer.TimerName, err, strings.TrimSpace(string(out)))
				}
				fmt.Fprintf(env.Stdout, "stopped and disabled %s\n", timer.TimerName)
			}
			removed, err := timer.Uninstall(fsys, force)
			for _, p := range removed {
				fmt.Fprintf(env.Stdout, "removed %s\n", p)
			}
			if err != nil {
				return err
			}
			if len(removed) == 0 {
				fmt.Fprintf(env.Stdout, "nothing to do: %s is not installed%s\n", timer.TimerName, mountedNode(env))
				return nil
			}
			if !onHost {
				fmt.Fprintf(env.Stdout, "to unload it%s, run:\n  systemctl stop %s\n  systemctl daemon-reload\n", mountedNode(env), timer.TimerName)
				return nil
			}
			if out, err := exec.CommandContext(cmd.Context(), "systemctl", "daemon-reload").CombinedOutput(); err != nil { // #nosec G204 -- fixed command
				return fmt.Errorf("systemctl daemon-reload: %w: %s\nthe units are removed; run it once systemd runs", err, strings.TrimSpace(string(out)))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&noDisable, "no-disable", false, "remove the units only, and print the systemctl commands")
	c.Flags().BoolVar(&force, "force", false, "remove units of those names even when timer install did not write them")
	return withHelp(c, `  certrescue timer uninstall
  certrescue --root /mnt/node timer uninstall`, `  0  removed, or nothing was installed
  1  a unit could not be removed or is not certrescue's, or systemctl failed (the message says which)
  3  usage error`)
}
