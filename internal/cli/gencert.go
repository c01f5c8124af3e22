package cli

import (
	"fmt"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/signer"
	"github.com/spf13/cobra"
)

// signerOptions are the CA flags of gencert and sign, spelt as cfssl spells them.
type signerOptions struct {
	ca           string
	caKey        string
	config       string
	profile      string
	hostname     string
	allowExpired bool
	remote       remoteSignerFlags // --signer cfssl|vault instead of -ca-key
}

func (o *signerOptions) addFlags(c *cobra.Command) {
	c.Flags().StringVar(&o.ca, "ca", "", "CA certificate (cfssl's -ca; PEM from cfssl, openssl or kubeadm)")
	c.Flags().StringVar(&o.caKey, "ca-key", "", "CA private key (PKCS#1, PKCS#8 or SEC1; RSA, ECDSA or Ed25519)")
	c.Flags().StringVar(&o.config, "config", "", "cfssl signing configuration (ca-config.json)")
	c.Flags().StringVar(&o.profile, "profile", "", "signing profile of --config (default: signing.default)")
	c.Flags().StringVar(&o.hostname, "hostname", "", "comma-separated SANs (IPs, DNS names, e-mails, URIs); replaces the request's hosts")
	c.Flags().BoolVar(&o.allowExpired, "allow-expired-ca", false, "sign even though the CA is expired or not yet valid")
	o.remote.add(c)
}

func (o *signerOptions) hosts() []string {
	if o.hostname == "" {
		return nil
	}
	return cfssl.ParseHostnameFlag(o.hostname)
}

// signer returns who signs (the CA of -ca/-ca-key, or the remote signer of
// --signer) and the policy, refusing an expired local CA. A remote signer
// reads no CA key.
func (o *signerOptions) signer(env *Env) (signer.Signer, *cfssl.Policy, error) {
	if !o.remote.remote() {
		ca, pol, err := o.load(env)
		if err != nil {
			return nil, nil, err
		}
		return signer.Local{Key: ca, Where: o.caKey}, pol, nil
	}
	if o.caKey != "" {
		return nil, nil, usagef("--signer %s signs remotely: drop -ca-key (no CA key is read with a remote signer)", o.remote.kind)
	}
	if o.remote.profile == "" {
		o.remote.profile = o.profile
	}
	s, err := o.remote.one(env)
	if err != nil {
		return nil, nil, err
	}
	pol, err := o.policy(env)
	return s, pol, err
}

// policy resolves --config and --profile (cfssl's default policy without
// --config).
func (o *signerOptions) policy(env *Env) (*cfssl.Policy, error) {
	var cfg *cfssl.Config
	if o.config != "" {
		var err error
		if cfg, err = loadConfig(env, o.config); err != nil {
			return nil, err
		}
	}
	pol, err := cfg.Policy(o.profile)
	if err != nil {
		if o.config != "" {
			return nil, usagef("%s: %w", o.config, err)
		}
		if o.remote.remote() {
			return cfg.Policy("") // the profile is the remote signer's
		}
		return nil, usageError(err)
	}
	return pol, nil
}

// load reads the CA and resolves the policy, refusing an expired CA.
func (o *signerOptions) load(env *Env) (*pki.CA, *cfssl.Policy, error) {
	if o.ca == "" || o.caKey == "" {
		return nil, nil, usagef("both -ca and -ca-key are required (the CA certificate and its private key)")
	}
	pol, err := o.policy(env)
	if err != nil {
		return nil, nil, err
	}
	ca, err := pki.LoadCA(env.NodePath(o.ca), env.NodePath(o.caKey))
	if err != nil {
		return nil, nil, usageError(err)
	}
	if err := ca.CheckValidAt(env.Clock.Now(), o.allowExpired); err != nil {
		return nil, nil, fmt.Errorf("CA %s: %w", o.ca, err)
	}
	return ca, pol, nil
}

type gencertOptions struct {
	signer signerOptions
	out    outputOptions
	initca bool
}

