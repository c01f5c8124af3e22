package cli

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"

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
Writes NAME.pem (NAME from --bare or the request's file name).

Several requests in one input (PEM blocks one after another, as a fleet's
workers send them to one CA holder) are signed in one run with --json: one
JSON object per line, in the requests' order, and one audit event each,
named by --bare's comma-separated names (one per request) or NAME-1,
NAME-2, ... (request-1, ... from stdin). Every request is read and checked, and every one signed,
before anything is printed: one bad request, and none is signed.`,
			Args: exactArgs(1, "one PEM certificate request file"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := out.validate(); err != nil {
					return err
				}
				data, err := readInput(env, "certificate request", args[0])
				if err != nil {
					return err
				}
				csrs, err := pki.ParseCSRsPEM(data)
				if err != nil {
					return usagef("certificate request %s: %w", args[0], err)
				}
				if len(csrs) > 1 {
					return signSeveral(cmd, env, &so, &out, args[0], csrs)
				}
				sg, pol, err := so.signer(env)
				if err != nil {
					return err
				}
				is, err := cfssl.SignCSRVia(cmd.Context(), sg, pol, csrs[0], so.hosts(), env.Clock.Now())
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
    --layout kubeadm --out-dir /tmp/csr /tmp/csr/apiserver.csr

  # three workers' kubelet requests, signed in one run (one JSON line each)
  cat worker-1.csr worker-2.csr worker-3.csr | certrescue sign -ca=ca.crt -ca-key=ca.key \
    -config=ca-config.json -profile=kubelet --bare=worker-1,worker-2,worker-3 --json -`, exitCodesSimple))
	})
}

// signSeveral signs every request of one input: all or none, then one JSON
// line each and one audit event each, in the requests' order.
func signSeveral(cmd *cobra.Command, env *Env, so *signerOptions, out *outputOptions, file string, csrs []*x509.CertificateRequest) error {
	if !out.json {
		return usagef("certificate request %s: %d requests in one input are signed only with --json (one JSON object per line, in their order)", file, len(csrs))
	}
	if so.hostname != "" {
		return usagef("certificate request %s: %d requests: --hostname would give every one the same names; each request's own SANs are used without it", file, len(csrs))
	}
	names := make([]string, len(csrs))
	if out.bare != "" {
		given := strings.Split(out.bare, ",")
		if len(given) != len(csrs) {
			return usagef("--bare %q: %d names for the %d requests of %s (one per request, comma-separated, in their order)", out.bare, len(given), len(csrs), file)
		}
		seen := map[string]bool{}
		for i, n := range given {
			if n = strings.TrimSpace(n); n == "" || seen[n] {
				return usagef("--bare %q: name %d is empty or given twice", out.bare, i+1)
			}
			seen[n] = true
			names[i] = n
		}
	} else {
		base := baseName(file)
		if file == "-" {
			base = "request"
		}
		for i := range csrs {
			names[i] = fmt.Sprintf("%s-%d", base, i+1)
		}
	}
	sg, pol, err := so.signer(env)
	if err != nil {
		return err
	}
	issued := make([]*cfssl.Issued, len(csrs))
	events := make([]CertEvent, len(csrs))
	for i, csr := range csrs {
		is, err := cfssl.SignCSRVia(cmd.Context(), sg, pol, csr, nil, env.Clock.Now())
		if err != nil {
			return fmt.Errorf("certificate request %d of %s (%s): %w; none of the %d was printed", i+1, file, names[i], err, len(csrs))
		}
		printWarnings(env, is.Warnings)
		issued[i] = is
		events[i] = CertEvent{Action: facts.ActionCreate, Name: names[i], Path: "-", Cert: is.Cert, Detail: issuedBy(is)}
	}
	if err := env.recordAll(cmd, events); err != nil {
		return err
	}
	enc := json.NewEncoder(env.Stdout)
	for _, is := range issued {
		if err := enc.Encode(is.JSON()); err != nil {
			return err
		}
	}
	return nil
}
