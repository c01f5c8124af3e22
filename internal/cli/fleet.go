package cli

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/fleet"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/spf13/cobra"
)

// fleet pregate's exit codes (documented in its help; the Ansible
// collection branches on them).
const (
	ExitGateClosed  = 6 // the cluster serves, but touching a node now could break it
	ExitClusterDown = 7 // etcd has no quorum now
)

func init() {
	register(70, func(env *Env) *cobra.Command {
		c := withHelp(&cobra.Command{
			Use:   "fleet",
			Short: "Across nodes: the pre-gate before a control-plane node, one report of many nodes' checks",
			Long: `What certrescue knows about a node's peers, for an operator or a playbook
(deploy/ansible) working node by node. certrescue itself never connects to
other nodes over SSH: the fan-out is Ansible's (or the operator's).`,
		}, `  certrescue fleet pregate
  certrescue fleet report reports/*.json`, exitCodesSimple)
		c.AddCommand(newFleetPregateCmd(env), newFleetHandoffCmd(env), newFleetReportCmd(env))
		return c
	})
}

type pregateFlags struct {
	endpoints                 []string
	etcdCA, etcdCert, etcdKey string
	lb, lbKubeconfig, lbCA    string
	spare                     int
	timeout                   time.Duration
	output                    string
}

func newFleetPregateCmd(env *Env) *cobra.Command {
	var f pregateFlags
	c := &cobra.Command{
		Use:   "pregate",
		Short: "Is it safe to rescue one control-plane node now? etcd quorum with a member to spare, the load balancer ready",
		Long: `Run on a control-plane node before it is rescued (and after, as the cluster's
gate). It asks the etcd members over their client URLs with TLS (etcd's JSON
API: /health, /v3/cluster/member/list, /v3/maintenance/status), starting from
--etcd-endpoint and then every member the member list names, and the load
balancer's /readyz.

The gate is open when every voting member is asked, enough are healthy that
--spare of them may be lost with quorum kept (with three members: all three),
every healthy member names the same leader, every member lists the same
membership, and the load balancer answers /readyz with 200. It is closed when
etcd has quorum but one of these fails: restarting a member now could lose
quorum, or the load balancer has no ready API server behind it. It is down
when etcd has no quorum now (every certificate expired, members stopped): a
rolling rescue has nothing left to protect, and the control-plane nodes must
be rescued together (the collection's recovery play).

The etcd client credentials default to kubeadm's healthcheck client; the load
balancer's URL and credentials to admin.conf's server (on an HA control
plane, the load balancer's address); --lb off skips that check.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error { return runPregate(cmd, env, &f) },
	}
	c.Flags().StringArrayVar(&f.endpoints, "etcd-endpoint", []string{fleet.DefaultEtcdEndpoint}, "etcd client URL to start from (repeatable: the first that answers gives the member list)")
	c.Flags().StringVar(&f.etcdCA, "etcd-cacert", fleet.DefaultEtcdCA, "CA bundle etcd's serving certificates chain to (node path)")
	c.Flags().StringVar(&f.etcdCert, "etcd-cert", fleet.DefaultEtcdCert, "client certificate etcd trusts (node path)")
	c.Flags().StringVar(&f.etcdKey, "etcd-key", fleet.DefaultEtcdKey, "its private key (node path)")
	c.Flags().StringVar(&f.lb, "lb", "", "the load balancer's API server URL (https://VIP:6443), or off; default: --lb-kubeconfig's server")
	c.Flags().StringVar(&f.lbKubeconfig, "lb-kubeconfig", fleet.DefaultKubeconfig, "kubeconfig whose CA (and client certificate) the load balancer check uses, and whose server is the default --lb")
	c.Flags().StringVar(&f.lbCA, "lb-cacert", "", "CA bundle for the load balancer instead of the kubeconfig's (node path)")
	c.Flags().IntVar(&f.spare, "spare", 1, "etcd members that must be allowed to fail with quorum kept")
	c.Flags().DurationVar(&f.timeout, "timeout", 5*time.Second, "bound of each request")
	c.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	return withHelp(c, `  certrescue fleet pregate
  certrescue fleet pregate -o json
  certrescue fleet pregate --etcd-endpoint https://10.0.0.11:2379 --lb https://10.0.0.100:6443
  certrescue fleet pregate --lb off --spare 1`, `  0  open: quorum with --spare members to spare, one leader, one membership, the load balancer ready
  1  the pre-gate could not run: its credential files cannot be read (the message names them)
  3  usage error
  6  closed: etcd has quorum, but not a member to spare, or members disagree, or the load
     balancer answers no /readyz: do not touch a node now
  7  down: etcd has no quorum now: rescue the control-plane nodes together, not one by one`)
}

func runPregate(cmd *cobra.Command, env *Env, f *pregateFlags) error {
	if f.output != "table" && f.output != "json" {
		return usagef("-o %q: use table or json", f.output)
	}
	if f.spare < 1 {
		return usagef("--spare %d: at least 1", f.spare)
	}
	if f.timeout <= 0 {
		return usagef("--timeout %s: must be positive", f.timeout)
	}
	etcdTLS, err := fleet.ClientTLS(env.FS(), f.etcdCA, f.etcdCert, f.etcdKey)
	if err != nil {
		return fmt.Errorf("etcd credentials (--etcd-cacert, --etcd-cert, --etcd-key): %w", err)
	}
	o := fleet.PregateOptions{Endpoints: f.endpoints, Spare: f.spare, Timeout: f.timeout,
		Etcd: &fleet.EtcdClient{HTTP: httpClient(etcdTLS, f.timeout)}}
	if f.lb != "off" {
		server, lbTLS, err := fleet.KubeconfigTLS(env.FS(), f.lbKubeconfig)
		switch {
		case err != nil && (f.lb == "" || f.lbCA == ""):
			return fmt.Errorf("the load balancer check (--lb-kubeconfig; or --lb URL with --lb-cacert, or --lb off): %w", err)
		case err != nil:
			lbTLS = nil
		}
		if f.lbCA != "" {
			ca, err := fleet.ClientTLS(env.FS(), f.lbCA, "", "")
			if err != nil {
				return fmt.Errorf("--lb-cacert: %w", err)
			}
			if lbTLS != nil {
				lbTLS.RootCAs = ca.RootCAs
			} else {
				lbTLS = ca
			}
		}
		o.LB = f.lb
		if o.LB == "" {
			o.LB = server
		}
		o.LBHTTP = httpClient(lbTLS, f.timeout)
	}
	r, err := fleet.Pregate(cmd.Context(), o)
	if err != nil {
		return err
	}
	if f.output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else if err := printPregate(env.Stdout, r); err != nil {
		return err
	}
	switch r.Verdict {
	case fleet.Closed:
		return silentExit(ExitGateClosed)
	case fleet.Down:
		return silentExit(ExitClusterDown)
	}
	return nil
}

// httpClient is a client for the pre-gate: no proxy (members and the load
// balancer are on the cluster's own network), no connection reuse (each
// answer is fresh).
func httpClient(cfg *tls.Config, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, TLSClientConfig: cfg, DisableKeepAlives: true}}
}

func printPregate(w io.Writer, r *fleet.PregateResult) error {
	t := &table{}
	t.row(nil, "MEMBER", "ID", "ENDPOINT", "HEALTHY", "LEADER", "RAFT TERM", "ERROR")
	for _, m := range r.Members {
		leader, term := "-", "-"
		if m.Status != nil {
			leader, term = m.Status.Leader, fmt.Sprint(m.Status.RaftTerm)
			if m.Status.Leader == m.ID {
				leader += " (itself)"
			}
		}
		healthy := "yes"
		if !m.Healthy {
			healthy = "NO"
		}
		if m.IsLearner {
			healthy += " (learner)"
		}
		t.row(nil, m.Name, m.ID, dash(m.Endpoint), healthy, leader, term, dash(oneLine(m.Error, 80)))
	}
	if err := t.write(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\netcd: %d of %d voting members healthy, quorum %d, %d to spare\n", r.Healthy, r.Voting, r.Quorum, max(r.Spare, 0))
	if r.LB != nil {
		state := "ready"
		if !r.LB.Ready {
			state = "NOT ready: " + r.LB.Error
		}
		fmt.Fprintf(w, "load balancer %s: %s\n", r.LB.URL, state)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "  %-22s %s\n", p.Reason, p.Message)
	}
	switch r.Verdict {
	case fleet.Open:
		fmt.Fprintln(w, "pregate: open: one control-plane node may be rescued now")
	case fleet.Closed:
		fmt.Fprintf(w, "pregate: CLOSED: do not touch a control-plane node now (exit %d)\n", ExitGateClosed)
	case fleet.Down:
		fmt.Fprintf(w, "pregate: DOWN: etcd has no quorum; rescue the control-plane nodes together (exit %d)\n", ExitClusterDown)
	}
	return nil
}

func newFleetReportCmd(env *Env) *cobra.Command {
	var output string
	var bundles []string
	c := &cobra.Command{
		Use:   "report [NODE=]FILE|DIR... [--bundle FILE]",
		Short: "Merge many nodes' `check -o json` into one table and JSON: what is expired or wrong where",
		Long: `Reads each node's 'certrescue check -o json' output (a file per node, or a
directory of NODE.json files; the node is NODE= or the file's name without
.json) and prints, per node, its worst status and counts by reason, then every
certificate, key or kubeconfig that is not OK with its node, worst first. A
file that cannot be read or is not a check report makes its node "unknown"
(the report still covers the others).

--bundle reads many nodes' reports from one JSON object of node name to
report (the report, its JSON as a string, or null for a node that gave none),
as the collection's check.yml writes it.`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 && !c.Flags().Changed("bundle") {
				return usagef("fleet report: name at least one check report (FILE, NODE=FILE, a directory or --bundle FILE)")
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return usagef("-o %q: use table or json", output)
			}
			inputs, err := reportInputs(env, args)
			if err != nil {
				return err
			}
			var nodes []fleet.NodeCheck
			bad := false
			for _, in := range inputs {
				nc := fleet.NodeCheck{Node: in.node}
				data, err := readReport(env, in.path)
				if err == nil {
					nc.Check, err = fleet.ParseCheck(in.arg, data)
				}
				if err != nil {
					nc.Err, bad = err, true
				}
				nodes = append(nodes, nc)
			}
			for _, b := range bundles {
				data, err := operatorFS(env, b).ReadFile(b, fleet.MaxBundleSize)
				if err != nil {
					return usagef("--bundle %s: %w", b, err)
				}
				ncs, err := fleet.ParseBundle(b, data.Data)
				if err != nil {
					return usageError(err)
				}
				for _, nc := range ncs {
					if slices.ContainsFunc(nodes, func(o fleet.NodeCheck) bool { return o.Node == nc.Node }) {
						return usagef("node %s named twice (--bundle %s and before)", nc.Node, b)
					}
					bad = bad || nc.Err != nil
					nodes = append(nodes, nc)
				}
			}
			fr := fleet.Merge(nodes)
			if output == "json" {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(fr); err != nil {
					return err
				}
			} else if err := printFleetReport(env.Stdout, fr); err != nil {
				return err
			}
			switch {
			case bad:
				for _, n := range fr.Nodes {
					if n.Error != "" {
						fmt.Fprintf(env.Stderr, "certrescue: node %s: %s\n", n.Node, n.Error)
					}
				}
				return silentExit(ExitUsage)
			case fr.Status == "critical":
				return silentExit(ExitCritical)
			case fr.Status == "warning":
				return silentExit(ExitFailure)
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	c.Flags().StringArrayVar(&bundles, "bundle", nil, "a JSON object of node name to check report (many nodes in one file, as check.yml writes it); repeatable")
	return withHelp(c, `  certrescue fleet report reports/
  certrescue fleet report --bundle checks.json
  certrescue fleet report cp1=cp1.json cp2=cp2.json worker-17=w17.json
  certrescue fleet report -o json reports/*.json`, `  0  every node's every item is OK
  1  warnings only (something expires within the warning threshold)
  2  something is expired or invalid on some node
  3  usage error, or a report could not be read (its node is shown as unknown)`)
}

