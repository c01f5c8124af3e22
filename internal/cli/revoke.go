package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/revocation"
	"github.com/spf13/cobra"
)

// crlOptions are the flags revoke and crl share: the CA and its revocation list.
type crlOptions struct {
	ca, caKey    string
	revocations  string
	allowExpired bool
	out          string
	nextUpdate   time.Duration
}

func (o *crlOptions) addCAFlags(c *cobra.Command) {
	c.Flags().StringVar(&o.ca, "ca", "", "CA certificate")
	c.Flags().StringVar(&o.caKey, "ca-key", "", "CA private key (proves the authority to revoke; signs the CRL)")
	c.Flags().StringVar(&o.revocations, "revocations", "", "the CA's revocation list (default: beside --ca, ca.pem -> ca-revoked.json)")
	c.Flags().BoolVar(&o.allowExpired, "allow-expired-ca", false, "use the CA even though it is expired or not yet valid")
	c.Flags().DurationVar(&o.nextUpdate, "next-update", 168*time.Hour, "how long the CRL is valid (its nextUpdate)")
}

// load reads the CA (certificate and matching key) and its revocation state.
func (o *crlOptions) load(env *Env) (*pki.CA, *revocation.State, string, error) {
	if o.ca == "" || o.caKey == "" {
		return nil, nil, "", usagef("both --ca and --ca-key are required (the CA certificate and its private key)")
	}
	if o.nextUpdate <= 0 {
		return nil, nil, "", usagef("--next-update %s: must be positive", o.nextUpdate)
	}
	ca, err := pki.LoadCA(env.NodePath(o.ca), env.NodePath(o.caKey))
	if err != nil {
		return nil, nil, "", usageError(err)
	}
	if err := ca.CheckValidAt(env.Clock.Now(), o.allowExpired); err != nil {
		return nil, nil, "", fmt.Errorf("CA %s: %w", o.ca, err)
	}
	path := env.NodePath(o.revocations)
	if o.revocations == "" {
		path = revocation.DefaultPath(env.NodePath(o.ca))
	}
	st, err := revocation.Load(path, ca.Cert)
	if err != nil {
		return nil, nil, "", usageError(err)
	}
	return ca, st, path, nil
}

// writeCRL signs a CRL of st, saves st with the new CRL number, writes the CRL
// atomically to out and records the event.
func writeCRL(cmd *cobra.Command, env *Env, o *crlOptions, ca *pki.CA, st *revocation.State, statePath string) (*revocation.CRL, error) {
	out := env.NodePath(o.out)
	crl, err := revocation.BuildCRL(ca, st, env.Clock.Now(), o.nextUpdate)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", o.ca, err)
	}
	// The number is saved first: a crash between the two writes leaves a gap in
	// CRL numbers, never a reused number.
	st.CRLNumber = crl.Number
	if err := st.Save(statePath); err != nil {
		return nil, err
	}
	ev := CertEvent{Action: facts.ActionCreate, Name: "crl", Path: out, Serial: fmt.Sprintf("%x", crl.Number),
		Issuer: ca.Cert.Subject.String(),
		Detail: fmt.Sprintf("CRL number %d, %d revoked serials, thisUpdate %s, nextUpdate %s", crl.Number, crl.Entries,
			crl.ThisUpdate.Format(time.RFC3339), crl.NextUpdate.Format(time.RFC3339))}
	if err := env.record(cmd, ev); err != nil {
		return nil, err // before the CRL is written: nothing published unaudited
	}
	if err := writeFileAtomic(out, crl.PEM); err != nil {
		ev.Err = err
		return nil, errors.Join(err, env.record(cmd, ev))
	}
	return crl, nil
}

