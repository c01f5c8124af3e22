package cli

import (
	"fmt"
	"path/filepath"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/vaultsetup"
	"github.com/spf13/cobra"
)

type vaultSetupFlags struct {
	conn    vaultConnFlags
	o       vaultsetup.Options
	apply   bool
	csrOut  string
	signed  string
	force   bool
	keyType string
}

func init() {
	register(70, func(env *Env) *cobra.Command {
		parent := &cobra.Command{
			Use:   "vault",
			Short: "Vault PKI as the cluster's CA: the set-up calls",
			Args:  exactArgs(0, "a subcommand: setup"),
		}
		var f vaultSetupFlags
		c := &cobra.Command{
			Use:   "setup [--apply] [--intermediate-cert FILE]",
			Short: "Print (or --apply) the Vault calls that make a PKI mount with an offline-signed intermediate and the k8s-cluster role",
			Long: `Make Vault's PKI secrets engine the cluster's CA with the root CA's key offline,
as the field guide's long-term set-up wants it (Vault as the internal CA,
cert-manager's ClusterIssuer at pki/sign/k8s-cluster, 90-day certificates).

Two phases, because the root signs offline in between:

  1. certrescue vault setup --apply
       mounts the PKI engine, has Vault generate the intermediate's key
       (it never leaves Vault) and writes its CSR to --csr-out
  2. certrescue sign -ca root.pem -ca-key root-key.pem -config ca-config.json \
       -profile intermediate --bare pki-intermediate pki-intermediate.csr
       on the offline machine (a profile with "ca_constraint": {"is_ca": true}),
     then cat pki-intermediate.pem root.pem > intermediate-chain.pem
  3. certrescue vault setup --apply --intermediate-cert intermediate-chain.pem
       imports it, creates the k8s-cluster role and the certrescue-node
       policy (sign-verbatim and the CA chain) for nodes that renew through
       'certrescue renew --signer vault'

Without --apply the calls are printed (HTTP method, path, JSON body and the
vault CLI line) and nothing is sent: review them, or run them yourself.`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error { return runVaultSetup(cmd, env, &f) },
		}
		f.conn.add(c)
		fl := c.Flags()
		fl.BoolVar(&f.apply, "apply", false, "make the calls (default: print them)")
		fl.StringVar(&f.o.Mount, "mount", "pki", "PKI mount path")
		fl.StringVar(&f.o.MaxLeaseTTL, "max-lease-ttl", "87600h", "the mount's longest certificate lifetime")
		fl.StringVar(&f.o.CommonName, "common-name", "", "the intermediate CA's common name (default \"kubernetes-intermediate (Vault MOUNT)\")")
		fl.StringVar(&f.keyType, "key-type", "rsa", "the intermediate's key: rsa (2048) or ec (P-256)")
		fl.StringVar(&f.o.Role, "role", "k8s-cluster", "the role cert-manager's ClusterIssuer signs with (path MOUNT/sign/ROLE)")
		fl.StringVar(&f.o.RoleTTL, "role-ttl", "2160h", "the role's certificate lifetime (the field guide's 90 days)")
		fl.StringSliceVar(&f.o.AllowedDomains, "allowed-domain", []string{"cluster.local", "example.com"}, "domains the role may sign, with subdomains (repeatable)")
		fl.StringVar(&f.o.Policy, "policy", "certrescue-node", "the policy nodes' tokens or AppRoles get: MOUNT/sign-verbatim and MOUNT/cert/ca_chain")
		fl.StringVar(&f.csrOut, "csr-out", "pki-intermediate.csr", "phase 1 with --apply: where the intermediate's CSR is written")
		fl.StringVar(&f.signed, "intermediate-cert", "", "phase 2: the intermediate signed offline with the root above it (PEM)")
		fl.BoolVar(&f.force, "force", false, "overwrite --csr-out")
		parent.AddCommand(withHelp(c, `  # phase 1: see the calls, then make them (the CSR goes to pki-intermediate.csr)
  certrescue vault setup
  certrescue vault setup --apply --vault-addr https://vault.internal:8200 --vault-token file:/root/.vault-token \
    --vault-ca-bundle /etc/ssl/vault-ca.pem

  # offline, with the root
  certrescue sign -ca root.pem -ca-key root-key.pem -config ca-config.json -profile intermediate \
    --bare pki-intermediate pki-intermediate.csr
  cat pki-intermediate.pem root.pem > intermediate-chain.pem

  # phase 2: import it, create the k8s-cluster role and the nodes' policy
  certrescue vault setup --apply --intermediate-cert intermediate-chain.pem`, exitCodesSimple))
		return withHelp(parent, `  certrescue vault setup                 # print the set-up's calls
  certrescue vault setup --apply         # make them`, exitCodesSimple)
	})
}

