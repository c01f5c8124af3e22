package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certrescue/certrescue/internal/backup"
	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/deploy"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/rescue"
	"github.com/spf13/cobra"
)

// renewFlags are the certificate flags shared by renew and rescue.
type renewFlags struct {
	validity    string
	addSANs     []string
	rotateKeys  bool
	inventories []string
	dirs        []string
	clientNames []string
	signer      remoteSignerFlags // who signs: the node's CA keys or a remote signer
}

func (f *renewFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.validity, "validity", "8760h", "lifetime of the renewed certificates (8760h, 365d, 1y)")
	c.Flags().StringSliceVar(&f.addSANs, "add-san", nil, "DNS name or IP to add to every renewed serving certificate (repeatable; renew only the apiserver to target it)")
	c.Flags().BoolVar(&f.rotateKeys, "rotate-keys", false, "issue new private keys (same algorithm and size) instead of keeping the current ones")
	c.Flags().StringArrayVar(&f.inventories, "inventory", nil, "inventory file (check's YAML) naming more certificates, keys and kubeconfigs to renew (repeatable; an absolute path is read under --root)")
	c.Flags().StringArrayVar(&f.dirs, "dir", nil, "directory whose *.crt, *.pem, *.cer, *.key files are renewed too, as check reads them (repeatable; node path under --root)")
	f.signer.add(c)
	c.Flags().StringArrayVar(&f.clientNames, "client-name", nil, "[KUBECONFIG=]CN[:O[,O...]]: the identity to issue a kubeconfig whose client certificate is not its own (check's foreign_client_certificate), e.g. admin:system:masters (repeatable; default: the previous client certificate with the kubeconfig's key, else the role's standard identity)")
}

// roles finds the node's credentials as check does (inventory.NodeSources:
// the node's layouts, --inventory, --dir) and returns them as renewal roles,
// with what cannot be renewed.
func (f *renewFlags) roles(ctx context.Context, env *Env) ([]layout.Role, []renewal.Skip, error) {
	items, err := scanNode(ctx, env, inventory.NewReader(env.Root), nodeOptions(true, f.inventories, f.dirs))
	if err != nil {
		return nil, nil, err
	}
	roles, skipped := renewal.RolesFromInventory(env.Root, items)
	if len(roles) == 0 {
		return nil, nil, fmt.Errorf("no certificates found to renew under --root %s (no kubeadm layout, manifests or systemd units naming any); name them with --inventory FILE or --dir DIR", env.Root)
	}
	return roles, skipped, nil
}

// identities parses --client-name.
func (f *renewFlags) identities() (map[string]evaluation.Identity, error) {
	out := map[string]evaluation.Identity{}
	for _, s := range f.clientNames {
		name, value := "", s
		if k, v, ok := strings.Cut(s, "="); ok && !strings.HasPrefix(s, "CN=") {
			name, value = k, v
		}
		id, err := renewal.ParseClientName(value)
		if err != nil {
			return nil, usagef("--client-name %q: %w", s, err)
		}
		if _, dup := out[name]; dup {
			if name == "" {
				name = "every kubeconfig"
			}
			return nil, usagef("--client-name %q: given twice for %s", s, name)
		}
		out[name] = id
	}
	return out, nil
}

func (f *renewFlags) options(env *Env, roles []layout.Role, names []string) (renewal.Options, error) {
	v, err := cfssl.ParseDuration(f.validity)
	if err != nil || v <= 0 {
		return renewal.Options{}, usagef("--validity %q: use a duration such as 8760h, 365d or 1y", f.validity)
	}
	for _, s := range f.addSANs {
		if err := renewal.CheckSAN(s); err != nil {
			return renewal.Options{}, usagef("--add-san %w", err)
		}
	}
	ids, err := f.identities()
	if err != nil {
		return renewal.Options{}, err
	}
	signers, err := f.signer.set(env)
	if err != nil {
		return renewal.Options{}, err
	}
	return renewal.Options{Root: env.Root, Roles: roles, Names: names, Now: env.Clock.Now(),
		Validity: v, AddSANs: f.addSANs, RotateKeys: f.rotateKeys, ClientNames: ids, Signers: signers}, nil
}

