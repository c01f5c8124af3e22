package health

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
)

// ErrNotTakenUp is wrapped when a component still uses the credential it had
// before the renewal (it serves the old certificate): a restart, not waiting,
// is what loads the new one once the reload table's time has passed.
var ErrNotTakenUp = errors.New("the component still uses its old credential")

// PermanentError is a probe failure waiting cannot cure: the certificate on
// disk, served as it is, fails verification (a SAN missing, another CA).
// Wait stops at once on it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is or wraps a PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// verifyFailed turns a TLS verification error into a PermanentError when
// the server presents exactly the certificate now on disk: the renewed file
// itself is wrong, and it will stay so however long the gate waits.
func (p HTTPProbe) verifyFailed(ctx context.Context, err error) error {
	return permanentIfServed(ctx, err, p.URL, p.Served)
}

// permanentIfServed is verifyFailed for any probe of rawURL whose server
// must present served().
func permanentIfServed(ctx context.Context, err error, rawURL string, served func() (*x509.Certificate, error)) error {
	if served == nil || !isVerifyError(err) {
		return err
	}
	want, werr := served()
	if werr != nil {
		return err
	}
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return err
	}
	got, gerr := servedCert(ctx, u.Host, nil)
	if gerr != nil || !bytes.Equal(got.Raw, want.Raw) {
		return err
	}
	return &PermanentError{Err: fmt.Errorf("the certificate on disk, which %s now serves, fails verification: %w", u.Host, err)}
}

func isVerifyError(err error) bool {
	var h x509.HostnameError
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	var tv *tls.CertificateVerificationError
	return errors.As(err, &h) || errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &tv)
}

// servedCert opens a fresh TLS connection to addr and returns the leaf the
// server presents, without verifying it (the caller compares it with the
// disk); client, when set, is presented (etcd's peer port asks for one).
func servedCert(ctx context.Context, addr string, client *tls.Certificate) (*x509.Certificate, error) {
	var got *x509.Certificate
	cfg := &tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // only reads the served certificate, which the caller compares byte for byte with the disk; nothing is sent
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				got = cs.PeerCertificates[0]
			}
			return nil
		},
	}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}).DialContext(ctx, "tcp", addr)
	if got != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return got, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the certificate %s serves: %w", addr, err)
	}
	_ = conn.Close()
	return nil, fmt.Errorf("%s presented no certificate", addr)
}
