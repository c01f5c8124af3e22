package cli

import (
	"fmt"
	"time"

	"github.com/certrescue/certrescue/internal/certmanager"
	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/spf13/cobra"
)

type certManagerFlags struct {
	issuer                      certmanager.Issuer
	caBundle                    string
	certs                       []string
	duration, renewBefore       string
	inventories, dirs           []string
	authMount, appRoleSecret    string
	serviceAccount, appRolePath string
}

func init() {
	register(65, func(env *Env) *cobra.Command {
		c := &cobra.Command{
			Use:   "cert-manager",
			Short: "Write cert-manager's Vault ClusterIssuer and workload Certificates; list what cert-manager cannot manage",
			Long: `cert-manager requests and rotates the workloads' certificates from Vault (the
field guide's ClusterIssuer at pki/sign/k8s-cluster, 90-day certificates renewed
15 days before expiry). It cannot manage the node's own certificates: a static
pod cannot mount a Secret, and cert-manager needs the API server those
certificates keep running. The certrescue timer renews those. See
docs/long-term.md.`,
			Args: exactArgs(0, "a subcommand (manifests)"),
			RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		}
		c.AddCommand(certManagerManifestsCmd(env))
		return withHelp(c, `  certrescue cert-manager manifests --vault-server https://vault.example.com:8200 --vault-role cert-manager`, exitCodesSimple)
	})
}

