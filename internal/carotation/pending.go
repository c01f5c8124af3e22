package carotation

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"

	"path"
	"time"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Dir is where a rotation keeps its new CA until it is done, as a node path.
const Dir = "/var/lib/certrescue/ca-rotate"

// Pending is a rotation's new CA, and the old certificate it replaces.
type Pending struct {
	Name   string
	Old    *x509.Certificate
	New    *x509.Certificate
	NewKey crypto.Signer
	// Cross is the new CA's subject and key signed by the old CA (nil
	// without cross-signing).
	Cross *x509.Certificate
	// SAKey is the new service-account signing key (nil without
	// Options.RotateSAKey).
	SAKey crypto.Signer
}

// Paths of a pending rotation's files under Dir.
func pendingPath(name, file string) string { return path.Join(Dir, name, file) }

const (
	fileNew   = "new-ca.crt"
	fileKey   = "new-ca.key"
	fileOld   = "old-ca.crt"
	fileCross = "cross-signed.crt"
	fileSAKey = "new-sa.key"
)

// ErrBadPending is wrapped when a pending rotation's files do not read.
var ErrBadPending = errors.New("the pending rotation's files are damaged")

// LoadPending reads the pending rotation of CA name; nil (and no error) when
// there is none.
func LoadPending(n *nodefs.FS, name string) (*Pending, error) {
	if !n.Exists(pendingPath(name, fileNew)) {
		return nil, nil
	}
	bad := func(file string, err error) (*Pending, error) {
		return nil, fmt.Errorf("%s: %w: %w", pendingPath(name, file), ErrBadPending, err)
	}
	p := &Pending{Name: name}
	var err error
	if p.New, err = readCert(n, pendingPath(name, fileNew)); err != nil {
		return bad(fileNew, err)
	}
	if p.Old, err = readCert(n, pendingPath(name, fileOld)); err != nil {
		return bad(fileOld, err)
	}
	keyPEM, err := n.Read(pendingPath(name, fileKey), pki.MaxPEMSize)
	if err != nil {
		return bad(fileKey, err)
	}
	if p.NewKey, err = pki.ParsePrivateKeyPEM(keyPEM); err != nil {
		return bad(fileKey, err)
	}
	if err := carenewal.Check(p.New, p.NewKey); err != nil {
		return bad(fileKey, err)
	}
	if n.Exists(pendingPath(name, fileCross)) {
		if p.Cross, err = readCert(n, pendingPath(name, fileCross)); err != nil {
			return bad(fileCross, err)
		}
		if p.Cross.CheckSignatureFrom(p.Old) != nil || !pki.PublicKeysEqual(p.Cross.PublicKey, p.New.PublicKey) {
			return bad(fileCross, errors.New("not the new CA signed by the old one"))
		}
	}
	if n.Exists(pendingPath(name, fileSAKey)) {
		data, err := n.Read(pendingPath(name, fileSAKey), pki.MaxPEMSize)
		if err != nil {
			return bad(fileSAKey, err)
		}
		if p.SAKey, err = pki.ParsePrivateKeyPEM(data); err != nil {
			return bad(fileSAKey, err)
		}
	}
	return p, nil
}

