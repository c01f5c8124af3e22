package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/spf13/cobra"
)

func init() {
	register(10, func(env *Env) *cobra.Command {
		ca := withHelp(&cobra.Command{
			Use:   "ca",
			Short: "Create and manage certificate authorities",
		}, `  certrescue ca init ca-csr.json
  certrescue ca init --layout kubeadm --out-dir /etc/kubernetes/pki ca-csr.json
  certrescue ca renew all                 # an expired CA, renewed on its own key
  certrescue ca apply ca-renew-TIME.tar.gz  # on the other nodes
  certrescue ca rotate all                # a compromised CA key: new CAs, both trusted meanwhile`, exitCodesSimple)
		ca.AddCommand(newCAInitCmd(env), newCARenewCmd(env), newCAPublishCmd(env), newCAApplyCmd(env), newCARotateCmd(env))
		return ca
	})
}

type caInitOptions struct {
	out    outputOptions
	config string
	caKey  string
}

func newCAInitCmd(env *Env) *cobra.Command {
	var o caInitOptions
	c := &cobra.Command{
		Use:   "init CSR.json",
		Short: "Create a self-signed root CA from a cfssl CSR file (cfssl gencert -initca | cfssljson -bare ca)",
		Long: `Create a root CA from cfssl's CSR JSON (CN, names, hosts, key{algo,size},
ca{expiry,pathlen,pathlenzero,backdate}), writing ca.pem, ca-key.pem and ca.csr.

The default lifetime is 10 years (87600h), not cfssl's 5: a CA that expires
before its leaves takes the whole cluster down at once. With --config, every
profile is checked and a warning names those whose certificates would outlive
the new CA.`,
		Args: exactArgs(1, "one CSR JSON file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCAInit(cmd, env, &o, args[0])
		},
	}
	o.out.addFlags(c, true)
	o.out.pipeable = true
	c.Flags().StringVar(&o.config, "config", "", "ca-config.json whose profiles are checked against the CA's lifetime")
	c.Flags().StringVar(&o.caKey, "ca-key", "", "existing private key to build the CA on (re-issue a CA with the same key)")
	return audited(withHelp(c, `  # cfssl gencert -initca ca-csr.json | cfssljson -bare ca
  certrescue ca init ca-csr.json

  # kubeadm names (ca.crt, ca.key) straight into a node's PKI directory
  certrescue ca init --layout kubeadm --out-dir /etc/kubernetes/pki ca-csr.json

  # cfssl's JSON on stdout, for existing pipelines
  certrescue ca init --json ca-csr.json | certrescue cfssljson -bare ca`, exitCodesSimple))
}

func runCAInit(cmd *cobra.Command, env *Env, o *caInitOptions, csrFile string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	data, err := readInput(env, "CSR", csrFile)
	if err != nil {
		return err
	}
	req, err := cfssl.ParseRequest(csrFile, data)
	if err != nil {
		return usageError(err)
	}
	var cfg *cfssl.Config
	if o.config != "" {
		if cfg, err = loadConfig(env, o.config); err != nil {
			return err
		}
	}
	now := env.Clock.Now()
	var is *cfssl.Issued
	if o.caKey != "" {
		keyPEM, err := readInput(env, "CA key", o.caKey)
		if err != nil {
			return err
		}
		key, err := pki.ParsePrivateKeyPEM(keyPEM)
		if err != nil {
			return usagef("CA key %s: %w", o.caKey, err)
		}
		is, err = cfssl.InitCAWithKey(req, key, now)
		if err != nil {
			return err
		}
	} else if is, err = cfssl.InitCA(req, now); err != nil {
		return err
	}
	if cfg != nil {
		printWarnings(env, cfg.ProfilesOutliving(is.Cert.NotAfter, now))
	}
	name := o.out.bare
	if name == "" {
		name = "ca"
	}
	return emitIssued(cmd, env, &o.out, name, is, facts.ActionCreate)
}

// emitIssued prints cfssl's JSON (--json) or writes the files, then audits.
func emitIssued(cmd *cobra.Command, env *Env, o *outputOptions, name string, is *cfssl.Issued, action facts.Action) error {
	printWarnings(env, is.Warnings)
	toJSON, err := o.pipeToCfssljson(cmd, env, 1)
	if err != nil {
		return err
	}
	if o.json || toJSON {
		enc := json.NewEncoder(env.Stdout)
		if err := enc.Encode(is.JSON()); err != nil {
			return err
		}
		return env.record(cmd, CertEvent{Action: action, Name: name, Path: "-", Cert: is.Cert, Detail: issuedBy(is)})
	}
	fsys, files, certPath, err := o.fileSet(env, name, is)
	if err != nil {
		return err
	}
	if err := writeFiles(env, cmd, fsys, files, o.force, []CertEvent{{Action: action, Name: name, Path: certPath, Cert: is.Cert, Detail: issuedBy(is)}}); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s: %s, serial %s, valid %s to %s\n", certPath, is.Cert.Subject.CommonName,
		facts.SerialHex(is.Cert), is.Cert.NotBefore.UTC().Format(time.RFC3339), is.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

func loadConfig(env *Env, path string) (*cfssl.Config, error) {
	data, err := readInput(env, "signing config", path)
	if err != nil {
		return nil, err
	}
	cfg, warnings, err := cfssl.ParseConfig(path, data)
	if err != nil {
		return nil, usageError(err)
	}
	printWarnings(env, warnings)
	return cfg, nil
}
