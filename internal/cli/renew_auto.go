package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/due"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/lease"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/spf13/cobra"
)

// Lease modes of renew --auto (--lease).
const (
	leaseAuto     = "auto"     // take it when the API answers; go ahead when it does not
	leaseRequired = "required" // no renewal without it
	leaseOff      = "off"      // never ask the API
)

// autoFlags are renew's flags for --auto: the margin, rescue's restart and
// gate flags (an automatic renewal restarts and checks what it renewed, as
// rescue does), and the Lease.
type autoFlags struct {
	auto        bool
	before      string
	strategy    string
	commands    []string
	units       []string
	moveMan     bool
	gates       []string
	gateTimeout time.Duration

	lease           string
	leaseKubeconfig string
	leaseServer     string
	leaseNamespace  string
	leaseName       string
	leaseDuration   time.Duration
	holder          string
}

// autoOnly are the flags that mean something with --auto only.
var autoOnly = []string{"before", "restart", "restart-command", "systemd-unit", "move-manifest", "gate", "gate-timeout",
	"lease", "lease-kubeconfig", "lease-server", "lease-namespace", "lease-name", "lease-duration", "lease-holder"}

func (a *autoFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.BoolVar(&a.auto, "auto", false, "renew only what is due (--before), then restart it in order behind health gates, rolling back on failure (what the certrescue timer runs)")
	fl.StringVar(&a.before, "before", due.DefaultBefore, "--auto: due when less than this is left: a share of each certificate's lifetime (1/3, 25%) or a duration (30d, 720h)")
	fl.StringVar(&a.strategy, "restart", restart.Auto, "--auto: how to restart what was renewed: "+strings.Join(restart.Strategies, ", ")+" (as rescue)")
	fl.StringArrayVar(&a.commands, "restart-command", nil, "--auto: COMPONENT=COMMAND for --restart command (repeatable)")
	fl.StringArrayVar(&a.units, "systemd-unit", nil, "--auto: COMPONENT=UNIT when a unit is not named after its component (repeatable)")
	fl.BoolVar(&a.moveMan, "move-manifest", false, "--auto, static-pod: move the manifest out and back instead of stopping the container")
	fl.StringArrayVar(&a.gates, "gate", nil, "--auto: COMPONENT=URL to probe instead of the one derived from its flags, or COMPONENT=off (repeatable)")
	fl.DurationVar(&a.gateTimeout, "gate-timeout", 90*time.Second, "--auto: how long each health gate may take to pass")
	fl.StringVar(&a.lease, "lease", leaseAuto, "--auto: the coordination.k8s.io Lease that keeps two control-plane nodes from renewing at once: auto (when the API answers), required, off")
	fl.StringVar(&a.leaseKubeconfig, "lease-kubeconfig", layout.KubernetesDir+"/admin.conf", "--auto: kubeconfig the Lease is taken with (node path under --root)")
	fl.StringVar(&a.leaseServer, "lease-server", "", "--auto: API server URL for the Lease instead of the kubeconfig's")
	fl.StringVar(&a.leaseNamespace, "lease-namespace", lease.DefaultNamespace, "--auto: namespace of the Lease")
	fl.StringVar(&a.leaseName, "lease-name", lease.DefaultName, "--auto: name of the Lease")
	fl.DurationVar(&a.leaseDuration, "lease-duration", lease.DefaultDuration, "--auto: how long the Lease keeps other nodes out without a renewal (renewed every third of it while the run lasts)")
	fl.StringVar(&a.holder, "lease-holder", "", "--auto: this node's name in the Lease (default the node's /etc/hostname, else the host name)")
}

// refuseWithout is renew's check that --auto's flags come with --auto.
func (a *autoFlags) refuseWithout(cmd *cobra.Command) error {
	if a.auto {
		return nil
	}
	for _, n := range autoOnly {
		if cmd.Flags().Changed(n) {
			return usagef("--%s needs --auto (renew without --auto renews the names given and restarts nothing; rescue renews and restarts)", n)
		}
	}
	return nil
}

