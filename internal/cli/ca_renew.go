package cli

import (
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/certrescue/certrescue/internal/restart"
	"github.com/spf13/cobra"
)

// newCARenewCmd is `ca renew`: rescue's transaction with the CAs renewed on
// their own keys and no leaf re-issued.
func newCARenewCmd(env *Env) *cobra.Command {
	var f rescueFlags
	var validity string
	c := &cobra.Command{
		Use:   "renew all|NAME...",
		Short: "Renew CA certificates on their own keys and put them in every trust consumer, restart in order with health checks",
		Long: `Renew a CA certificate on the SAME key, as cfssl gencert -renewca does: the
same subject, subject key ID, key and extensions, a new serial and a new
validity (--validity, 10 years by default). Every certificate the CA signed
keeps verifying, so no leaf is re-issued.

NAME is a CA as check names it: kubeadm's ca, front-proxy-ca and etcd-ca
(also etcd/ca), a binary install's /etc/kubernetes/ssl/ca.pem, k3s/RKE2's
CAs by path; all renews every CA of the node whose key is on it.

Before anything is written it proves that every leaf certificate and every
kubeconfig client certificate of the node that the CA signed verifies against
the renewed certificate, and refuses with the list of those that would not.
Then, in rescue's transaction (lock, backup, journaled atomic deploy,
restarts in order behind health gates, rollback, audit), it replaces the CA
certificate everywhere the old one is: the CA file and every copy, the files
the components' trust flags name (--client-ca-file, --trusted-ca-file,
--root-ca-file, the kubelet's clientCAFile, ...), certificate-authority-data
of every kubeconfig on the node (admin, super-admin, controller-manager,
scheduler, kubelet, bootstrap-kubelet); then, when the API answers,
kube-public/cluster-info and kube-system/kube-apiserver-ca (see ca publish).
It writes an archive for the other nodes (--export; ca apply applies it).

rescue does the same by itself for a CA that is expired, expiring, or expires
before its leaves.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("ca renew needs 'all' or CA names (ca, front-proxy-ca, etcd-ca, or a CA certificate's path)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := cfssl.ParseDuration(validity)
			if err != nil || v <= 0 {
				return usagef("--validity %q: use a duration such as 87600h, 3650d or 10y", validity)
			}
			f.caValidity, f.caOnly, f.verb = v, true, "ca renew"
			cas, err := caNames(cmd, env, &f, args)
			if err != nil {
				return err
			}
			f.cas = cas
			return runRescue(cmd, env, &f)
		},
	}
	c.Flags().StringVar(&validity, "validity", "87600h", "lifetime of the renewed CA certificates (87600h, 3650d, 10y)")
	c.Flags().StringVar(&f.export, "export", "", "node path of the archive for the other nodes (default /var/lib/certrescue/ca-renew-TIME.tar.gz; - for none)")
	addCATxnFlags(c, &f)
	return audited(withHelp(c, `  certrescue ca renew all --dry-run
  certrescue ca renew all
  certrescue ca renew etcd/ca --validity 5y
  certrescue ca renew /etc/kubernetes/ssl/ca.pem --restart systemd
  certrescue --root /mnt/node ca renew all --restart none
  # then on every other node of the cluster:
  certrescue ca apply ca-renew-20260301T110000.000Z.tar.gz`, `  0  renewed, every consumer updated, restarted and healthy; or a dry run that found everything it needs
  1  refused, nothing changed: a certificate of the node would not verify against the renewed CA
     (listed), the CA key does not match, the "CA" is not a CA or not self-signed, its key is not
     on the node; or failed and rolled back (the message says what failed)
  3  usage error (unknown CA name, bad flag)
  4  renewed and restarted, but a restarted component had no health gate (named)
  5  renewed, still critical (check still finds a critical problem; the plan says which)`))
}

// caNames checks the CA names given to ca renew against the node's CAs
// (all: every CA whose key is on the node).
func caNames(cmd *cobra.Command, env *Env, f *rescueFlags, args []string) ([]string, error) {
	roles, _, err := f.renew.roles(cmd.Context(), env)
	if err != nil {
		return nil, err
	}
	cas := rescue.CARoles(env.Root, roles)
	if len(args) == 1 && args[0] == "all" {
		n := nodefs.New(env.Root)
		defer n.Close()
		var out []string
		for _, r := range cas {
			if r.KeyPath != "" && n.Exists(r.KeyPath) {
				out = append(out, r.Name)
			}
		}
		if len(out) == 0 {
			return nil, usagef("no CA with its private key on this node under --root %s: renew the CA where its key is, then ca apply the archive here", env.Root)
		}
		return out, nil
	}
	for _, a := range args {
		if _, err := rescue.FindCA(cas, a); err != nil {
			return nil, usageError(err)
		}
	}
	return args, nil
}

// addCATxnFlags are the transaction flags of ca renew and ca apply, as
// rescue has them: inventory, backup, dry run, restarts and gates.
func addCATxnFlags(c *cobra.Command, f *rescueFlags) {
	c.Flags().StringArrayVar(&f.renew.inventories, "inventory", nil, "inventory file (check's YAML) naming more certificates and kubeconfigs (repeatable)")
	c.Flags().StringArrayVar(&f.renew.dirs, "dir", nil, "directory whose certificates are read too, as check reads them (repeatable; node path under --root)")
	f.renew.validity, f.within = "8760h", "30d"
	f.backup.addDir(c)
	f.backup.addPaths(c)
	c.Flags().BoolVar(&f.dryRun, "dry-run", false, "check and print the plan, then stop: nothing is changed")
	c.Flags().StringVar(&f.strategy, "restart", restart.Auto, "how to restart components: "+strings.Join(restart.Strategies, ", "))
	c.Flags().StringArrayVar(&f.commands, "restart-command", nil, "COMPONENT=COMMAND for --restart command (repeatable; run with sh -c)")
	c.Flags().StringArrayVar(&f.units, "systemd-unit", nil, "COMPONENT=UNIT for --restart systemd or auto (repeatable)")
	c.Flags().BoolVar(&f.moveMan, "move-manifest", false, "static-pod: move the manifest out and back instead of stopping the container")
	c.Flags().StringArrayVar(&f.gates, "gate", nil, "COMPONENT=URL to probe instead of the one derived from its flags, or COMPONENT=off (repeatable)")
	c.Flags().DurationVar(&f.gateTimeout, "gate-timeout", 90*time.Second, "how long each health gate may take to pass")
	f.reload.add(c)
}