func readCert(n *nodefs.FS, p string) (*x509.Certificate, error) {
	data, err := n.Read(p, pki.MaxPEMSize)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// NewOptions say how to make a new CA.
type NewOptions struct {
	Now       time.Time
	Validity  time.Duration // carenewal.DefaultValidity when 0
	CrossSign bool
	// SAKeyLike, when set, is the current service-account key: a new one of
	// the same algorithm and size is made.
	SAKeyLike crypto.PublicKey
}

// NewPending makes the new CA of a rotation of old (whose key is oldKey): a
// new key of the same algorithm and size, old's subject, key usage and
// basic constraints, a subject key ID of the new key, a new validity.
func NewPending(name string, old *x509.Certificate, oldKey crypto.Signer, o NewOptions) (*Pending, error) {
	if o.Validity == 0 {
		o.Validity = carenewal.DefaultValidity
	}
	if err := carenewal.Check(old, oldKey); err != nil {
		return nil, fmt.Errorf("CA %s: %w", name, err)
	}
	spec, err := pki.SpecOf(old.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", name, err)
	}
	key, err := pki.GenerateKey(spec)
	if err != nil {
		return nil, fmt.Errorf("CA %s: new key: %w", name, err)
	}
	nb, na := pki.Window(o.Now, pki.DefaultBackdate, o.Validity)
	skid, err := pki.SubjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	serial, err := pki.NewSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, RawSubject: old.RawSubject, NotBefore: nb, NotAfter: na,
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: old.MaxPathLen, MaxPathLenZero: old.MaxPathLenZero,
		KeyUsage: old.KeyUsage | x509.KeyUsageCertSign, SubjectKeyId: skid,
	}
	if tmpl.KeyUsage&^x509.KeyUsageCertSign == 0 {
		tmpl.KeyUsage |= x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("CA %s: sign the new CA certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	p := &Pending{Name: name, Old: old, New: cert, NewKey: key}
	if o.CrossSign {
		// The new CA signed by the old, valid no longer than the old.
		cross := *tmpl
		cross.SerialNumber, err = pki.NewSerial()
		if err != nil {
			return nil, err
		}
		if cross.NotAfter.After(old.NotAfter) {
			cross.NotAfter = old.NotAfter
		}
		der, err := x509.CreateCertificate(rand.Reader, &cross, old, key.Public(), oldKey)
		if err != nil {
			return nil, fmt.Errorf("CA %s: cross-sign the new CA with the old: %w", name, err)
		}
		if p.Cross, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
	}
	if o.SAKeyLike != nil {
		spec, err := pki.SpecOf(o.SAKeyLike)
		if err != nil {
			return nil, fmt.Errorf("service-account key: %w", err)
		}
		if p.SAKey, err = pki.GenerateKey(spec); err != nil {
			return nil, fmt.Errorf("service-account key: %w", err)
		}
	}
	return p, nil
}

// Puts are the files that keep p under Dir: certificates 0644, keys 0600.
func (p *Pending) Puts() ([]nodefs.Put, error) {
	keyPEM, err := pki.MarshalPrivateKeyPEM(p.NewKey)
	if err != nil {
		return nil, err
	}
	out := []nodefs.Put{
		{Path: pendingPath(p.Name, fileOld), Data: pki.EncodeCertificatePEM(p.Old.Raw), Mode: atomicfile.CertMode},
		{Path: pendingPath(p.Name, fileKey), Data: keyPEM, Mode: atomicfile.KeyMode},
		{Path: pendingPath(p.Name, fileNew), Data: pki.EncodeCertificatePEM(p.New.Raw), Mode: atomicfile.CertMode},
	}
	if p.Cross != nil {
		out = append(out, nodefs.Put{Path: pendingPath(p.Name, fileCross), Data: pki.EncodeCertificatePEM(p.Cross.Raw), Mode: atomicfile.CertMode})
	}
	if p.SAKey != nil {
		sa, err := pki.MarshalPrivateKeyPEM(p.SAKey)
		if err != nil {
			return nil, err
		}
		out = append(out, nodefs.Put{Path: pendingPath(p.Name, fileSAKey), Data: sa, Mode: atomicfile.KeyMode})
	}
	// new-ca.crt last: its presence is what says a rotation is pending.
	out[2], out[len(out)-1] = out[len(out)-1], out[2]
	return out, nil
}

// Save writes p under Dir (atomically, keys 0600). A pending rotation that
// is already there is kept: Save never replaces a new CA other files may
// already trust.
func Save(n *nodefs.FS, p *Pending, txn *nodefs.Txn) error {
	if n.Exists(pendingPath(p.Name, fileNew)) {
		return fmt.Errorf("%s: a rotation of %s is already pending", pendingPath(p.Name, fileNew), p.Name)
	}
	puts, err := p.Puts()
	if err != nil {
		return err
	}
	if err := n.MkdirAll(path.Join(Dir, p.Name), 0o700); err != nil {
		return err
	}
	return n.WriteSet(puts, nodefs.WriteOptions{Force: true, Txn: txn})
}

// Forget removes a finished rotation's files, so that another one can start.
func Forget(n *nodefs.FS, name string) error {
	for _, f := range []string{fileNew, fileCross, fileSAKey, fileKey, fileOld} {
		p := pendingPath(name, f)
		if n.Exists(p) {
			if err := n.Remove(p); err != nil {
				return fmt.Errorf("remove %s: %w", p, err)
			}
		}
	}
	return nil
}

// Anchors are the new and old CA certificates of every rotation on the node:
// check and rescue expect them side by side in trust bundles (the CA file's
// first certificate is the old one until phase 2, the new one after).
func Anchors(n *nodefs.FS) []*x509.Certificate {
	var out []*x509.Certificate
	entries, err := n.ReadDir(Dir)
	if err != nil {
		return nil
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		for _, f := range []string{fileNew, fileOld} {
			if c, err := readCert(n, pendingPath(e.Name(), f)); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