func init() {
	register(62, func(env *Env) *cobra.Command {
		var f renewFlags
		var b backupFlags
		var a autoFlags
		var noBackup, dryRun bool
		var output string
		c := &cobra.Command{
			Use:   "renew all|NAME...|--auto",
			Short: "Renew the node's certificates and kubeconfigs (every layout check reads) from their own templates",
			Long: `Renew leaf certificates from the existing certificate as template (subject,
SANs, usages, key algorithm), each signed by the CA certificate of the node that
verifies it, as check's chain analysis finds it (check -o json shows it as
caPath), on every layout check reads: kubeadm, kubespray, binary installs with
cfssl's .pem files, the hard way, k3s/RKE2, --inventory and --dir.

Names are kubeadm's for kubeadm's files, plus the two kubeadm leaves out
(kubelet.conf and kubelet-client, the kubelet's client certificate):
` + wrapWords(strings.Join(renewal.RenewableNames(layout.Kubeadm), ", "), 78, "  ") + `
Other files are named as check names them (apiserver, etcd-server, or their path).

Keys are kept unless --rotate-keys. Kubeconfigs are rewritten with clientcmd:
embedded data stays embedded, file references stay references. A kubeconfig
whose client certificate is not its own (check's foreign_client_certificate:
admin.conf pointed at the API server's certificate) gets its own credential,
embedded, with the previous identity: the node's client certificate whose key
it holds, else its role's standard one, or --client-name. The node is backed
up first.
renew does not restart anything: 'certrescue rescue' renews, restarts in order
and checks health.

--auto is the scheduled renewal ('certrescue timer install' runs it daily):
it renews only what is due, a certificate with less than --before left (by
default a third of its own lifetime: four months of a year, 30 days of 90),
plus what rescue always fixes (a kubeconfig holding another credential's
certificate, a key of another generation), through rescue's transaction:
backup, deploy, restarts in order behind health gates (--restart, --gate as
rescue), rollback, audit. Nothing due: nothing is touched, exit 0. When the
API answers, a coordination.k8s.io Lease (--lease) keeps two control-plane
nodes from renewing at once; a Lease another node holds means "not now", exit 0.`,
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 && !a.auto {
					return usagef("renew needs 'all' or certificate names (%s)", strings.Join(renewal.RenewableNames(layout.Kubeadm), ", "))
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error {
				if output != "table" && output != "json" {
					return usagef("-o %q: use table or json", output)
				}
				if err := a.refuseWithout(cmd); err != nil {
					return err
				}
				if a.auto {
					return runRenewAuto(cmd, env, &f, &b, &a, args, dryRun, noBackup, output)
				}
				roles, skipped, err := f.roles(cmd.Context(), env)
				if err != nil {
					return err
				}
				o, err := f.options(env, roles, args)
				if err != nil {
					return err
				}
				if err := skippedName(args, skipped); err != nil {
					return err
				}
				plan, err := renewal.Prepare(o)
				var fe *renewal.ForeignError
				if errors.As(err, &fe) {
					return fmt.Errorf("%w; say whose it is with --client-name %s=CN[:O] (for example --client-name %s=admin:system:masters)", err, fe.Name, fe.Name)
				}
				if err != nil {
					if errors.Is(err, renewal.ErrUnknownName) || errors.Is(err, renewal.ErrNotRenewable) {
						return usageError(err)
					}
					return err
				}
				if len(args) == 1 && args[0] == "all" {
					plan.Skipped = append(plan.Skipped, skipped...)
				}
				// check on the renewed set, before anything is written
				items, err := f.scanner(env)(cmd.Context())
				if err != nil {
					return err
				}
				left := rescue.Recheck(env.Root, items, plan)
				next := func() {
					if fix := fixFlags(left); len(fix) > 0 && output == "table" {
						fmt.Fprintf(env.Stdout, "next: %s\n", rerun(cmd, env, leftNames(left, roles, args), nil, fix...))
					}
				}
				if dryRun {
					if err := printPlan(env.Stdout, output, plan, "", left...); err != nil {
						return err
					}
					if output == "table" {
						printCritical(env.Stdout, left, criticalHeading(left, true))
					}
					next()
					return stillCritical(nil, left, true)
				}
				backupID := ""
				if !noBackup {
					info, err := takeBackup(cmd, env, &b, func() (*backup.Info, error) {
						return rescue.TakeBackup(env.Root, plan, roles, items, nil, b.realDir(env), env.Clock.Now())
					})
					if err != nil {
						return fmt.Errorf("%w; nothing was renewed", err)
					}
					backupID = info.ID
				}
				txn := env.newTxn(cmd, TxnDir)
				_, err = deploy.Apply(plan.Files(), deploy.Options{Root: env.Root, Txn: txn, Context: cmd.Context(),
					BeforeCommit: func() error {
						return planIntent(cmd, env, plan, facts.ActionRenew, txn)
					}})
				var recErr error
				if err != nil {
					// The failure is on record too (after the intent, if that was written).
					recErr = recordPlan(cmd, env, plan, facts.ActionRenew, err)
				}

				if err != nil {
					if backupID != "" {
						err = fmt.Errorf("%w\nrestore the previous files with: %s", err, restoreHint(env, &b, backupID))
					}
					return errors.Join(err, recErr)
				}
				if err := printPlan(env.Stdout, output, plan, backupID, left...); err != nil {
					return err
				}
				if output == "table" {
					if backupID != "" {
						fmt.Fprintf(env.Stdout, "undo with: %s\n", restoreHint(env, &b, backupID))
					}
					printCritical(env.Stdout, left, criticalHeading(left, false))
					if cs := plan.Components(); len(cs) > 0 {
						fmt.Fprintf(env.Stdout, "\nRestart to load them, in this order: %s\nthen check: %s\n('rescue' renews, restarts and checks health in one step)\n",
							strings.Join(cs, ", "), checkHint(env, f.inventories))
					}
				}
				next()
				return errors.Join(stillCritical(nil, left, false), recErr)
			},
		}
		f.add(c)
		b.addDir(c)
		a.add(c)
		c.Flags().BoolVar(&noBackup, "no-backup", false, "do not back up the node first")
		c.Flags().BoolVar(&dryRun, "dry-run", false, "show what would be renewed and write nothing")
		c.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
		return auditedLater(withHelp(c, `  certrescue renew all
  certrescue renew apiserver --add-san k8s-api.example.com --add-san 10.0.0.10
  certrescue renew all --rotate-keys --validity 365d
  certrescue renew admin.conf super-admin.conf
  certrescue renew admin.conf --client-name admin.conf=admin:system:masters
  certrescue renew all --inventory /root/registry-certs.yaml
  certrescue --root /mnt/node renew all --dry-run
  certrescue renew --auto
  certrescue renew --auto --before 30d --dry-run
  certrescue renew --auto --lease required --restart systemd`, `  0  renewed; --auto: nothing due, or due and renewed, restarted and healthy, or another
     node holds the Lease
  1  failed (CA expired, key mismatch, unwritable file); the backup named in the message restores the node;
     --auto: refused or rolled back, as rescue
  3  usage error (unknown name, bad flag)
  4  --auto: renewed and restarted, but a restarted component had no health gate
  5  renewed, still critical: check still finds a critical problem in the renewed
     certificates (a SAN missing for the service IP, a key mismatch); the plan names
     the flag that fixes it and "next:" the command. With --dry-run: would`), "auto")
	})
}

// skippedName turns a name renew all would skip (unreadable, no CA on the
// node) into a usage error that says why.
func skippedName(names []string, skipped []renewal.Skip) error {
	for _, n := range names {
		for _, s := range skipped {
			if s.Name == n {
				return usagef("%s cannot be renewed: %s", n, s.Reason)
			}
		}
	}
	return nil
}

// recordPlan records one audit event per renewed item.
func recordPlan(cmd *cobra.Command, env *Env, plan *renewal.Plan, action facts.Action, err error) error {
	var errs []error
	for _, it := range plan.Items {
		if it.SharedWith != "" {
			continue
		}
		ev := CertEvent{Action: action, Name: it.Role.Name, Path: it.Path, Cert: it.New, Previous: it.Old, Err: err, Detail: signedBy(it)}
		errs = append(errs, env.record(cmd, ev))
	}
	return errors.Join(errs...)
}

type planJSON struct {
	Backup   string         `json:"backup,omitempty"`
	Items    []planItemJSON `json:"items"`
	Skipped  []renewal.Skip `json:"skipped,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
	Restart  []string       `json:"restart"`
	// StillCritical is what check still finds critical on the renewed set.
	StillCritical []criticalJSON `json:"stillCritical,omitempty"`
}

type planItemJSON struct {
	Name       string             `json:"name"`
	Path       string             `json:"path"`
	SignedBy   string             `json:"signedBy"`
	CAPath     string             `json:"caPath,omitempty"` // node path of the CA certificate that signs it
	Signer     string             `json:"signer,omitempty"` // who signed: the local CA key or the remote signer
	NewKey     bool               `json:"newKey"`
	Own        string             `json:"ownCredential,omitempty"`
	SharedWith string             `json:"sharedWith,omitempty"`
	Files      []string           `json:"files"`
	Old        *facts.Certificate `json:"old"`
	New        *facts.Certificate `json:"new,omitempty"`
}

// printPlan shows a renewal plan. Only names, paths and certificate facts are
// printed: never file contents (they hold keys).
// left are the findings check still makes on the renewed set (-o json
// lists them, with the flags that fix each; printCritical shows them).
func printPlan(w io.Writer, format string, plan *renewal.Plan, backupID string, left ...rescue.Left) error {
	if format == "json" {
		out := planJSON{Backup: backupID, Skipped: plan.Skipped, Warnings: plan.Warnings, Restart: plan.Components(), StillCritical: criticalsJSON(left)}
		for _, it := range plan.Items {
			j := planItemJSON{Name: it.Role.Name, Path: it.Path, SignedBy: it.Role.CA, CAPath: it.CAPath, Signer: it.Signer, NewKey: it.NewKey, Own: it.Own, SharedWith: it.SharedWith}
			old := facts.Describe(it.Old)
			j.Old = &old
			if it.New != nil {
				n := facts.Describe(it.New)
				j.New = &n
			}
			for _, f := range it.Files {
				j.Files = append(j.Files, f.Path)
			}
			out.Items = append(out.Items, j)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tWAS VALID UNTIL\tNOW VALID UNTIL\tKEY\tSIGNED BY\tFILES")
	for _, it := range plan.Items {
		was := expiry(it.Old, plan.Now)
		if it.SharedWith != "" {
			fmt.Fprintf(tw, "%s\t%s\t(renewed with %s)\t\t\t\n", it.Role.Name, was, it.SharedWith)
			continue
		}
		key := "kept"
		if it.NewKey {
			key = "new " + it.Key.String()
		}
		var files []string
		for _, f := range it.Files {
			files = append(files, f.Path)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", it.Role.Name, was, it.New.NotAfter.UTC().Format(time.DateOnly), key, it.Role.CA, strings.Join(files, ", "))
	}
	tw.Flush()
	for _, it := range plan.Items {
		if it.Own != "" {
			fmt.Fprintf(w, "%s: issued its own client certificate because %s\n", it.Role.Name, it.Own)
		}
	}
	printSigners(w, plan)
	for _, s := range plan.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Name, s.Reason)
	}
	for _, warn := range plan.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if backupID != "" {
		fmt.Fprintf(w, "Backup: %s\n", backupID)
	}
	return nil
}

// expiry is a certificate's NotAfter with how it stands at now.
func expiry(c *x509.Certificate, now time.Time) string {
	d := c.NotAfter.UTC().Format(time.DateOnly)
	if now.After(c.NotAfter) {
		return d + " (EXPIRED)"
	}
	return d + " (" + humanDuration(c.NotAfter.Sub(now)) + " left)"
}

// wrapWords wraps text at width, indenting every line.
func wrapWords(text string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(text) {
		if len(line)+len(w)+1 > width && strings.TrimSpace(line) != "" {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		line += w + " "
	}
	b.WriteString(strings.TrimRight(line, " "))
	return b.String()
}
