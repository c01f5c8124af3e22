package cli

import (
	"encoding/json"
	"fmt"

	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/spf13/cobra"
)

func init() {
	register(40, func(env *Env) *cobra.Command {
		var out outputOptions
		var input string
		c := &cobra.Command{
			Use:   "cfssljson -bare NAME [-f FILE]",
			Short: "Write cfssl's JSON output as files (cfssljson -bare NAME)",
			Long: `Read cfssl's JSON output ({"cert","key","csr"}) from stdin or -f and write
NAME.pem, NAME-key.pem (0600) and NAME.csr, as cfssljson -bare does. Works with
the output of the real cfssl and of 'certrescue gencert' (which prints its JSON
when cfssljson reads its stdout, or with --json). The key is checked against the
certificate before anything is written.`,
			Args: exactArgs(0, "no arguments (the JSON comes from stdin or -f)"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				if out.bare == "" {
					return usagef("-bare NAME is required")
				}
				if err := out.validate(); err != nil {
					return err
				}
				src := input
				if src == "" {
					src = "-"
				}
				data, err := readInput(env, "cfssl JSON", src)
				if err != nil {
					return err
				}
				if err := errNotCfsslJSON(env, src, out.bare, data); err != nil {
					return err
				}
				is, err := parseCFSSLOutput(src, data)
				if err != nil {
					return usageError(err)
				}
				return emitIssued(cmd, env, &out, out.bare, is, facts.ActionCreate)
			},
		}
		out.addFlags(c, true)
		c.Flags().StringVarP(&input, "f", "f", "", "JSON input file (default stdin)")
		_ = c.Flags().MarkHidden("json")
		return audited(withHelp(c, `  cfssl gencert -initca ca-csr.json | certrescue cfssljson -bare ca
  certrescue gencert -ca ca.pem -ca-key ca-key.pem apiserver-csr.json | certrescue cfssljson -bare apiserver
  certrescue cfssljson -bare etcd -f etcd.json`, exitCodesSimple))
	})
}

// parseCFSSLOutput validates cfssl's JSON: a certificate, optionally a key that
// matches it and a CSR.
func parseCFSSLOutput(name string, data []byte) (*cfssl.Issued, error) {
	var o cfssl.Output
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("%s: malformed cfssl JSON: %w", name, err)
	}
	if o.Cert == "" {
		return nil, fmt.Errorf("%s: field \"cert\": missing; expected cfssl's output {\"cert\",\"key\",\"csr\"}", name)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(o.Cert))
	if err != nil {
		return nil, fmt.Errorf("%s: field \"cert\": %w", name, err)
	}
	is := &cfssl.Issued{Cert: certs[0], CertPEM: []byte(o.Cert)}
	if o.Key != "" {
		key, err := pki.ParsePrivateKeyPEM([]byte(o.Key))
		if err != nil {
			return nil, fmt.Errorf("%s: field \"key\": %w", name, err)
		}
		if !pki.PublicKeysEqual(certs[0].PublicKey, key.Public()) {
			return nil, fmt.Errorf("%s: field \"key\": does not match the certificate's public key", name)
		}
		is.KeyPEM = []byte(o.Key)
	}
	if o.CSR != "" {
		if _, err := pki.ParseCSRPEM([]byte(o.CSR)); err != nil {
			return nil, fmt.Errorf("%s: field \"csr\": %w", name, err)
		}
		is.CSRPEM = []byte(o.CSR)
	}
	return is, nil
}
