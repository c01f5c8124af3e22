package carotation

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// On an HA control plane every control-plane node holds the CA keys
// (kubeadm join --control-plane copies them), and phase 2 re-issues each
// node's own leaves. Every node must rotate to the same new CA: the node
// that started the rotation hands the others its pending rotation, new CA
// keys included, as a key archive (ca rotate --export-keys, --import-keys).
// It is a tar.gz of each CA's pending files (NAME/new-ca.crt, new-ca.key,
// old-ca.crt, and cross-signed.crt and new-sa.key when the rotation has
// them) with SHA256SUMS over them, written 0600: it holds private keys, and
// is to be removed from every node and the controller once phase 2 is done
// everywhere.

// KeysArchivePath is the key archive's usual place (ca-rotate.yml's default).
const KeysArchivePath = "/var/lib/certrescue/ca-rotate-keys.tar.gz"

// MaxKeysArchiveSize caps a key archive: a few CAs' certificates and keys.
const MaxKeysArchiveSize = 1 << 20

// ErrBadKeysArchive is wrapped by every key archive error.
var ErrBadKeysArchive = errors.New("not a certrescue CA rotation key archive")

// WriteKeysArchive is the key archive of the pending rotations ps, each
// entry dated modTime (the same rotations, the same bytes).
func WriteKeysArchive(ps []*Pending, modTime time.Time) ([]byte, error) {
	if len(ps) == 0 {
		return nil, errors.New("key archive: no pending rotation")
	}
	files := map[string][]byte{}
	for _, p := range ps {
		if !validCAName(p.Name) {
			return nil, fmt.Errorf("key archive: CA name %q", p.Name)
		}
		puts, err := p.Puts()
		if err != nil {
			return nil, err
		}
		for _, put := range puts {
			files[path.Join(p.Name, path.Base(put.Path))] = put.Data
		}
	}
	return catrust.Pack(files, modTime.UTC(), 0o600)
}

// ReadKeysArchive decodes and checks a key archive: the checksums, every
// file one of a pending rotation's, each new CA's key its certificate's,
// the new CA a self-signed CA with the old one's subject, a cross-signed
// certificate the new CA signed by the old.
func ReadKeysArchive(data []byte) ([]*Pending, error) {
	files, err := catrust.Unpack(data, MaxKeysArchiveSize, func(name string) bool {
		dir, base := path.Split(name)
		return validCAName(strings.TrimSuffix(dir, "/")) && slices.Contains(pendingFiles, base)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKeysArchive, err)
	}
	byCA := map[string]map[string][]byte{}
	for name, b := range files {
		if name == "SHA256SUMS" {
			continue
		}
		dir, base := path.Split(name)
		ca := strings.TrimSuffix(dir, "/")
		if byCA[ca] == nil {
			byCA[ca] = map[string][]byte{}
		}
		byCA[ca][base] = b
	}
	names := make([]string, 0, len(byCA))
	for ca := range byCA {
		names = append(names, ca)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%w: no CA in it", ErrBadKeysArchive)
	}
	var out []*Pending
	for _, ca := range names {
		p, err := parsePending(ca, byCA[ca])
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadKeysArchive, ca, err)
		}
		out = append(out, p)
	}
	return out, nil
}

var pendingFiles = []string{fileNew, fileKey, fileOld, fileCross, fileSAKey}

func validCAName(n string) bool {
	return n != "" && len(n) < 64 && !strings.ContainsAny(n, "/\\") && n != "." && n != ".." && strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == ""
}

// parsePending checks one CA's files of a key archive.
func parsePending(name string, f map[string][]byte) (*Pending, error) {
	cert := func(file string) (*x509.Certificate, error) {
		data, ok := f[file]
		if !ok {
			return nil, fmt.Errorf("no %s", file)
		}
		certs, err := pki.ParseCertificatesPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return certs[0], nil
	}
	p := &Pending{Name: name}
	var err error
	if p.New, err = cert(fileNew); err != nil {
		return nil, err
	}
	if p.Old, err = cert(fileOld); err != nil {
		return nil, err
	}
	keyPEM, ok := f[fileKey]
	if !ok {
		return nil, fmt.Errorf("no %s", fileKey)
	}
	if p.NewKey, err = pki.ParsePrivateKeyPEM(keyPEM); err != nil {
		return nil, fmt.Errorf("%s: %w", fileKey, err)
	}
	if !p.New.IsCA || !bytes.Equal(p.New.RawIssuer, p.New.RawSubject) || p.New.CheckSignatureFrom(p.New) != nil {
		return nil, fmt.Errorf("%s is not a self-signed CA certificate", fileNew)
	}
	if !bytes.Equal(p.New.RawSubject, p.Old.RawSubject) {
		return nil, fmt.Errorf("%s (%s) has another subject than %s (%s)", fileNew, p.New.Subject, fileOld, p.Old.Subject)
	}
	if err := carenewal.Check(p.New, p.NewKey); err != nil {
		return nil, fmt.Errorf("%s: %w", fileKey, err)
	}
	if _, ok := f[fileCross]; ok {
		if p.Cross, err = cert(fileCross); err != nil {
			return nil, err
		}
		if p.Cross.CheckSignatureFrom(p.Old) != nil || !pki.PublicKeysEqual(p.Cross.PublicKey, p.New.PublicKey) {
			return nil, fmt.Errorf("%s is not the new CA signed by the old one", fileCross)
		}
	}
	if data, ok := f[fileSAKey]; ok {
		if p.SAKey, err = pki.ParsePrivateKeyPEM(data); err != nil {
			return nil, fmt.Errorf("%s: %w", fileSAKey, err)
		}
	}
	return p, nil
}

// ErrOtherRotation: the node has a pending rotation of the CA to another
// new CA than the archive's.
var ErrOtherRotation = errors.New("another rotation of this CA is pending on this node")

// Import makes p this node's pending rotation of CA old (the node's CA
// certificate): p must rotate the same CA (old's subject and key). A node
// that already has p pending is left as it is (a rerun); one with another
// rotation pending is refused (ErrOtherRotation), and so is one whose CA is
// not p's old one. done reports a rotation already pending here.
func Import(n *nodefs.FS, p *Pending, old *x509.Certificate, txn *nodefs.Txn) (done bool, err error) {
	if done, err = Importable(n, p, old); err != nil || done {
		return done, err
	}
	// The node's own certificate of the CA: a node whose CA was renewed on
	// its key holds another certificate of the same CA.
	cp := *p
	cp.Old = old
	return false, Save(n, &cp, txn)
}

// Importable is Import's checks, with nothing written.
func Importable(n *nodefs.FS, p *Pending, old *x509.Certificate) (done bool, err error) {
	have, err := LoadPending(n, p.Name)
	if err != nil {
		return false, err
	}
	if have != nil {
		if bytes.Equal(have.New.Raw, p.New.Raw) {
			return true, nil
		}
		return false, fmt.Errorf("CA %s: %w (%s: subject key ID %x, the archive's %x); nothing was changed",
			p.Name, ErrOtherRotation, pendingPath(p.Name, fileNew), have.New.SubjectKeyId, p.New.SubjectKeyId)
	}
	if !carenewal.SameCA(old, p.Old) {
		return false, fmt.Errorf("CA %s: the archive rotates %q (subject key ID %x), not this node's CA %q (subject key ID %x); nothing was changed",
			p.Name, p.Old.Subject.String(), p.Old.SubjectKeyId, old.Subject.String(), old.SubjectKeyId)
	}
	return false, nil
}
