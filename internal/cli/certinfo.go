package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

func init() {
	register(50, func(env *Env) *cobra.Command {
		var certFlag, output string
		c := &cobra.Command{
			Use:   "certinfo [-cert] FILE...",
			Short: "Describe certificates: subject, issuer, SANs, usages, validity, key, fingerprint",
			Long: `Print what a certificate says: subject, issuer, serial, SANs, key usage,
extended key usage, basic constraints, validity, key type and size and the
SHA-256 fingerprint. Every certificate of a bundle is shown. -o json gives
certrescue's stable field names (the same as check's and the audit log's).`,
			RunE: func(cmd *cobra.Command, args []string) error {
				if certFlag != "" {
					args = append([]string{certFlag}, args...)
				}
				if len(args) == 0 {
					return usagef("certinfo needs a certificate file (certinfo FILE or -cert FILE)")
				}
				var all []facts.Certificate
				for _, f := range args {
					data, err := readInput(env, "certificate", f)
					if err != nil {
						return err
					}
					certs, err := pki.ParseCertificatesPEM(data)
					if err != nil {
						return usagef("certificate %s: %w", f, err)
					}
					for _, c := range certs {
						all = append(all, facts.Describe(c))
					}
				}
				return printCertInfo(env.Stdout, output, all, env.Clock.Now())
			},
		}
		c.Flags().StringVar(&certFlag, "cert", "", "certificate file (cfssl certinfo's -cert)")
		c.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
		return withHelp(c, `  certrescue certinfo /etc/kubernetes/pki/apiserver.crt
  certrescue certinfo -cert=ca.pem -o json
  certrescue --root /mnt/node certinfo /etc/kubernetes/pki/etcd/server.crt`, exitCodesSimple)
	})
}

func printCertInfo(w io.Writer, format string, certs []facts.Certificate, now time.Time) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(certs) == 1 {
			return enc.Encode(certs[0])
		}
		return enc.Encode(certs)
	case "yaml":
		var v any = certs
		if len(certs) == 1 {
			v = certs[0]
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "table", "":
		for i, c := range certs {
			if i > 0 {
				fmt.Fprintln(w)
			}
			writeCertTable(w, c, now)
		}
		return nil
	}
	return usagef("-o %q: use table, json or yaml", format)
}

func writeCertTable(w io.Writer, c facts.Certificate, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Subject", c.Subject)
	row("Issuer", c.Issuer)
	row("Serial", c.Serial)
	row("Not before", c.NotBefore.Format(time.RFC3339))
	state := "valid for " + humanDuration(c.NotAfter.Sub(now))
	if now.After(c.NotAfter) {
		state = "EXPIRED " + humanDuration(now.Sub(c.NotAfter)) + " ago"
	} else if now.Before(c.NotBefore) {
		state = "NOT YET VALID"
	}
	row("Not after", c.NotAfter.Format(time.RFC3339)+" ("+state+")")
	row("DNS names", strings.Join(c.DNSNames, ", "))
	row("IP addresses", strings.Join(c.IPAddresses, ", "))
	row("E-mail", strings.Join(c.EmailAddresses, ", "))
	row("URIs", strings.Join(c.URIs, ", "))
	row("Key usage", strings.Join(c.KeyUsage, ", "))
	row("Ext key usage", strings.Join(c.ExtKeyUsage, ", "))
	bc := "none"
	if c.BasicConstraints {
		bc = "CA:FALSE"
		if c.IsCA {
			bc = "CA:TRUE"
			if c.MaxPathLen != nil {
				bc += fmt.Sprintf(", pathlen:%d", *c.MaxPathLen)
			}
		}
	}
	row("Basic constraints", bc)
	row("Public key", fmt.Sprintf("%s %d", c.KeyAlgorithm, c.KeySize))
	row("Signature", c.SignatureAlgo)
	row("Subject key ID", c.SubjectKeyID)
	row("Authority key ID", c.AuthorityKeyID)
	row("SHA-256", c.FingerprintSHA256)
	tw.Flush()
}

// humanDuration prints a duration the way kubeadm's RESIDUAL TIME does: 364d, 23h, 5m.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
