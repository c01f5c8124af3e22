package cli

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/kubelet"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/spf13/cobra"
)

// kubeletFlags locate a node's kubelet credentials.
type kubeletFlags struct {
	kubeconfig string
	certDir    string
	node       string
}

func (f *kubeletFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.kubeconfig, "kubeconfig", kubelet.DefaultKubeconfig, "the kubelet's kubeconfig (node path)")
	c.Flags().StringVar(&f.certDir, "cert-dir", kubelet.DefaultPKIDir, "the kubelet's certificate directory, its --cert-dir (node path)")
	c.Flags().StringVar(&f.node, "node", "", "the node's name (default: from its current certificate, system:node:NAME)")
}

// worker is what a command knows of the node's kubelet credentials.
type worker struct {
	conf  *kubelet.Conf
	store kubelet.Store
	state *kubelet.State
	pair  *kubelet.Pair // the credential in use now: the store's, else kubelet.conf's
	node  string
}

func (f *kubeletFlags) load(env *Env) (*worker, error) {
	fsys := env.FS()
	w := &worker{store: kubelet.Store{FS: fsys, Dir: f.certDir, Prefix: kubelet.ClientPrefix}}
	conf, err := kubelet.LoadConf(fsys, f.kubeconfig)
	if err != nil {
		return nil, usageError(err)
	}
	w.conf = conf
	if w.state, err = w.store.Inspect(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if w.state != nil && w.state.Pair != nil {
		w.pair = w.state.Pair
	} else if p, err := conf.Credential(); err == nil {
		w.pair = p
	} else {
		return nil, fmt.Errorf("no usable kubelet key: %s: %v; %w", w.store.CurrentPath(), describeErr(w.state), err)
	}
	w.node = f.node
	if w.node == "" {
		w.node = kubelet.NodeName(w.pair.Leaf())
	}
	if w.node == "" {
		return nil, usagef("the kubelet's certificate is for %q, not system:node:NAME: pass --node NAME", w.pair.Leaf().Subject.CommonName)
	}
	return w, nil
}

func describeErr(st *kubelet.State) string {
	switch {
	case st == nil:
		return "no certificate directory"
	case !st.Exists:
		return "no current file"
	case st.PairErr != nil:
		return st.PairErr.Error()
	}
	return "unreadable"
}

func init() {
	register(64, func(env *Env) *cobra.Command {
		c := &cobra.Command{
			Use:   "kubelet",
			Short: "Rescue a node's kubelet client certificate with the kubelet's own store",
			Long: `Inspect and rescue a node's kubelet credentials: the rotating store in
/var/lib/kubelet/pki (kubelet-client-<timestamp>.pem files and the
kubelet-client-current.pem link) and /etc/kubernetes/kubelet.conf.

On a worker, where the CA key is not: 'kubelet csr' writes a request made with
the node's existing key, a control-plane node or the offline CA signs it
('certrescue sign'), and 'kubelet install' stores it the kubelet's way, points
kubelet.conf at kubelet-client-current.pem, restarts the kubelet and waits for
its /healthz and for the Node to be Ready in the API. Where the CA key is,
'kubelet renew' does all of it in one step.`,
		}
		c.AddCommand(kubeletStatusCmd(env), kubeletCSRCmd(env), kubeletInstallCmd(env), kubeletRenewCmd(env), kubeletServingCmd(env))
		return withHelp(c, `  certrescue kubelet status
  certrescue kubelet csr --out /tmp/worker-1.csr`, exitCodesSimple)
	})
}

func kubeletStatusCmd(env *Env) *cobra.Command {
	var f kubeletFlags
	var output, caKey string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the kubelet's current client certificate, its store and kubelet.conf",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := f.load(env)
			if err != nil {
				return err
			}
			now := env.Clock.Now()
			leaf := w.pair.Leaf()
			rep := map[string]any{
				"node": w.node, "kubeconfig": w.conf.Path, "embedded": w.conf.Embedded(),
				"namesCurrent": w.conf.NamesCurrent(w.store.CurrentPath()),
				"current":      w.store.CurrentPath(), "notAfter": leaf.NotAfter.UTC(), "expired": now.After(leaf.NotAfter),
				// Which CA signed it: a CA rotation re-signs the ones whose
				// issuer is not the new CA (deploy/ansible/ca-rotate.yml).
				"issuer": leaf.Issuer.String(), "authorityKeyId": hex.EncodeToString(leaf.AuthorityKeyId),
				// Whether the node can sign its own (kubelet renew) or needs
				// the CA holder (csr, sign there, install).
				"caKey": caKey, "caKeyPresent": env.FS().Exists(caKey),
			}
			stuck := ""
			if w.state != nil {
				rep["link"], rep["target"], rep["dated"] = w.state.Link, w.state.Target, w.state.Dated
				stuck = w.state.Stuck(now)
				rep["stuck"] = stuck
			}
			if output == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			fmt.Fprintf(env.Stdout, "node        %s\n", w.node)
			state := "valid"
			if now.After(leaf.NotAfter) {
				state = "EXPIRED"
			}
			fmt.Fprintf(env.Stdout, "certificate %s, %s until %s\n", leaf.Subject.CommonName, state, leaf.NotAfter.UTC().Format(time.RFC3339))
			switch {
			case w.conf.Embedded():
				fmt.Fprintf(env.Stdout, "kubeconfig  %s embeds its client certificate: it never rotates ('kubelet install' points it at %s)\n", w.conf.Path, w.store.CurrentPath())
			case w.conf.NamesCurrent(w.store.CurrentPath()):
				fmt.Fprintf(env.Stdout, "kubeconfig  %s names %s\n", w.conf.Path, w.store.CurrentPath())
			default:
				fmt.Fprintf(env.Stdout, "kubeconfig  %s names %s, not the kubelet's rotating link\n", w.conf.Path, w.conf.KC.ClientCert.Path)
			}
			if w.state != nil && w.state.Exists {
				fmt.Fprintf(env.Stdout, "store       %s -> %s (%d dated files)\n", w.store.CurrentPath(), w.state.Resolved, len(w.state.Dated))
			}
			if stuck != "" {
				fmt.Fprintf(env.Stdout, "rotation    STUCK: %s\n", stuck)
			}
			return nil
		},
	}
	f.add(c)
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	c.Flags().StringVar(&caKey, "ca-key", layout.PKIDir+"/ca.key", "the cluster CA key's path on the node: -o json says whether it is there (caKeyPresent)")
	return withHelp(c, `  certrescue kubelet status
  certrescue --root /mnt/worker-1 kubelet status -o json`, exitCodesSimple)
}

