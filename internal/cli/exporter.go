package cli

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/certrescue/certrescue/internal/endpoint"
	"github.com/certrescue/certrescue/internal/exporter"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/secrets"
)

type exporterFlags struct {
	check          checkFlags
	paths          []string
	listen         string
	textfile       string
	textfileName   string
	refresh        time.Duration
	hostNetwork    bool
	secrets        bool
	kubeconfig     string
	namespace      string
	configMaps     bool
	cmSelector     string
	cmKeys         []string
	syncTimeout    time.Duration
	memoryLimit    int64
	nodeSourceName string
}

const exporterExitCodes = `  0  the server stopped on SIGTERM or SIGINT; with --textfile, the file was written
  1  the server could not listen, the textfile could not be written, or the
     in-cluster sources did not sync within --sync-timeout
  3  usage error: bad flag or inventory file`

func init() {
	register(60, func(env *Env) *cobra.Command {
		var f exporterFlags
		c := &cobra.Command{
			Use:   "exporter",
			Short: "Expose every certificate as Prometheus metrics (x509-certificate-exporter compatible)",
			Long: `Exporter serves /metrics and /healthz with every certificate check finds on the
node (kubeadm PKI, kubeconfigs, kubelet, static pod manifests, systemd units,
k3s/RKE2, --inventory files, --dir directories and --path globs), the chains
live endpoints serve, and, with --secrets, the cluster's kubernetes.io/tls
Secrets and ConfigMap CA bundles.

Metric and label names are x509-certificate-exporter's (x509_cert_not_after,
x509_cert_expires_in_seconds, x509_cert_expired, x509_cert_error,
x509_source_up, ...; labels subject_CN, issuer_CN, serial_number, filepath,
embedded_kind, embedded_key, secret_namespace, secret_name), so its dashboards
and rules keep working. certrescue_finding{reason=...} adds check's findings
(untrusted_chain, key_mismatch, san_missing, served_differs_from_disk, ...).

Expiry is computed at scrape time, and so are the expired, expiring and
not_yet_valid findings and whether ca_expires_before_leaf is critical (once the
CA has expired). Files are re-read only when their identity (device, inode,
size, modification time) changes, checked every --refresh, or when the CA they
were judged against changes; only the CAs, the API server's certificate and the
kubeconfigs stay parsed in memory.
Secrets are watched with the server-side field selector type=kubernetes.io/tls,
so Secrets of other types never reach the exporter.

--textfile DIR writes the same metrics once, atomically, to DIR/certrescue.prom
for node_exporter's textfile collector, and exits: run it from cron or a
systemd timer on air-gapped nodes.`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error { return runExporter(cmd.Context(), env, &f) },
		}
		fl := c.Flags()
		fl.StringVar(&f.check.warn, "warn", "30d", "certrescue_finding{reason=\"expiring\",severity=\"warning\"} under this residual time")
		fl.StringVar(&f.check.critical, "critical", "7d", "certrescue_finding{reason=\"expiring\",severity=\"critical\"} under this residual time")
		fl.StringSliceVar(&f.check.expectSANs, "expect-san", nil, "DNS name or IP the API server certificate must carry (repeatable)")
		fl.StringArrayVar(&f.check.endpoints, "endpoint", nil, "HOST:PORT[=CERT] to fetch at every refresh (repeatable; default on the node: the endpoints the manifests name)")
		fl.BoolVar(&f.check.noEndpoints, "no-endpoints", false, "do not contact any endpoint")
		fl.DurationVar(&f.check.endpointTimeout, "endpoint-timeout", endpoint.DefaultTimeout, "connection and handshake timeout per endpoint")
		fl.StringArrayVar(&f.check.inventories, "inventory", nil, "inventory file (YAML) naming more certificates, keys, kubeconfigs and directories (repeatable)")
		fl.StringArrayVar(&f.check.dirs, "dir", nil, "directory whose *.crt, *.pem, *.cer, *.key files are all exposed (repeatable; node path)")
		fl.StringArrayVar(&f.paths, "path", nil, "certificate file, directory or glob (*.pem in the last element) to expose (repeatable; node path)")
		fl.BoolVar(&f.check.scanNode, "scan-node", true, "read the node's own files (kubeadm, kubelet, manifests, systemd units, k3s/RKE2)")
		fl.StringVar(&f.listen, "listen", ":9793", "address to serve /metrics and /healthz on")
		fl.StringVar(&f.textfile, "textfile", "", "write the metrics to DIR/"+exporter.TextfileName+" for node_exporter's textfile collector and exit")
		fl.StringVar(&f.textfileName, "textfile-name", exporter.TextfileName, "file name written in the --textfile directory (must end in .prom)")
		fl.DurationVar(&f.refresh, "refresh", time.Minute, "how often files are checked for changes and endpoints fetched")
		fl.BoolVar(&f.hostNetwork, "host-network", false, "this process shares the node's network (a hostNetwork pod): fetch the manifests' endpoints even under --root")
		fl.BoolVar(&f.secrets, "secrets", false, "watch the cluster's kubernetes.io/tls Secrets (and ConfigMap CA bundles, see --configmaps)")
		fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for --secrets (default: the pod's service account)")
		fl.StringVar(&f.namespace, "namespace", "", "watch only this namespace (default: all)")
		fl.BoolVar(&f.configMaps, "configmaps", true, "with --secrets, also read CA bundles from ConfigMaps")
		fl.StringVar(&f.cmSelector, "configmap-selector", "", "label selector limiting the ConfigMaps listed (evaluated by the API server)")
		fl.StringSliceVar(&f.cmKeys, "configmap-key", secrets.DefaultConfigMapKeys, "ConfigMap keys read as CA bundles")
		fl.Int64Var(&f.memoryLimit, "memory-limit-mb", 80, "soft limit of the Go heap in MiB (debug.SetMemoryLimit; 0 keeps the Go default or GOMEMLIMIT)")
		fl.DurationVar(&f.syncTimeout, "sync-timeout", time.Minute, "with --textfile and --secrets, how long to wait for the first list")
		return withHelp(c, `  certrescue exporter
  certrescue exporter --listen 127.0.0.1:9793 --path '/etc/ssl/internal/*.pem' --inventory inventory.yaml
  certrescue exporter --scan-node=false --no-endpoints --secrets --configmap-selector app=ca-bundle
  certrescue exporter --textfile /var/lib/node_exporter/textfile_collector
  certrescue --root /host exporter --host-network`, exporterExitCodes)
	})
}

func runExporter(ctx context.Context, env *Env, f *exporterFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	policy, err := f.check.policy()
	if err != nil {
		return err
	}
	if f.memoryLimit > 0 && env.Getenv != nil && env.Getenv("GOMEMLIMIT") == "" {
		// The garbage collector works harder near the limit instead of
		// letting the heap double after each refresh's parsing.
		debug.SetMemoryLimit(f.memoryLimit << 20)
	}
	if f.refresh <= 0 {
		return usagef("--refresh %s: must be positive", f.refresh)
	}
	if f.textfile != "" && filepath.Ext(f.textfileName) != ".prom" {
		return usagef("--textfile-name %q: node_exporter reads only files ending in .prom", f.textfileName)
	}
	node, err := exporterNode(env, f)
	if err != nil {
		return err
	}
	node.Policy = policy
	store := node.Store
	coll := &exporter.Collector{Store: store, Clock: env.Clock, Warn: policy.Warn, Critical: policy.Critical}
	var src *secrets.Source
	if f.secrets {
		client, err := kubeClient(f.kubeconfig)
		if err != nil {
			return err
		}
		src = &secrets.Source{Client: client, Namespace: f.namespace, ConfigMaps: f.configMaps,
			ConfigMapSelector: f.cmSelector, ConfigMapKeys: f.cmKeys, Store: store,
			OnError: func(s string, err error) { env.warnf("%s: %v", s, err) }}
	}
	var refreshers []exporter.Refresher
	if len(node.Sources) > 0 || len(node.Endpoints) > 0 || node.ManifestEndpoints {
		refreshers = append(refreshers, node)
	}
	if len(refreshers) == 0 && src == nil {
		return usagef("nothing to export: --scan-node=false without --inventory, --dir, --path, --endpoint or --secrets")
	}
	onErr := func(err error) { env.warnf("%v", err) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	if src != nil {
		go func() { done <- src.Run(ctx) }()
		defer func() { cancel(); <-done }() //nolint:errcheck // stopped on purpose: its error is the cancellation
	}
	if f.textfile != "" {
		exporter.RefreshAll(ctx, refreshers, onErr)
		if src != nil {
			select {
			case <-src.Synced():
			case <-after(ctx, wall, f.syncTimeout): // a real API server lists them
				return fmt.Errorf("the Secrets and ConfigMaps were not listed within --sync-timeout %s (RBAC? API server reachable?); nothing written", f.syncTimeout)
			}
		}
		if err := exporter.WriteTextfile(env.NodePath(f.textfile), f.textfileName, coll); err != nil {
			return fmt.Errorf("textfile: %w", err)
		}
		return nil
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	fmt.Fprintf(env.Stderr, "certrescue exporter: serving /metrics and /healthz on %s\n", ln.Addr())
	go exporter.RefreshLoop(ctx, wall, f.refresh, refreshers, onErr)
	return exporter.Serve(ctx, ln, exporter.Handler(coll))
}

// exporterNode builds the node source from check's flags plus --path.
func exporterNode(env *Env, f *exporterFlags) (*exporter.Node, error) {
	n := &exporter.Node{Root: env.Root, ID: exporter.SourceID{Kind: "node", Name: "node"}, Store: exporter.NewStore(),
		Clock: env.Clock, Timeout: f.check.endpointTimeout}
	sources, err := nodeSources(env, inventory.NewReader(env.Root), nodeOptions(f.check.scanNode, f.check.inventories, f.check.dirs))
	if err != nil {
		return nil, err
	}
	n.Sources = sources
	for _, p := range f.paths {
		if !filepath.IsAbs(p) {
			return nil, usagef("--path %q: give an absolute node path", p)
		}
	}
	if len(f.paths) > 0 {
		n.Sources = append(n.Sources, exporter.Paths{Patterns: f.paths})
	}
	if f.check.endpointTimeout <= 0 {
		return nil, usagef("--endpoint-timeout %s: must be positive", f.check.endpointTimeout)
	}
	switch {
	case f.check.noEndpoints && len(f.check.endpoints) > 0:
		return nil, usagef("--endpoint and --no-endpoints contradict each other")
	case f.check.noEndpoints:
	case len(f.check.endpoints) > 0:
		for _, s := range f.check.endpoints {
			t, err := endpoint.ParseTarget(s, nil)
			if err != nil {
				return nil, usagef("--endpoint: %w", err)
			}
			n.Endpoints = append(n.Endpoints, t)
		}
	default:
		n.ManifestEndpoints = f.check.scanNode && (env.Root == "/" || env.Root == "" || f.hostNetwork)
	}
	return n, nil
}

// kubeClient is the core/v1 client --secrets reads with (not the clientset:
// see secrets.NewClient).
func kubeClient(kubeconfig string) (rest.Interface, error) {
	var cfg *rest.Config
	var err error
	if kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, usagef("--kubeconfig %s: %w", kubeconfig, err)
		}
	} else if cfg, err = rest.InClusterConfig(); err != nil {
		return nil, usagef("--secrets outside a pod needs --kubeconfig: %w", err)
	}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.UserAgent = "certrescue-exporter"
	return secrets.NewClient(cfg)
}
