package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/health"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/secrets"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
)

// adminKubeconfigs are tried, in order, to reach the API after a CA change.
var adminKubeconfigs = []string{layout.KubernetesDir + "/admin.conf", layout.KubernetesDir + "/super-admin.conf"}

// renewedCAs are the CA items of a rescue's plan.
func renewedCAs(rep *rescue.Report) []catrust.ArchiveCA {
	if rep == nil || rep.Plan == nil {
		return nil
	}
	var out []catrust.ArchiveCA
	for _, it := range rep.Plan.Items {
		if it.Role.Kind == layout.KindCA && it.New != nil && it.Old != nil {
			out = append(out, catrust.ArchiveCA{Name: it.Role.Name, Path: it.Role.CertPath, OldSHA256: catrust.Fingerprint(it.Old), Cert: it.New})
		}
	}
	return out
}

// afterCARenewal finishes a run that renewed CAs: the archive for the other
// nodes, and the cluster's copies (cluster-info, kube-apiserver-ca) once the
// API server runs with the renewed CA.
func afterCARenewal(cmd *cobra.Command, env *Env, f *rescueFlags, rep *rescue.Report) {
	cas := renewedCAs(rep)
	if len(cas) == 0 || f.imported {
		return
	}
	switch rep.Result {
	case rescue.ResultDryRun:
		fmt.Fprintf(env.Stdout, "then: the archive for the other nodes, and kube-public/cluster-info and kube-system/kube-apiserver-ca in the cluster (%s)\n",
			env.command("ca", "publish").String())
		return
	case rescue.ResultOK, rescue.ResultStillCritical, rescue.ResultManualRestart:
	default:
		return // rolled back: nothing changed
	}
	if f.export != "-" {
		p := f.export
		if p == "" {
			p = path.Join(rescue.StateDir, "ca-renew-"+strings.TrimPrefix(rep.Run, "rescue-")+".tar.gz")
		}
		if err := writeCAArchive(env, p, cas); err != nil {
			env.warnf("the archive for the other nodes was not written: %v", err)
		} else {
			fmt.Fprintf(env.Stdout, "archive for the other nodes: %s (copy it to each and run: %s)\n", p, env.command("ca", "apply", path.Base(p)).String())
			_ = env.record(cmd, CertEvent{Action: facts.ActionCreate, Name: "ca-archive", Path: p, Detail: fmt.Sprintf("%d CA certificates", len(cas))})
		}
	}
	if rep.Result == rescue.ResultManualRestart {
		fmt.Fprintf(env.Stdout, "once the API server runs with the renewed CA: %s\n", env.command("ca", "publish").String())
		return
	}
	var reps []catrust.Replace
	for _, ca := range cas {
		reps = append(reps, catrust.Replace{Old: []*x509.Certificate{ca.Cert}, Bundle: []*x509.Certificate{ca.Cert}})
	}
	if err := publish(cmd, env, "", "", reps); err != nil {
		env.warnf("%v\nretry once the API answers: %s", err, env.command("ca", "publish").String())
	}
}

func writeCAArchive(env *Env, p string, cas []catrust.ArchiveCA) error {
	host := ""
	if data, err := env.FS().Read("/etc/hostname", 256); err == nil {
		host = strings.TrimSpace(string(data))
	}
	data, err := catrust.WriteArchive(catrust.Manifest{Kind: catrust.ArchiveKindRenew, Created: env.Clock.Now().UTC(), Node: host, CAs: cas})
	if err != nil {
		return err
	}
	n := env.FS()
	if err := n.MkdirAll(path.Dir(p), 0o700); err != nil {
		return err
	}
	return n.WriteSet([]nodefs.Put{{Path: p, Data: data, Mode: 0o644}}, nodefs.WriteOptions{Force: true})
}

// publish applies reps to the cluster's ConfigMaps and prints what it did.
func publish(cmd *cobra.Command, env *Env, kubeconfigPath, server string, reps []catrust.Replace) error {
	client, where, err := apiClient(env, kubeconfigPath, server)
	if err != nil {
		return fmt.Errorf("cluster-info and kube-apiserver-ca were not updated: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	var errs []error
	state := map[string]catrust.ClusterResult{}
	var order []string
	for _, r := range reps {
		for _, res := range catrust.UpdateCluster(ctx, client, r) {
			prev, seen := state[res.Path]
			if !seen {
				order = append(order, res.Path)
			}
			if seen && (prev.Changed || prev.Err != nil) && !res.Changed && res.Err == nil {
				continue
			}
			state[res.Path] = res
		}
	}
	fmt.Fprintf(env.Stdout, "cluster (%s):\n", where)
	for _, p := range order {
		res := state[p]
		switch {
		case res.Err != nil:
			fmt.Fprintf(env.Stdout, "  %-30s FAILED  %v\n", p, res.Err)
			errs = append(errs, res.Err)
		case res.Absent:
			fmt.Fprintf(env.Stdout, "  %-30s absent  (nothing to update)\n", p)
		case res.Changed:
			fmt.Fprintf(env.Stdout, "  %-30s updated %s now holds %s\n", p, res.Field, describeHolds(res.Holds))
			errs = append(errs, env.record(cmd, CertEvent{Action: facts.ActionDeploy, Name: p, Path: "configmap " + p + " " + res.Field, Detail: describeHolds(res.Holds)}))
		default:
			fmt.Fprintf(env.Stdout, "  %-30s ok      %s holds %s\n", p, res.Field, describeHolds(res.Holds))
		}
	}
	return errors.Join(errs...)
}

func describeHolds(cs []*x509.Certificate) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s until %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.DateOnly)))
	}
	if len(parts) == 0 {
		return "no certificate"
	}
	return strings.Join(parts, ", ")
}