func kubeletCSRCmd(env *Env) *cobra.Command {
	var f kubeletFlags
	var out string
	c := &cobra.Command{
		Use:   "csr [--out FILE]",
		Short: "Write a certificate request for the node's client certificate, made with its existing key",
		Long: `Write a PEM certificate request for CN=system:node:NAME, O=system:nodes, made
with the key the kubelet uses now (kubelet-client-current.pem, else the one
kubelet.conf embeds): the key never leaves the node. Sign it where the CA key
is, with a profile for client authentication, and bring the certificate back
for 'certrescue kubelet install'.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := f.load(env)
			if err != nil {
				return err
			}
			csr, err := kubelet.NodeCSR(w.pair, w.node)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := env.Stdout.Write(csr)
				return err
			}
			fsys := env.FS() // an absolute path is the node's, under --root
			if !filepath.IsAbs(out) {
				fsys = nodefs.Host() // a relative one the operator's, from the working directory
			}
			if err := fsys.Write(fsys.Clean(out), csr, 0o644, true); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(env.Stderr, "wrote %s: certificate request for system:node:%s\n", out, w.node)
			return nil
		},
	}
	f.add(c)
	c.Flags().StringVar(&out, "out", "", "where to write the request (absolute paths are under --root, relative ones from the working directory; default stdout)")
	return withHelp(c, `  # on the worker
  certrescue kubelet csr --out /tmp/worker-1.csr
  # on a control-plane node (or where the offline CA is)
  certrescue sign -ca /etc/kubernetes/pki/ca.crt -ca-key /etc/kubernetes/pki/ca.key \
    --bare worker-1 /tmp/worker-1.csr
  # back on the worker
  certrescue kubelet install worker-1.pem`, exitCodesSimple)
}

// installFlags say how the kubelet is restarted and waited for.
type installFlags struct {
	restart     string
	restartCmd  string
	unit        string
	healthz     string
	server      string
	nodeGate    bool
	gateTimeout time.Duration
}

func (f *installFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.restart, "restart", "systemd", "how to restart the kubelet: systemd, command (--restart-command) or none")
	c.Flags().StringVar(&f.restartCmd, "restart-command", "", "shell command that restarts the kubelet (with --restart command)")
	c.Flags().StringVar(&f.unit, "unit", "kubelet", "the kubelet's systemd unit")
	c.Flags().StringVar(&f.healthz, "healthz", "", "the kubelet's health URL (default: healthzBindAddress:healthzPort of /var/lib/kubelet/config.yaml, 127.0.0.1:10248); none skips it")
	c.Flags().StringVar(&f.server, "server", "", "API server URL for the Node-Ready gate (default: kubelet.conf's server; give the address when that is a name the node cannot resolve)")
	c.Flags().BoolVar(&f.nodeGate, "node-gate", true, "after the restart, wait until the Node is Ready in the API and its kubelet renews its Lease (asked with the kubelet's new certificate)")
	c.Flags().DurationVar(&f.gateTimeout, "gate-timeout", 5*time.Minute, "how long each gate may take")
}

func (f *installFlags) restarter() (restart.Restarter, error) {
	switch f.restart {
	case "systemd":
		return restart.SystemdRestarter{Units: map[string]string{"kubelet": f.unit}}, nil
	case "command":
		if f.restartCmd == "" {
			return nil, usagef("--restart command needs --restart-command 'CMD'")
		}
		return restart.CommandRestarter{Commands: map[string]string{"kubelet": f.restartCmd}}, nil
	case "none":
		return restart.NoneRestarter{}, nil
	}
	return nil, usagef("--restart %q: want systemd, command or none", f.restart)
}

func kubeletInstallCmd(env *Env) *cobra.Command {
	var f kubeletFlags
	var in installFlags
	c := &cobra.Command{
		Use:   "install CERT.pem",
		Short: "Install a signed kubelet client certificate the kubelet's way, restart it, wait until the Node is Ready",
		Long: `Install the node's signed client certificate: it must be system:node:NAME in
system:nodes, for client authentication, hold the key the kubelet has now,
be valid, and chain to kubelet.conf's CA; otherwise nothing changes.

It is stored as the kubelet stores a rotated certificate: a new
kubelet-client-<timestamp>.pem (0600) with the key, a
kubelet-client-updated.pem link to it renamed over kubelet-client-current.pem
(one rename: a crash leaves the old or the new pair current, never neither).
kubelet.conf is pointed at kubelet-client-current.pem when it embeds its
certificate or names another file, so the kubelet's own rotation takes over.
Then the kubelet is restarted and the gates wait for its /healthz and for the
Node to be Ready in the API with its Lease renewed after the restart.`,
		Args: exactArgs(1, "the signed certificate (PEM)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readInput(env, "certificate", args[0])
			if err != nil {
				return err
			}
			certs, err := pki.ParseCertificatesPEM(data)
			if err != nil {
				return usagef("certificate %s: %w", args[0], err)
			}
			return installKubelet(cmd, env, &f, &in, certs)
		},
	}
	f.add(c)
	in.add(c)
	return audited(withHelp(c, `  certrescue kubelet install worker-1.pem
  certrescue kubelet install --restart command --restart-command 'systemctl restart kubelet' \
    --server https://10.0.0.1:6443 worker-1.pem`, exitCodesSimple))
}

func kubeletRenewCmd(env *Env) *cobra.Command {
	var f kubeletFlags
	var in installFlags
	var so signerOptions
	c := &cobra.Command{
		Use:   "renew -ca CA -ca-key KEY [-config FILE -profile NAME]",
		Short: "Renew the node's kubelet client certificate where the CA key is, and install it (csr, sign, install in one)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := f.load(env)
			if err != nil {
				return err
			}
			csrPEM, err := kubelet.NodeCSR(w.pair, w.node)
			if err != nil {
				return err
			}
			csr, err := pki.ParseCSRPEM(csrPEM)
			if err != nil {
				return err
			}
			ca, pol, err := so.load(env)
			if err != nil {
				return err
			}
			is, err := cfssl.SignCSR(ca, pol, csr, nil, env.Clock.Now())
			if err != nil {
				return err
			}
			printWarnings(env, is.Warnings)
			return installKubelet(cmd, env, &f, &in, []*x509.Certificate{is.Cert})
		},
	}
	f.add(c)
	in.add(c)
	c.Flags().StringVar(&so.ca, "ca", "", "CA certificate")
	c.Flags().StringVar(&so.caKey, "ca-key", "", "CA private key")
	c.Flags().StringVar(&so.config, "config", "", "cfssl signing configuration (ca-config.json)")
	c.Flags().StringVar(&so.profile, "profile", "", "signing profile of --config, one for client authentication (default: signing.default)")
	return audited(withHelp(c, `  certrescue kubelet renew -ca /etc/kubernetes/pki/ca.crt -ca-key /etc/kubernetes/pki/ca.key`, exitCodesSimple))
}