type reportInput struct{ node, path, arg string }

// reportInputs expands the arguments: NODE=FILE, FILE (node: its name
// without .json) or DIR (each *.json in it).
func reportInputs(env *Env, args []string) ([]reportInput, error) {
	var out []reportInput
	seen := map[string]string{}
	add := func(node, p, arg string) error {
		if node == "" {
			return usagef("%s: no node name", arg)
		}
		if prev, ok := seen[node]; ok {
			return usagef("node %s named twice (%s and %s)", node, prev, arg)
		}
		seen[node] = arg
		out = append(out, reportInput{node, p, arg})
		return nil
	}
	for _, a := range args {
		node, p, named := strings.Cut(a, "=")
		if !named {
			node, p = "", a
		}
		fsys := operatorFS(env, p)
		fi, err := fsys.Stat(p)
		if err == nil && fi.IsDir() && !named {
			matches := fsys.Glob(filepath.Join(p, "*.json"))
			sort.Strings(matches)
			if len(matches) == 0 {
				return nil, usagef("%s: no *.json check report in the directory", a)
			}
			for _, m := range matches {
				if err := add(strings.TrimSuffix(filepath.Base(m), ".json"), filepath.Join(p, filepath.Base(m)), filepath.Join(a, filepath.Base(m))); err != nil {
					return nil, err
				}
			}
			continue
		}
		if node == "" {
			node = strings.TrimSuffix(filepath.Base(p), ".json")
		}
		if err := add(node, p, a); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// operatorFS is the view a path named on the command line is read through:
// an absolute one is the node's, under --root; a relative one the
// operator's, from the working directory (as readInput reads).
func operatorFS(env *Env, p string) *nodefs.FS {
	if filepath.IsAbs(p) {
		return env.FS()
	}
	return nodefs.Host()
}

func readReport(env *Env, p string) ([]byte, error) {
	f, err := operatorFS(env, p).ReadFile(p, fleet.MaxCheckSize)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return f.Data, nil
}

func printFleetReport(w io.Writer, fr *fleet.FleetReport) error {
	t := &table{}
	t.row(nil, "NODE", "STATUS", "ITEMS", "CRITICAL", "WARNING", "REASONS")
	for _, n := range fr.Nodes {
		reasons := make([]string, 0, len(n.Reasons))
		for r, k := range n.Reasons {
			reasons = append(reasons, fmt.Sprintf("%s=%d", r, k))
		}
		sort.Strings(reasons)
		rs := strings.Join(reasons, ",")
		if n.Error != "" {
			rs = oneLine(n.Error, 100)
		}
		t.row(nil, n.Node, strings.ToUpper(n.Status), fmt.Sprint(n.Items), fmt.Sprint(n.Critical), fmt.Sprint(n.Warning), dash(rs))
	}
	if err := t.write(w); err != nil {
		return err
	}
	if len(fr.Rows) > 0 {
		fmt.Fprintln(w)
		t = &table{}
		t.row(nil, "NODE", "CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "STATUS", "PATH")
		for _, r := range fr.Rows {
			expires, residual := "-", "-"
			if r.NotAfter != nil {
				expires = r.NotAfter.UTC().Format(kubeadmTime)
			}
			if r.Residual != nil {
				residual = evaluation.Human(time.Duration(*r.Residual) * time.Second)
			}
			t.row(nil, r.Node, r.Name, expires, residual, strings.ToUpper(r.Status)+" "+strings.Join(r.Reasons, ","), r.Path)
		}
		if err := t.write(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\nfleet: %d nodes, status %s\n", len(fr.Nodes), fr.Status)
	return err
}