// apiClient is a core/v1 client with a kubeconfig of the node (read through
// nodefs) at the API server's local address (its flags), or server.
func apiClient(env *Env, kubeconfigPath, server string) (rest.Interface, string, error) {
	n := env.FS()
	cands := adminKubeconfigs
	if kubeconfigPath != "" {
		cands = []string{kubeconfigPath}
	}
	var kc *kubeconfig.Kubeconfig
	var used string
	for _, p := range cands {
		f, err := n.ReadFile(p, kubeconfig.MaxSize)
		if err != nil {
			if kubeconfigPath != "" {
				return nil, "", fmt.Errorf("kubeconfig %s: %w", p, err)
			}
			continue
		}
		k, err := kubeconfig.Parse(f.Data, path.Dir(p), func(q string) ([]byte, error) { return n.Read(q, pki.MaxPEMSize) })
		if err != nil {
			return nil, "", fmt.Errorf("kubeconfig %s: %w", p, err)
		}
		kc, used = k, p
		break
	}
	if kc == nil {
		return nil, "", fmt.Errorf("no admin kubeconfig on the node (%s)", strings.Join(cands, ", "))
	}
	if server == "" {
		server = kc.Server
		if comps, err := inventory.NewReader(env.Root).Components(); err == nil {
			for _, c := range comps {
				if c.Name == layout.KubeAPIServer {
					server = health.LocalAPIServer(c)
				}
			}
		}
	}
	cfg := &rest.Config{Host: server, Timeout: 10 * time.Second, UserAgent: "certrescue",
		TLSClientConfig: rest.TLSClientConfig{CAData: kc.CA.Data, CertData: kc.ClientCert.Data, KeyData: kc.ClientKey.Data}}
	client, err := secrets.NewClient(cfg)
	if err != nil {
		return nil, "", err
	}
	return client, server + " as " + used, nil
}

// newCAPublishCmd is `ca publish`: the node's CA certificates into the
// cluster's copies.
func newCAPublishCmd(env *Env) *cobra.Command {
	var kubeconfigPath, server string
	var inventories, dirs []string
	c := &cobra.Command{
		Use:   "publish",
		Short: "Put the node's CA certificates into kube-public/cluster-info and kube-system/kube-apiserver-ca",
		Long: `Replace, in kube-public/cluster-info (the kubeconfig joining nodes trust) and the
field guide's kube-system/kube-apiserver-ca (ca-bundle.crt, a primary and a
backup CA), every certificate of a CA of this node (the same subject and key:
an earlier or later renewal of it) by the node's current certificate. Other
certificates (a backup CA) stay. Absent ConfigMaps are reported, not created.
ca renew and rescue run this by themselves after a CA renewal, once the API
server answers.

It talks to the API server at its local address (from its flags), as
/etc/kubernetes/admin.conf (or super-admin.conf, or --kubeconfig).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			items, err := scanNode(cmd.Context(), env, inventory.NewReader(env.Root), nodeOptions(true, inventories, dirs))
			if err != nil {
				return err
			}
			var reps []catrust.Replace
			for _, ca := range catrust.Build(env.FS(), items) {
				reps = append(reps, catrust.Replace{Old: []*x509.Certificate{ca.Cert}, Bundle: []*x509.Certificate{ca.Cert}})
			}
			if len(reps) == 0 {
				return fmt.Errorf("no CA certificate found on the node under --root %s", env.Root)
			}
			return publish(cmd, env, kubeconfigPath, server, reps)
		},
	}
	c.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "node path of the kubeconfig to use (default admin.conf, then super-admin.conf)")
	c.Flags().StringVar(&server, "server", "", "API server URL (default: its local address from its flags)")
	c.Flags().StringArrayVar(&inventories, "inventory", nil, "inventory file naming more certificates (repeatable)")
	c.Flags().StringArrayVar(&dirs, "dir", nil, "directory whose certificates are read too (repeatable)")
	return audited(withHelp(c, `  certrescue ca publish
  certrescue ca publish --kubeconfig /etc/kubernetes/super-admin.conf --server https://10.0.0.1:6443`, exitCodesSimple))
}
