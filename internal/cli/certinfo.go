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
certrescue's stable field names (the same as check's and the audit log's): always
an array, one object per certificate with its "path" (as given; "-" is stdin) and
"index" (its place in the file, from 0), also for a single certificate.`,
			RunE: func(cmd *cobra.Command, args []string) error {
				if certFlag != "" {
					args = append([]string{certFlag}, args...)
				}
				if len(args) == 0 {
					return usagef("certinfo needs a certificate file (certinfo FILE or -cert FILE)")
				}
				var all []certInfo
				for _, f := range args {
					data, err := readInput(env, "certificate", f)
					if err != nil {
						return err
					}
					certs, err := pki.ParseCertificatesPEM(data)
					if err != nil {
						return usagef("certificate %s: %w", f, err)
					}
					for i, c := range certs {
						all = append(all, certInfo{Path: f, Index: i, Certificate: facts.Describe(c)})
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

// certInfo is one certificate as certinfo prints it: where it was read (the
// path as given, "-" for stdin; index is its place in a bundle, from 0) and
// its facts.
type certInfo struct {
	Path  string `json:"path"`
	Index int    `json:"index"`
	facts.Certificate
}

// printCertInfo prints the certificates. -o json and -o yaml are always a
// list, also for one file with one certificate, so a program reads every
// answer the same way.
func printCertInfo(w io.Writer, format string, certs []certInfo, now time.Time) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(certs)
	case "yaml":
		b, err := yaml.Marshal(certs)
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
			writeCertTable(w, c, len(certs) > 1, now)
		}
		return nil
	}
	return usagef("-o %q: use table, json or yaml", format)
}

func writeCertTable(w io.Writer, ci certInfo, several bool, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	if several {
		row("File", fmt.Sprintf("%s (certificate %d)", ci.Path, ci.Index+1))
	}
	c := ci.Certificate
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