func certManagerManifestsCmd(env *Env) *cobra.Command {
	var f certManagerFlags
	c := &cobra.Command{
		Use:   "manifests",
		Short: "Print the ClusterIssuer, its auth objects and the Certificates as YAML, headed by what cert-manager cannot manage",
		Long: `Prints, for kubectl apply -f -:
  - a ClusterIssuer for Vault: --vault-server, --vault-path (the PKI mount's
    signing path, the field guide's pki/sign/k8s-cluster), caBundle from the
    cluster's CA (/etc/kubernetes/pki/ca.crt under --root, or --ca-bundle: the
    CA that signed Vault's TLS certificate), and Kubernetes auth (--vault-role;
    with the ServiceAccount cert-manager takes tokens of, and the Role and
    RoleBinding that let it) or AppRole auth (--approle-role-id; the secret ID
    in a Secret you create, named in the output);
  - a Certificate for each --certificate NAMESPACE/NAME=SAN[,SAN...], with
    --duration 2160h and --renew-before 360h (90 days, renewed 15 before).
At the head, as YAML comments: each of this node's certificates (found as
check finds them) that cert-manager cannot manage, why, and what renews it.
Writes nothing; reads the node only.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := f.issuer
			var err error
			if i.CABundle, err = readInput(env, "--ca-bundle", f.caBundle); err != nil {
				return err
			}
			switch i.Auth.Kind {
			case certmanager.AuthKubernetes:
				i.Auth.MountPath, i.Auth.ServiceAccount = f.authMount, f.serviceAccount
			case certmanager.AuthAppRole:
				i.Auth.SecretName, i.Auth.AppRolePath = f.appRoleSecret, f.appRolePath
			}
			var certs []certmanager.Certificate
			for _, s := range f.certs {
				cert, err := certmanager.ParseCertificate(s)
				if err != nil {
					return usagef("--certificate: %w", err)
				}
				certs = append(certs, cert)
			}
			if len(f.duration) > 0 || len(f.renewBefore) > 0 {
				d, rb, err := lifetimes(f.duration, f.renewBefore)
				if err != nil {
					return err
				}
				for k := range certs {
					certs[k].Duration, certs[k].RenewBefore = d, rb
				}
			}
			out, err := certmanager.Manifests(i, certs)
			if err != nil {
				return usageError(err)
			}
			rf := renewFlags{inventories: f.inventories, dirs: f.dirs}
			var list []certmanager.Unmanaged
			if roles, _, err := rf.roles(cmd.Context(), env); err == nil {
				list = certmanager.CannotManage(renewal.Inspect(env.Root, roles))
			}
			printUnmanaged(env, list)
			if i.Auth.Kind == certmanager.AuthAppRole {
				ns := i.CertManagerNamespace
				if ns == "" {
					ns = certmanager.DefaultNamespace
				}
				name := i.Auth.SecretName
				if name == "" {
					name = "vault-approle"
				}
				fmt.Fprintf(env.Stdout, "#\n# AppRole: create the secret ID's Secret first (the secret ID never goes in a manifest):\n#   kubectl -n %s create secret generic %s --from-file=secretId=SECRET_ID_FILE\n", ns, name)
			}
			_, err = env.Stdout.Write(out)
			return err
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.issuer.Name, "issuer-name", certmanager.DefaultIssuerName, "the ClusterIssuer's name")
	fl.StringVar(&f.issuer.Server, "vault-server", "", "Vault's address, https://HOST[:PORT] (required)")
	fl.StringVar(&f.issuer.Path, "vault-path", certmanager.DefaultPath, "the PKI mount's signing path: MOUNT/sign/ROLE or MOUNT/sign-verbatim[/ROLE]")
	fl.StringVar(&f.issuer.Namespace, "vault-namespace", "", "Vault Enterprise namespace")
	fl.StringVar(&f.caBundle, "ca-bundle", layout.PKIDir+"/ca.crt", "PEM file of the CA certificates that verify Vault's TLS certificate (an absolute path is the node's, under --root)")
	fl.StringVar(&f.issuer.Auth.Kind, "auth", certmanager.AuthKubernetes, "how cert-manager logs in to Vault: kubernetes or approle")
	fl.StringVar(&f.issuer.Auth.Role, "vault-role", "", "kubernetes auth: Vault's role bound to the service account")
	fl.StringVar(&f.authMount, "auth-mount-path", "/v1/auth/kubernetes", "kubernetes auth: the auth mount's API path")
	fl.StringVar(&f.serviceAccount, "service-account", "vault-issuer", "kubernetes auth: the service account cert-manager logs in as (created in cert-manager's namespace)")
	fl.StringVar(&f.issuer.Auth.Controller, "cert-manager-service-account", certmanager.DefaultController, "kubernetes auth: cert-manager controller's own service account")
	fl.StringVar(&f.issuer.Auth.RoleID, "approle-role-id", "", "approle auth: the role ID (not secret)")
	fl.StringVar(&f.appRolePath, "approle-path", "approle", "approle auth: the auth mount's path")
	fl.StringVar(&f.appRoleSecret, "approle-secret", "vault-approle", "approle auth: the Secret in cert-manager's namespace holding the secret ID (key secretId)")
	fl.StringVar(&f.issuer.CertManagerNamespace, "cert-manager-namespace", certmanager.DefaultNamespace, "the namespace cert-manager runs in")
	fl.StringArrayVar(&f.certs, "certificate", nil, "NAMESPACE/NAME=SAN[,SAN...]: a workload Certificate, its Secret NAME-tls (repeatable)")
	fl.StringVar(&f.duration, "duration", "", "the Certificates' lifetime (default 2160h: 90 days)")
	fl.StringVar(&f.renewBefore, "renew-before", "", "how long before expiry cert-manager renews them (default 360h: 15 days)")
	fl.StringArrayVar(&f.inventories, "inventory", nil, "inventory file naming more of the node's certificates, for the list (as check)")
	fl.StringArrayVar(&f.dirs, "dir", nil, "directory of more of the node's certificates, for the list (as check)")
	return withHelp(c, `  certrescue cert-manager manifests --vault-server https://vault.example.com:8200 --vault-role cert-manager \
    --certificate web/shop=shop.example.com,10.0.0.20 | kubectl apply -f -
  certrescue cert-manager manifests --vault-server https://vault.example.com --auth approle \
    --approle-role-id 6a8f... --ca-bundle ./vault-ca.pem`, `  0  printed
  3  usage error: a missing or bad setting (the message names it), a CA bundle that is not PEM certificates`)
}

// lifetimes parses --duration and --renew-before (their defaults when "").
func lifetimes(duration, renewBefore string) (time.Duration, time.Duration, error) {
	d, rb := certmanager.DefaultDuration, certmanager.DefaultRenewBefore
	var err error
	if duration != "" {
		if d, err = cfssl.ParseDuration(duration); err != nil {
			return 0, 0, usagef("--duration: %w", err)
		}
	}
	if renewBefore != "" {
		if rb, err = cfssl.ParseDuration(renewBefore); err != nil {
			return 0, 0, usagef("--renew-before: %w", err)
		}
	}
	return d, rb, nil
}

// printUnmanaged heads the YAML with the node's certificates cert-manager
// cannot manage, as comments.
func printUnmanaged(env *Env, list []certmanager.Unmanaged) {
	w := env.Stdout
	if len(list) == 0 {
		fmt.Fprintf(w, "# No certificates of a node found under %s: run this on a control-plane node (or with --root)\n# to list the ones cert-manager cannot manage.\n", env.Root)
		return
	}
	fmt.Fprintf(w, "# cert-manager cannot manage these %d certificates of this node; the certrescue timer\n# (certrescue timer install: renew --auto, daily) renews them:\n", len(list))
	for _, u := range list {
		fmt.Fprintf(w, "#   %-26s %s\n#   %-26s   %s; renewed by %s\n", u.Name, u.Path, "", u.Why, u.By)
	}
	fmt.Fprintln(w, "#")
}
