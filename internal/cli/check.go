package cli

import (
	"context"
	"errors"
	"github.com/certrescue/certrescue/internal/carotation"
	"io/fs"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/spf13/cobra"
)

type checkFlags struct {
	warn, critical  string
	expectSANs      []string
	endpoints       []string
	noEndpoints     bool
	endpointTimeout time.Duration
	inventories     []string
	dirs            []string
	scanNode        bool
	output          string
	quiet           bool
	trust           bool // the trust-consumer section (check_trust.go)

	printed bool // the report went to stdout (an error after it prints no JSON error object)
}

const checkExitCodes = `  0  every certificate is healthy
  1  warnings only (expiring within --warn, weak key, key permissions, served certificate differs from disk)
  2  critical: something is expired, not yet valid, expiring within --critical, untrusted,
     mismatched, missing a SAN or usage, malformed or unreadable
  3  usage error: bad flag or inventory file, or nothing to check under --root
With -o json or -o yaml, a run that ends without a report (exit 3, or 1 when the
scan itself failed) prints {"error": MESSAGE, "exitCode": CODE} on stdout.`

func init() {
	register(5, func(env *Env) *cobra.Command {
		var f checkFlags
		c := &cobra.Command{
			Use:   "check",
			Short: "Find every certificate, key and kubeconfig of the node and say which are broken and why",
			Long: `Check reads, offline, every certificate, key and kubeconfig of the node under
--root: kubeadm's /etc/kubernetes/pki and kubeconfigs (kubelet.conf included),
the kubelet's /var/lib/kubelet/pki, every file the static pod manifests and the
kube-*/kubelet/etcd systemd units name in their flags (binary installs), the
k3s and RKE2 server TLS directories, and whatever --inventory and --dir add.

Each finding has a stable reason code (docs/reasons.md): expired, not_yet_valid,
expiring, ca_expires_before_leaf, untrusted_chain, key_mismatch, san_missing,
wrong_usage, weak_key, key_permissions, kubeconfig_ca_mismatch,
foreign_client_certificate, served_differs_from_disk, malformed, unreadable. A bad file is a finding; the
scan goes on.

Live endpoints: with --root / (the node itself) check also fetches, without
trusting it, the certificate each endpoint the manifests name serves (API
server, etcd, controller-manager 10257, scheduler 10259, kubelet 10250) and
compares it with the file on disk: a certificate renewed on disk but still
served old means a component was not restarted. --endpoint replaces that list;
--no-endpoints skips it. Unreachable default endpoints are noted, not findings.`,
			Args: func(cmd *cobra.Command, args []string) error {
				return checkError(env, &f, exactArgs(0, "no arguments (use --inventory FILE or --dir DIR to add files)")(cmd, args))
			},
			RunE: func(cmd *cobra.Command, _ []string) error {
				return checkError(env, &f, runCheck(cmd.Context(), env, &f))
			},
		}
		c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
			return checkError(env, &checkFlags{output: requestedOutput(env.args, f.output)}, c.Parent().FlagErrorFunc()(c, err))
		})
		fl := c.Flags()
		fl.StringVar(&f.warn, "warn", "30d", "report certificates expiring within this as warnings (30d, 720h)")
		fl.StringVar(&f.critical, "critical", "7d", "report certificates expiring within this as critical")
		fl.StringSliceVar(&f.expectSANs, "expect-san", nil, "DNS name or IP the API server certificate must carry (repeatable), besides the advertise address, service IP and kubeconfig servers")
		fl.StringArrayVar(&f.endpoints, "endpoint", nil, "HOST:PORT[=CERT] to fetch and compare with the certificate file CERT (repeatable; default: the endpoints the manifests name)")
		fl.BoolVar(&f.noEndpoints, "no-endpoints", false, "do not contact any endpoint, not even on loopback")
		fl.DurationVar(&f.endpointTimeout, "endpoint-timeout", endpoint.DefaultTimeout, "connection and handshake timeout per endpoint")
		fl.StringArrayVar(&f.inventories, "inventory", nil, "inventory file (YAML) naming more certificates, keys, kubeconfigs and directories (repeatable; an absolute path is read under --root)")
		fl.StringArrayVar(&f.dirs, "dir", nil, "directory whose *.crt, *.pem, *.cer, *.key files are all checked (repeatable; node path under --root)")
		fl.BoolVar(&f.scanNode, "scan-node", true, "read the node's own files (kubeadm, kubelet, manifests, systemd units, k3s/RKE2); --scan-node=false checks only --inventory, --dir and --endpoint")
		fl.StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
		fl.BoolVarP(&f.quiet, "quiet", "q", false, "print nothing; the exit code says it all")
		fl.BoolVar(&f.trust, "trust", false, "add the trust consumers of each CA: every file, flag and kubeconfig that trusts it, and what each holds now (a table, or the report's trust list with -o json or yaml)")
		return withHelp(c, `  certrescue check
  certrescue check --warn 60d --expect-san k8s-api.example.com
  certrescue --root /mnt/node check -o json
  certrescue check --endpoint 10.0.0.1:6443 --endpoint 127.0.0.1:2379=/etc/kubernetes/pki/etcd/server.crt
  certrescue check --scan-node=false --dir /etc/ssl/internal --inventory inventory.yaml
  certrescue check --quiet; echo $?    # 0 healthy, 1 warnings, 2 critical`, checkExitCodes)
	})
}