func init() {
	register(20, func(env *Env) *cobra.Command {
		var o gencertOptions
		c := &cobra.Command{
			Use:   "gencert -ca CA -ca-key KEY [-config FILE -profile NAME] [-hostname H,...] CSR.json...",
			Short: "Issue certificates from cfssl CSR files (cfssl gencert | cfssljson -bare NAME)",
			Long: `Generate a key and a certificate signed by the CA for each cfssl CSR JSON file,
as 'cfssl gencert ... | cfssljson -bare NAME' does, with cfssl's flag names in
either spelling (-ca=ca.pem or --ca ca.pem). Writes NAME.pem, NAME-key.pem (0600)
and NAME.csr, where NAME is --bare or the CSR file name without "-csr.json".

Several CSR files are issued in one run, keys generated in parallel on every
core. -initca creates a root CA instead (see 'certrescue ca init').

The field guide's pipeline works as it is written: when stdout is read by
cfssljson (cfssl's or 'certrescue cfssljson'), gencert does what cfssl gencert
does, prints cfssl's JSON and writes no file, so cfssljson writes each file
once. Read by anything else (a terminal, tee, a log), gencert writes the files
and prints a summary that holds no key. --json prints the JSON whoever reads.`,
			Args: func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return usagef("gencert needs at least one CSR JSON file; see 'certrescue gencert --help'")
				}
				return nil
			},
			RunE: func(cmd *cobra.Command, args []string) error { return runGencert(cmd, env, &o, args) },
		}
		o.signer.addFlags(c)
		o.out.addFlags(c, true)
		o.out.pipeable = true
		c.Flags().BoolVar(&o.initca, "initca", false, "create a self-signed root CA from the CSR (as 'certrescue ca init')")
		return audited(withHelp(c, `  # the field guide's step 3, unchanged flags
  certrescue gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=kubernetes \
    -hostname=10.0.0.1,kubernetes.default.svc,kubernetes.default,localhost,127.0.0.1 \
    apiserver-csr.json            # writes apiserver.pem, apiserver-key.pem, apiserver.csr

  # the field guide's pipeline, unchanged: cfssljson writes the files
  certrescue gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json -profile=kubernetes \
    -hostname=10.0.0.1,localhost,127.0.0.1 apiserver-csr.json | cfssljson -bare apiserver

  # cfssl's JSON, into a file or any other program
  certrescue gencert --json -ca ca.pem -ca-key ca-key.pem apiserver-csr.json > apiserver.json

  # every component of a binary install in one run
  certrescue gencert -ca ca.pem -ca-key ca-key.pem -config ca-config.json -profile kubernetes --out-dir out/ *-csr.json`, exitCodesSimple))
	})
}

func runGencert(cmd *cobra.Command, env *Env, o *gencertOptions, csrFiles []string) error {
	if err := o.out.validate(); err != nil {
		return err
	}
	if len(csrFiles) > 1 && (o.out.bare != "" || o.out.json || o.initca) {
		return usagef("--bare, --json and -initca take a single CSR file (got %d)", len(csrFiles))
	}
	if o.initca && o.signer.remote.remote() {
		return usagef("-initca makes a self-signed root here; it takes no --signer")
	}
	if o.initca {
		return runCAInit(cmd, env, &caInitOptions{out: o.out, config: o.signer.config, caKey: o.signer.caKey}, csrFiles[0])
	}
	reqs := make([]cfssl.IssueRequest, 0, len(csrFiles))
	names := make([]string, 0, len(csrFiles))
	seen := map[string]string{}
	for _, f := range csrFiles {
		data, err := readInput(env, "CSR", f)
		if err != nil {
			return err
		}
		req, err := cfssl.ParseRequest(f, data)
		if err != nil {
			return usageError(err)
		}
		name := o.out.bare
		if name == "" {
			name = baseName(f)
		}
		if prev, dup := seen[name]; dup {
			return usagef("%s and %s would both write %s: rename one", prev, f, name)
		}
		seen[name] = f
		reqs = append(reqs, cfssl.IssueRequest{Request: req, Hosts: o.signer.hosts()})
		names = append(names, name)
	}
	if len(csrFiles) > 1 {
		// Refused before the keys are made; one certificate is decided late,
		// in emitIssued, when the next command of the pipeline has started.
		if _, err := o.out.pipeToCfssljson(cmd, env, len(csrFiles)); err != nil {
			return err
		}
	}
	sg, pol, err := o.signer.signer(env)
	if err != nil {
		return err
	}
	issued, err := cfssl.IssueManyVia(cmd.Context(), sg, pol, reqs, env.Clock.Now())
	if err != nil {
		return err
	}
	if len(issued) == 1 {
		return emitIssued(cmd, env, &o.out, names[0], issued[0], facts.ActionCreate)
	}
	// Refuse before writing anything if any target exists, then write all.
	// Every name is a file name under --out-dir: one view of the disk for all.
	var all []nodefs.Put
	var fsys *nodefs.FS
	certPaths := make([]string, len(issued))
	for i, is := range issued {
		printWarnings(env, is.Warnings)
		f, files, certPath, err := o.out.fileSet(env, names[i], is)
		if err != nil {
			return err
		}
		fsys, certPaths[i] = f, certPath
		all = append(all, files...)
	}
	events := make([]CertEvent, len(issued))
	for i, is := range issued {
		events[i] = CertEvent{Action: facts.ActionCreate, Name: names[i], Path: certPaths[i], Cert: is.Cert, Detail: issuedBy(is)}
	}
	if err := writeFiles(env, cmd, fsys, all, o.out.force, events); err != nil {
		return err
	}
	for i, is := range issued {
		fmt.Fprintf(env.Stdout, "%s: %s, serial %s\n", certPaths[i], is.Cert.Subject.CommonName, facts.SerialHex(is.Cert))
	}
	return nil
}