func init() {
	register(85, func(env *Env) *cobra.Command {
		var o crlOptions
		var serial, certFile, reason string
		c := &cobra.Command{
			Use:   "revoke --ca CA --ca-key KEY (--serial HEX | --cert FILE) [--reason REASON]",
			Short: "Revoke a certificate: add it to the CA's revocation list (audited)",
			Long: `Add a certificate to its CA's revocation list, the JSON file beside the CA
(ca.pem -> ca-revoked.json), which 'certrescue crl' signs into a CRL. With
--crl FILE the CRL is written right away. The CA key is required: only who
holds it may revoke. Every revocation is an audit event (REVOKE).

Reasons (RFC 5280): unspecified, keyCompromise, cACompromise,
affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn,
aACompromise. Revoking a serial twice changes nothing.`,
			Args: exactArgs(0, "no arguments (name the certificate with --serial or --cert)"),
			RunE: func(cmd *cobra.Command, _ []string) error {
				if (serial == "") == (certFile == "") {
					return usagef("give the certificate to revoke with --serial HEX or --cert FILE (one of them)")
				}
				canon, err := revocation.CanonicalReason(reason)
				if err != nil {
					return usagef("--reason: %w", err)
				}
				ca, st, statePath, err := o.load(env)
				if err != nil {
					return err
				}
				var cert *x509.Certificate
				entry := revocation.Entry{RevokedAt: env.Clock.Now().UTC().Truncate(time.Second), Reason: canon}
				if certFile != "" {
					if cert, err = readCert(env, certFile); err != nil {
						return err
					}
					if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
						return usagef("--cert %s: not issued by the CA %s (%w)", certFile, o.ca, err)
					}
					entry.Serial, entry.Subject, entry.Fingerprint = facts.SerialHex(cert), cert.Subject.String(), facts.Fingerprint(cert)
				} else {
					n, err := revocation.ParseSerial(serial)
					if err != nil {
						return usagef("--serial: %w", err)
					}
					entry.Serial = n.Text(16)
				}
				if old, ok := st.Find(mustSerial(entry.Serial)); ok {
					fmt.Fprintf(env.Stdout, "serial %s was already revoked on %s (%s); nothing changed\n", old.Serial, old.RevokedAt.Format(time.RFC3339), old.Reason)
					return nil
				}
				st.Add(entry)
				ev := CertEvent{Action: facts.ActionRevoke, Name: entry.Serial, Path: statePath, Cert: cert,
					Serial: entry.Serial, Issuer: ca.Cert.Subject.String(), Detail: "reason " + canon}
				if cert != nil {
					ev.Name, ev.Path = cert.Subject.CommonName, env.NodePath(certFile)
					ev.Detail += "; revocations " + statePath
				}
				// On record before the list changes: an audit store that
				// cannot be written changes nothing.
				if err := env.record(cmd, ev); err != nil {
					return err
				}
				if err := st.Save(statePath); err != nil {
					ev.Err = err
					return errors.Join(err, env.record(cmd, ev))
				}
				fmt.Fprintf(env.Stdout, "revoked serial %s (%s) in %s\n", entry.Serial, canon, statePath)
				if o.out == "" {
					fmt.Fprintf(env.Stdout, "publish a new CRL: %s\n", crlHint(env, &o))
					return nil
				}
				crl, err := writeCRL(cmd, env, &o, ca, st, statePath)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "wrote %s: CRL number %d, %d revoked, next update %s\n", env.NodePath(o.out), crl.Number, crl.Entries, crl.NextUpdate.Format(time.RFC3339))
				return nil
			},
		}
		o.addCAFlags(c)
		c.Flags().StringVar(&serial, "serial", "", "serial number to revoke, hex (colons allowed), as certinfo prints it")
		c.Flags().StringVar(&certFile, "cert", "", "certificate file to revoke (must be issued by --ca)")
		c.Flags().StringVar(&reason, "reason", "unspecified", "RFC 5280 reason: keyCompromise, superseded, cessationOfOperation, ...")
		c.Flags().StringVar(&o.out, "crl", "", "also write the new CRL to this file")
		return audited(withHelp(c, `  certrescue revoke --ca ca.pem --ca-key ca-key.pem --cert old-admin.pem --reason keyCompromise
  certrescue revoke --ca ca.pem --ca-key ca-key.pem --serial 4f:1a:09 --reason superseded --crl ca.crl
  certrescue audit list --action REVOKE`, `  0  revoked (or it already was)
  1  the revocation list or the audit log could not be written
  3  usage error: bad serial or reason, a certificate of another CA, a CA key that does not match`))
	})
}

func mustSerial(hex string) *big.Int {
	n, _ := revocation.ParseSerial(hex)
	return n
}

// readCert reads the first certificate of a PEM file (an operator's file or a
// node path under --root).
func readCert(env *Env, file string) (*x509.Certificate, error) {
	data, err := pki.ReadFile(env.NodePath(file))
	if err != nil {
		return nil, usagef("read certificate %s: %w", file, err)
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, usagef("certificate %s: %w", file, err)
	}
	return certs[0], nil
}