func (f *checkFlags) policy() (evaluation.Policy, error) {
	p := evaluation.DefaultPolicy()
	var err error
	if p.Warn, err = cfssl.ParseDuration(f.warn); err != nil {
		return p, usagef("--warn: %w", err)
	}
	if p.Critical, err = cfssl.ParseDuration(f.critical); err != nil {
		return p, usagef("--critical: %w", err)
	}
	if p.Critical > p.Warn {
		return p, usagef("--critical %s is longer than --warn %s: the critical threshold must be the shorter one", f.critical, f.warn)
	}
	for _, s := range f.expectSANs {
		if !validSAN(s) {
			return p, usagef("--expect-san %q: give a DNS name or an IP address", s)
		}
	}
	p.ExpectSANs = f.expectSANs
	return p, nil
}

func runCheck(ctx context.Context, env *Env, f *checkFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	switch f.output {
	case "table", "json", "yaml":
	default:
		return usagef("-o %q: use table, json or yaml", f.output)
	}
	policy, err := f.policy()
	if err != nil {
		return err
	}
	policy.Expected = carotation.Anchors(env.FS()) // a CA rotation in progress (ca_rotate.go)
	r := inventory.NewReader(env.Root)
	sources, err := nodeSources(env, r, nodeOptions(f.scanNode, f.inventories, f.dirs))
	if err != nil {
		return err
	}
	ts, err := targets(env, f, r)
	if err != nil {
		return err
	}
	if src := endpointFiles(ts); src != nil {
		sources = append(sources, src)
	}
	items, err := inventory.Scan(ctx, r, sources...)
	if err != nil {
		return err
	}
	items = append(items, probe(ctx, f, ts, items)...)
	if len(items) == 0 {
		return usagef("nothing to check under --root %s: no kubeadm, kubelet, static pod, systemd, k3s or RKE2 certificates there (wrong --root?); add files with --inventory or --dir", env.Root)
	}
	rep := evaluation.Evaluate(items, env.Clock.Now(), policy)
	if !f.quiet {
		var trust []trustCA
		if f.trust {
			trust = trustView(env, items)
		}
		if err := printCheck(env, f, &rep, trust); err != nil {
			return err
		}
		if f.trust && f.output == "table" {
			printTrust(env, trust)
		}
	}
	// An interrupted change the next state-changing command will finish or
	// abandon: the files may be about to change under the operator.
	pending := env.pendingTxns(env.FS(), TxnDir)
	for _, p := range pending {
		env.warnf("%s", p)
	}
	switch {
	case rep.Status == facts.SeverityCritical:
		return silentExit(ExitCritical)
	case rep.Status == facts.SeverityWarning || len(pending) > 0:
		return silentExit(ExitFailure)
	}
	return nil
}

// targets says which endpoints to fetch: the ones --endpoint names, else
// (on the node itself) the ones its manifests name.
func targets(env *Env, f *checkFlags, r *inventory.Reader) ([]endpoint.Target, error) {
	if f.noEndpoints {
		if len(f.endpoints) > 0 {
			return nil, usagef("--endpoint and --no-endpoints contradict each other")
		}
		return nil, nil
	}
	if f.endpointTimeout <= 0 {
		return nil, usagef("--endpoint-timeout %s: must be positive", f.endpointTimeout)
	}
	var defaults []endpoint.Target
	if f.scanNode {
		comps, _ := r.Components()
		defaults = endpoint.Defaults(comps)
	}
	if len(f.endpoints) == 0 {
		if env.Root != "/" && env.Root != "" {
			return nil, nil // a mounted node's addresses are not this machine's
		}
		return defaults, nil
	}
	var ts []endpoint.Target
	for _, s := range f.endpoints {
		t, err := endpoint.ParseTarget(s, defaults)
		if err != nil {
			return nil, usagef("--endpoint: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// endpointFiles makes sure the certificate an explicit --endpoint HOST:PORT=CERT
// names is read, even when no other source names it.
func endpointFiles(ts []endpoint.Target) inventory.Source {
	inv := &inventory.InventoryFile{Path: "(--endpoint)"}
	for _, t := range ts {
		if t.Explicit && len(t.DiskPaths) == 1 {
			inv.Entries = append(inv.Entries, inventory.FileEntry{Path: t.DiskPaths[0], Kind: "certificate"})
		}
	}
	if len(inv.Entries) == 0 {
		return nil
	}
	return inv
}

// probe fetches the targets; defaults are dropped when the node has no
// control-plane component and no kubelet files (nothing to compare with).
func probe(ctx context.Context, f *checkFlags, ts []endpoint.Target, items []inventory.Item) []inventory.Item {
	onDisk := map[string]bool{}
	node := false
	for _, it := range items {
		if len(it.Certs) > 0 {
			onDisk[it.Path] = true
		}
		node = node || len(it.Components) > 0
	}
	var keep []endpoint.Target
	for _, t := range ts {
		if t.Explicit || node {
			keep = append(keep, t)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return endpoint.Probe(ctx, keep, f.endpointTimeout, func(p string) bool { return onDisk[p] })
}

// validSAN is renewal.CheckSAN, the one SAN rule renew --add-san uses too.
func validSAN(s string) bool { return renewal.CheckSAN(s) == nil }

// unwrapPathError drops the host path of an *fs.PathError (the message
// names the path the operator typed).
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