func runVaultSetup(cmd *cobra.Command, env *Env, f *vaultSetupFlags) error {
	f.o.KeyType = f.keyType
	if f.signed != "" {
		data, err := readInput(env, "intermediate certificate", f.signed)
		if err != nil {
			return err
		}
		f.o.Signed = data
	}
	calls, err := vaultsetup.Plan(f.o)
	if err != nil {
		if f.signed != "" {
			return usagef("--intermediate-cert %s: %w", f.signed, err)
		}
		return usageError(err)
	}
	if !f.apply {
		for i, c := range calls {
			fmt.Fprintf(env.Stdout, "# %d. %s\n%s\n#    %s /v1/%s %s\n\n", i+1, c.What, c.CLI, c.Method, c.Path, c.JSON())
		}
		if f.signed == "" {
			fmt.Fprintf(env.Stdout, "then sign the CSR offline with the root (certrescue sign ... -profile intermediate) and run:\n  %s\n",
				env.command("vault", "setup", "--intermediate-cert", "intermediate-chain.pem"))
		}
		fmt.Fprintln(env.Stdout, "(printed only; --apply makes these calls)")
		return nil
	}
	if err := env.auditor().preflight(cmd, env, nil); err != nil {
		return err
	}
	client, ar, err := f.conn.client(env)
	if err != nil {
		return err
	}
	if ar.RoleID != "" {
		if err := ar.Login(cmd.Context(), client); err != nil {
			return err
		}
	}
	var csrFS *nodefs.FS
	var csrPath string
	if f.signed == "" { // refuse an existing CSR file before Vault is changed
		csrFS, csrPath = env.FS(), f.csrOut
		if !filepath.IsAbs(csrPath) {
			csrFS = nodefs.Host()
		}
		if _, err := csrFS.Stat(csrPath); err == nil && !f.force {
			return usagef("--csr-out %s exists; pass --force to overwrite it, or another --csr-out", f.csrOut)
		}
	}
	res, err := vaultsetup.Apply(cmd.Context(), client, calls)
	for _, c := range res.Done {
		fmt.Fprintf(env.Stdout, "done: %s %s (%s)\n", c.Method, "/v1/"+c.Path, c.What)
	}
	if err != nil {
		return err
	}
	addr := client.Address()
	if f.signed != "" {
		chain, _ := pki.ParseCertificatesPEM(f.o.Signed) // checked by Plan
		return env.record(cmd, CertEvent{Action: facts.ActionCreate, Name: "vault-intermediate", Path: f.signed, Cert: chain[0],
			Detail: fmt.Sprintf("vault setup: set-signed at %s/%s, role %s, policy %s", addr, f.o.Mount, f.o.Role, f.o.Policy)})
	}
	ev := CertEvent{Action: facts.ActionCreate, Name: "vault-intermediate-csr", Path: csrPath,
		Detail: fmt.Sprintf("vault setup: PKI mount %s/%s, intermediate key generated in Vault", addr, f.o.Mount)}
	if err := writeFiles(env, cmd, csrFS, []nodefs.Put{{Path: csrPath, Data: res.CSR, Mode: 0o644}}, f.force, []CertEvent{ev}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s: sign it offline with the root, then run %s\n", csrPath,
		env.command("vault", "setup", "--apply", "--intermediate-cert", "intermediate-chain.pem"))
	return nil
}