// installKubelet is install's and renew's common path: verify, store,
// repoint kubelet.conf, restart, gate. Each change is on the audit record
// before it is made.
func installKubelet(cmd *cobra.Command, env *Env, f *kubeletFlags, in *installFlags, certs []*x509.Certificate) error {
	rs, err := in.restarter()
	if err != nil {
		return err
	}
	w, err := f.load(env)
	if err != nil {
		return err
	}
	caPEM, err := w.conf.CACertificates()
	if err != nil {
		return err
	}
	now := env.Clock.Now()
	if err := kubelet.CheckClient(certs[0], certs, w.pair, w.node, caPEM, now); err != nil {
		return usagef("refusing %s's certificate (nothing was changed): %w", w.node, err)
	}
	if v, ok := rs.(restart.Validator); ok {
		if err := v.Validate([]string{"kubelet"}); err != nil {
			return err
		}
	}
	if err := restart.CheckRoot(in.restart, env.Root); err != nil {
		return usageError(err)
	}
	pair := &kubelet.Pair{Certs: certs, Key: w.pair.Key, KeyPEM: w.pair.KeyPEM}
	previous := w.pair.Leaf()
	res, err := w.store.Install(pair, now, kubelet.InstallOptions{BeforeSwitch: func(dated string) error {
		return env.record(cmd, CertEvent{Action: facts.ActionRenew, Name: "kubelet-client", Path: w.store.CurrentPath(), Cert: certs[0], Previous: previous,
			Detail: "node " + w.node + ": " + w.store.CurrentPath() + " -> " + dated})
	}})
	if err != nil {
		return err
	}
	if res.Already {
		fmt.Fprintf(env.Stdout, "%s already names this certificate\n", w.store.CurrentPath())
	} else {
		if res.Preserved != "" {
			fmt.Fprintf(env.Stdout, "kept the regular file %s as %s\n", w.store.CurrentPath(), res.Preserved)
		}
		fmt.Fprintf(env.Stdout, "stored %s, %s -> it (valid until %s)\n", res.Dated, w.store.CurrentPath(), certs[0].NotAfter.UTC().Format(time.RFC3339))
	}
	data, err := w.conf.PointAt(w.store.CurrentPath())
	if err != nil {
		return err
	}
	if data != nil {
		if err := env.record(cmd, CertEvent{Action: facts.ActionDeploy, Name: "kubelet.conf", Path: w.conf.Path, Cert: certs[0],
			Detail: "client-certificate and client-key point at " + w.store.CurrentPath()}); err != nil {
			return err
		}
		if err := w.conf.Write(env.FS(), data); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s now names %s (the kubelet's rotation takes over)\n", w.conf.Path, w.store.CurrentPath())
	}
	return restartAndGate(cmd, env, f, in, rs, w)
}

func restartAndGate(cmd *cobra.Command, env *Env, f *kubeletFlags, in *installFlags, rs restart.Restarter, w *worker) error {
	ctx := cmd.Context()
	if err := rs.Restart(ctx, "kubelet"); err != nil {
		if errors.Is(err, restart.ErrManual) {
			fmt.Fprintf(env.Stdout, "restart the kubelet now (systemctl restart %s): it loads the certificate when it starts\n", in.unit)
			return nil
		}
		_ = env.record(cmd, CertEvent{Action: facts.ActionRestart, Name: "kubelet", Err: err})
		return fmt.Errorf("restart the kubelet: %w", err)
	}
	if err := env.record(cmd, CertEvent{Action: facts.ActionRestart, Name: "kubelet", Detail: rs.Describe("kubelet")}); err != nil {
		return err
	}
	since := wall.Now() // the restart has returned: the old kubelet is gone
	fmt.Fprintf(env.Stdout, "restarted the kubelet (%s)\n", rs.Describe("kubelet"))
	var gates []health.Gate
	if in.healthz != "none" {
		u := in.healthz
		if u == "" {
			u = kubeletHealthzURL(env)
		}
		gates = append(gates, health.Gate{Component: "kubelet", Name: "kubelet " + u, Timeout: in.gateTimeout, Probe: health.HTTPProbe{URL: u}})
	}
	if in.nodeGate {
		gates = append(gates, health.Gate{Component: "kubelet", Name: "node " + w.node + " Ready in the API, lease renewed", Timeout: in.gateTimeout,
			Probe: health.NodeReadyProbe{FS: env.FS(), Kubeconfig: f.kubeconfig, Server: in.server, Node: w.node, Since: since}})
	}
	for _, g := range gates {
		r := health.Wait(ctx, g, wall, health.DefaultBackoff)
		if r.Err != nil {
			return fmt.Errorf("gate %s: %w", g.Name, r.Err)
		}
		fmt.Fprintf(env.Stdout, "gate %s: ok after %s\n", g.Name, r.Took.Round(10*time.Millisecond))
	}
	return nil
}

// kubeletHealthzURL is the kubelet's /healthz from its KubeletConfiguration.
func kubeletHealthzURL(env *Env) string {
	port, host := "10248", "127.0.0.1"
	if data, err := env.FS().Read("/var/lib/kubelet/config.yaml", 1<<20); err == nil {
		if p, h, err := health.ParseKubeletHealthz(data); err == nil {
			if p != "" {
				port = p
			}
			if h != "" && h != "0.0.0.0" && h != "::" {
				host = h
			}
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port + "/healthz"
}

func kubeletServingCmd(env *Env) *cobra.Command {
	var f kubeletFlags
	var in installFlags
	c := &cobra.Command{
		Use:   "renew-serving",
		Short: "Renew the kubelet's self-signed serving certificate (kubelet.crt, kubelet.key) and restart it",
		Long: `Renew the serving certificate a kubelet makes for itself when it has none
configured (no tlsCertFile, no serverTLSBootstrap): a new CA HOST-ca@TIME and a
serving certificate HOST@TIME for the same host, DNS names and IPs, valid for a
year, as the kubelet makes them, written to kubelet.crt (0644) and kubelet.key
(0600) in one atomic, journaled set; then the kubelet is restarted behind its
/healthz and the Node-Ready gate. 'certrescue renew' leaves this pair alone.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			rs, err := in.restarter()
			if err != nil {
				return err
			}
			if err := restart.CheckRoot(in.restart, env.Root); err != nil {
				return usageError(err)
			}
			fsys := env.FS()
			old, err := kubelet.ReadServing(fsys, f.certDir)
			if err != nil {
				return usageError(err)
			}
			names, err := kubelet.NamesOf(old)
			if err != nil {
				return usagef("%s/%s: %w", f.certDir, kubelet.ServingCert, err)
			}
			w := &worker{node: names.Host}
			if in.nodeGate {
				if w, err = f.load(env); err != nil {
					return err
				}
			}
			certPEM, keyPEM, err := kubelet.SelfSignedServing(names, env.Clock.Now())
			if err != nil {
				return err
			}
			leaf, err := pki.ParseCertificatesPEM(certPEM)
			if err != nil {
				return err
			}
			crt := f.certDir + "/" + kubelet.ServingCert
			err = kubelet.WriteServing(fsys, f.certDir, certPEM, keyPEM, nodefs.WriteOptions{Txn: env.newTxn(cmd, TxnDir), BeforeCommit: func() error {
				return env.record(cmd, CertEvent{Action: facts.ActionRenew, Name: "kubelet-serving", Path: crt, Cert: leaf[0], Previous: old,
					Detail: "the kubelet's self-signed serving certificate and its CA"})
			}})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "renewed %s (%s, valid until %s) and %s/%s\n", crt, leaf[0].Subject.CommonName,
				leaf[0].NotAfter.UTC().Format(time.RFC3339), f.certDir, kubelet.ServingKey)
			return restartAndGate(cmd, env, &f, &in, rs, w)
		},
	}
	f.add(c)
	in.add(c)
	return audited(withHelp(c, `  certrescue kubelet renew-serving
  certrescue --root /mnt/worker-1 kubelet renew-serving --restart none`, exitCodesSimple))
}