// runRenewAuto is renew --auto: check what is due by the margin; nothing due
// is exit 0 with nothing touched; else take the Lease (when the API answers)
// and renew what is due through rescue's transaction (backup, deploy,
// ordered restarts behind health gates, rollback, audit).
func runRenewAuto(cmd *cobra.Command, env *Env, f *renewFlags, b *backupFlags, a *autoFlags, args []string, dryRun, noBackup bool, output string) error {
	switch {
	case len(args) > 0:
		return usagef("renew --auto takes no names (got %s): it renews what is due; name certificates without --auto", strings.Join(args, " "))
	case noBackup:
		return usagef("--no-backup with --auto: an automatic renewal always backs up first (its rollback restores that backup)")
	case output != "table":
		return usagef("-o %s with --auto: --auto prints its progress as a table", output)
	}
	switch a.lease {
	case leaseAuto, leaseRequired, leaseOff:
	default:
		return usagef("--lease %q: use auto, required or off", a.lease)
	}
	if a.leaseDuration < time.Minute || a.leaseDuration > 24*time.Hour {
		return usagef("--lease-duration %s: between 1m and 24h", a.leaseDuration)
	}
	policy, err := due.ParsePolicy(a.before)
	if err != nil {
		return usagef("--before: %w", err)
	}
	roles, _, err := f.roles(cmd.Context(), env)
	if err != nil {
		return err
	}
	ro, err := f.options(env, roles, nil)
	if err != nil {
		return err
	}
	if err := renewsForever(policy, ro.Validity); err != nil {
		return err
	}
	isDue := func(c *x509.Certificate, now time.Time) bool { return policy.Decide(now, c.NotBefore, c.NotAfter).Due }
	list, err := rescue.Check(rescue.Options{Root: env.Root, Roles: roles, Clock: env.Clock, Due: isDue, DueRule: policy.Describe()})
	if err != nil {
		return err
	}
	now := env.Clock.Now()
	if len(list) == 0 {
		n, first, at := present(env.Root, roles, policy)
		fmt.Fprintf(env.Stdout, "renew --auto: nothing due (%d certificates; due when expired or %s); nothing was changed\n", n, policy.Describe())
		if first != "" {
			fmt.Fprintf(env.Stdout, "next due: %s on %s\n", first, at.UTC().Format(time.RFC3339))
		}
		return nil
	}
	fmt.Fprintf(env.Stdout, "renew --auto: %d due (expired, or %s):\n", len(list), policy.Describe())
	for _, c := range list {
		fmt.Fprintf(env.Stdout, "  %-28s %s\n", c.Role.Name, dueWhy(c, policy, now))
	}
	if !dryRun {
		// Something is due: the store must take the events before anything changes.
		if err := env.auditor().require(cmd, env); err != nil {
			return err
		}
	}
	if !dryRun && a.lease != leaseOff {
		held, err := a.takeLease(cmd.Context(), env)
		var other *lease.HeldError
		if errors.As(err, &other) {
			fmt.Fprintf(env.Stdout, "not now: %v (another node is renewing); nothing was changed, the next run tries again\n", err)
			return nil
		}
		if err != nil {
			return err
		}
		if held != nil {
			fmt.Fprintf(env.Stdout, "lease: %s/%s taken by %s until %s (renewed every %s while this run lasts)\n", a.leaseNamespace, a.leaseName, held.Holder(), held.Until().UTC().Format(time.RFC3339), a.leaseDuration/3)
			var lostErr atomic.Value
			stop := held.KeepAlive(cmd.Context(), func(err error) { lostErr.Store(err) })
			defer func() {
				stop()
				if err, ok := lostErr.Load().(error); ok {
					env.warnf("the Lease was lost during the run: %v", err)
				}
				ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 30*time.Second)
				defer cancel()
				if err := held.Release(ctx); err != nil {
					env.warnf("the Lease %s/%s was not given back (%v): it runs out at %s", a.leaseNamespace, a.leaseName, err, held.Until().UTC().Format(time.RFC3339))
				}
			}()
		}
	}
	fmt.Fprintln(env.Stdout)
	rf := rescueFlags{renew: *f, backup: *b, dryRun: dryRun, strategy: a.strategy, commands: a.commands, units: a.units,
		within: "30d", moveMan: a.moveMan, gates: a.gates, gateTimeout: a.gateTimeout, due: isDue, dueRule: policy.Describe(),
		reload: reloadFlags{reload: true, stopGrace: "auto"}} // a planned renewal: take up what reloads, the normal stop period

	return runRescue(cmd, env, &rf)
}

// renewsForever refuses a fixed margin at least as long as the renewed
// certificates' lifetime: each would be due again the moment it is renewed,
// and every run would renew (and restart) everything.
func renewsForever(p due.Policy, validity time.Duration) error {
	if p.Margin > 0 && p.Margin >= validity {
		return usagef("--before %s with --validity %s: a renewed certificate would be due at once, and every run would renew everything again; use a margin shorter than the validity (or a share: 1/3)", p, cfssl.FormatDuration(validity))
	}
	return nil
}

