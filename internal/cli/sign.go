package cli

import (
	"github.com/certrescue/certrescue/internal/cfssl"
	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/spf13/cobra"
)

func init() {
	register(30, func(env *Env) *cobra.Command {
		var so signerOptions
		var out outputOptions
		c := &cobra.Command{
			Use:   "sign -ca CA -ca-key KEY [-config FILE -profile NAME] [-hostname H,...] CSR.pem",
			Short: "Sign an existing PEM certificate request (cfssl sign)",
			Long: `Sign a PKCS#10 certificate request, such as 'kubeadm certs generate-csr' or
openssl writes, with the CA. Subject and SANs come from the request (or
-hostname); usages and lifetime come from the profile, never from the request.
Writes NAME.pem (NAME from --bare or the request's file name).`,
			Args: exactArgs(1, "one PEM certificate request file"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := out.validate(); err != nil {
					return err
				}
				data, err := readInput(env, "certificate request", args[0])
				if err != nil {
					return err
				}
				csr, err := pki.ParseCSRPEM(data)
				if err != nil {
					return usagef("certificate request %s: %w", args[0], err)
				}
				sg, pol, err := so.signer(env)
				if err != nil {
					return err
				}
				is, err := cfssl.SignCSRVia(cmd.Context(), sg, pol, csr, so.hosts(), env.Clock.Now())
				if err != nil {
					return err
				}
				name := out.bare
				if name == "" {
					name = baseName(args[0])
				}
				return emitIssued(cmd, env, &out, name, is, facts.ActionCreate)
			},
		}
		so.addFlags(c)
		out.addFlags(c, false)
		out.pipeable = true
		return audited(withHelp(c, `  # kubeadm made the key and CSR; the offline CA signs it
  kubeadm certs generate-csr --cert-dir /tmp/csr --kubeconfig-dir /tmp/csr
  certrescue sign -ca=ca.crt -ca-key=ca.key -config=ca-config.json -profile=kubernetes \
    --layout kubeadm --out-dir /tmp/csr /tmp/csr/apiserver.csr`, exitCodesSimple))
	})
}
