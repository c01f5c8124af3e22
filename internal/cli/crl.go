package cli

import (
	"fmt"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/spf13/cobra"
)

// writeFileAtomic writes a public file (certificate, CRL) atomically, 0644,
// replacing what was there.
func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, atomicfile.CertMode, true)
}

func init() {
	register(86, func(env *Env) *cobra.Command {
		var o crlOptions
		c := &cobra.Command{
			Use:   "crl --ca CA --ca-key KEY --out FILE [--next-update 168h]",
			Short: "Sign a CRL of every certificate the CA has revoked (audited)",
			Long: `Sign a certificate revocation list (X.509 v2, PEM) listing every serial in the
CA's revocation list ('certrescue revoke' adds them), with the next CRL number,
thisUpdate now and nextUpdate --next-update later. The file is replaced
atomically. The CA needs the crl sign key usage ('certrescue ca init' CAs have
it; kubeadm's do not). Publish a new CRL before nextUpdate: clients reject an
outdated one. The CRL is recorded in the audit log (CREATE, name "crl").

Check it with: openssl crl -in ca.crl -CAfile ca.pem -noout -verify`,
			Args: exactArgs(0, "no arguments"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				if o.out == "" {
					return usagef("--out FILE is required (where the CRL is written)")
				}
				ca, st, statePath, err := o.load(env)
				if err != nil {
					return err
				}
				crl, err := writeCRL(cmd, env, &o, ca, st, statePath)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "wrote %s: CRL number %d, %d revoked, this update %s, next update %s\n", env.NodePath(o.out),
					crl.Number, crl.Entries, crl.ThisUpdate.Format(time.RFC3339), crl.NextUpdate.Format(time.RFC3339))
				return nil
			},
		}
		o.addCAFlags(c)
		c.Flags().StringVar(&o.out, "out", "", "CRL file to write (PEM)")
		return audited(withHelp(c, `  certrescue crl --ca ca.pem --ca-key ca-key.pem --out ca.crl
  certrescue crl --ca ca.pem --ca-key ca-key.pem --out /srv/pki/ca.crl --next-update 24h
  openssl crl -in ca.crl -CAfile ca.pem -noout -verify`, `  0  the CRL was written
  1  it could not be signed or written (a CA without crl sign, a full disk)
  3  usage error: missing --out, a CA key that does not match, a damaged revocation list`))
	})
}