// takeLease takes renew --auto's Lease. It returns nil, nil when the API
// does not answer and --lease is auto (with a warning: the API server may be
// down because its certificates expired, and this renewal is what brings it
// back).
func (a *autoFlags) takeLease(ctx context.Context, env *Env) (*lease.Held, error) {
	skip := func(why error) (*lease.Held, error) {
		if a.lease == leaseRequired {
			return nil, fmt.Errorf("%w\nnothing was changed (--lease required)", why)
		}
		env.warnf("%v; renewing without the Lease (--lease auto)", why)
		return nil, nil
	}
	creds, err := leaseCredentials(env, a.leaseKubeconfig, a.leaseServer)
	if err != nil {
		return skip(fmt.Errorf("no Lease: %w", err))
	}
	client, err := lease.Client(creds)
	if err != nil {
		return skip(fmt.Errorf("no Lease: kubeconfig %s: %w", a.leaseKubeconfig, err))
	}
	holder := a.holder
	if holder == "" {
		holder = nodeName(env)
	}
	held, err := lease.Acquire(ctx, lease.Options{Client: client, Namespace: a.leaseNamespace, Name: a.leaseName,
		Holder: holder, Duration: a.leaseDuration, Clock: env.Clock})
	var un *lease.UnreachableError
	switch {
	case errors.As(err, &un):
		return skip(err)
	case err != nil:
		var other *lease.HeldError
		if errors.As(err, &other) {
			return nil, err
		}
		// The API answered and refused (RBAC): renewing anyway could
		// restart two API servers at once.
		return nil, fmt.Errorf("%w\nnothing was changed: the API server answers but the Lease cannot be taken with %s; give that user create/get/update on leases in %s, or pass --lease off",
			err, a.leaseKubeconfig, a.leaseNamespace)
	}
	return held, nil
}

// leaseCredentials reads the Lease's kubeconfig and the files it names
// through the node's view of the disk (never the host's paths under --root).
func leaseCredentials(env *Env, kcPath, server string) (lease.Credentials, error) {
	read := func(p string) ([]byte, error) { return env.FS().Read(p, kubeconfig.MaxSize) }
	data, err := read(kcPath)
	if err != nil {
		return lease.Credentials{}, fmt.Errorf("kubeconfig %s: %w", kcPath, err)
	}
	k, err := kubeconfig.Parse(data, path.Dir(kcPath), read)
	if err != nil {
		return lease.Credentials{}, fmt.Errorf("kubeconfig %s: %w", kcPath, err)
	}
	for field, m := range map[string]kubeconfig.Material{"client-certificate": k.ClientCert, "client-key": k.ClientKey, "certificate-authority": k.CA} {
		if m.Err != nil {
			return lease.Credentials{}, fmt.Errorf("kubeconfig %s: %s %s: %w", kcPath, field, m.Path, m.Err)
		}
	}
	if server == "" {
		server = k.Server
	}
	return lease.Credentials{Server: server, CA: k.CA.Data, Cert: k.ClientCert.Data, Key: k.ClientKey.Data}, nil
}

// nodeName is the Lease holder's default: the node's /etc/hostname (under
// --root, the mounted node's), else this machine's host name.
func nodeName(env *Env) string {
	if b, err := env.FS().Read("/etc/hostname", 256); err == nil {
		if n := strings.TrimSpace(string(b)); n != "" {
			return n
		}
	}
	if n, err := os.Hostname(); err == nil && n != "" {
		return n
	}
	return "unknown-node"
}

// dueWhy says why a certificate is due.
func dueWhy(c renewal.Current, p due.Policy, now time.Time) string {
	if c.Cert == nil {
		return "due"
	}
	d := p.Decide(now, c.Cert.NotBefore, c.Cert.NotAfter)
	switch {
	case d.Reason == due.ReasonExpired:
		return "expired " + c.Cert.NotAfter.UTC().Format(time.DateOnly)
	case d.Reason == due.ReasonNotYetValid:
		return "not valid before " + c.Cert.NotBefore.UTC().Format(time.RFC3339)
	case d.Due:
		return fmt.Sprintf("expires %s (%s left, due since %s)", c.Cert.NotAfter.UTC().Format(time.DateOnly), humanDuration(d.Left), d.At.UTC().Format(time.DateOnly))
	case renewal.NeedsFix(c):
		return "holds another credential's certificate (" + c.Foreign + ")"
	case c.KeyMismatch:
		return "its key is of another generation: a new key"
	}
	return "due"
}

// present counts the roles whose certificate is on the node and finds the
// one that becomes due first, and when.
func present(root string, roles []layout.Role, p due.Policy) (n int, first string, at time.Time) {
	for _, c := range renewal.Inspect(root, roles) {
		if c.Err != nil || c.Cert == nil {
			continue
		}
		n++
		if d := p.Decide(time.Time{}, c.Cert.NotBefore, c.Cert.NotAfter); first == "" || d.At.Before(at) {
			first, at = c.Role.Name, d.At
		}
	}
	return n, first, at
}
