package catrust

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/carenewal"
	"github.com/certrescue/certrescue/internal/pki"
)

// The archive for the other nodes: what a CA change on one node means for
// the others, as one tar.gz with checksums. It holds certificates only (a
// renewal keeps the CA keys; workers never hold them): MANIFEST.json (which
// CA, from which certificate to which), certs/NAME.pem for each CA, and
// SHA256SUMS over both, as sha256sum -c reads it.

// ArchiveCA is one CA change of an archive.
type ArchiveCA struct {
	Name string `json:"name"` // the CA as the node names it: ca, etcd-ca, ...
	Path string `json:"path"` // its certificate's node path there
	// OldSHA256 and NewSHA256 are the certificates' DER fingerprints.
	OldSHA256 string            `json:"oldSHA256"`
	NewSHA256 string            `json:"newSHA256"`
	Subject   string            `json:"subject"`
	File      string            `json:"file"` // certs/N.pem in the archive
	NotAfter  time.Time         `json:"notAfter"`
	Cert      *x509.Certificate `json:"-"`
}

// Manifest is MANIFEST.json.
type Manifest struct {
	Kind    string      `json:"kind"` // "ca-renew"
	Created time.Time   `json:"created"`
	Node    string      `json:"node,omitempty"`
	CAs     []ArchiveCA `json:"cas"`
	// Phase is a rotation's (ArchiveKindRotate): what every node's
	// consumers hold once it is applied (package carotation).
	Phase string `json:"phase,omitempty"`
}

// ArchiveKindRenew is a Manifest of a renewal on the same keys.
const ArchiveKindRenew = "ca-renew"

// ArchiveKindRotate is a Manifest of a rotation to new keys (ca rotate):
// each CA's new certificate, and the fingerprint of the old one.
const ArchiveKindRotate = "ca-rotate"

// MaxArchiveSize caps an archive; a few CA certificates are a few KiB.
const MaxArchiveSize = 1 << 20

// ErrBadArchive is wrapped by every archive error.
var ErrBadArchive = errors.New("not a certrescue CA archive")

// Fingerprint is a certificate's SHA-256 over its DER bytes, hex.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// WriteArchive encodes m, with each CA's certificate, as the archive.
func WriteArchive(m Manifest) ([]byte, error) {
	files := map[string][]byte{}
	for i := range m.CAs {
		ca := &m.CAs[i]
		if ca.Cert == nil || !validName(ca.Name) {
			return nil, fmt.Errorf("archive: CA %q: no certificate, or no name", ca.Name)
		}
		ca.NewSHA256, ca.Subject, ca.NotAfter = Fingerprint(ca.Cert), ca.Cert.Subject.String(), ca.Cert.NotAfter.UTC()
		ca.File = fmt.Sprintf("certs/%d.pem", i)
		files[ca.File] = pki.EncodeCertificatePEM(ca.Cert.Raw)
	}
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	files["MANIFEST.json"] = append(man, '\n')
	return Pack(files, m.Created, 0o644)
}

// Pack is files as a tar.gz with SHA256SUMS over them (as sha256sum -c
// reads it), each entry with mode and modTime: the same files, the same
// bytes.
func Pack(files map[string][]byte, modTime time.Time, mode int64) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var sums bytes.Buffer
	for _, n := range names {
		s := sha256.Sum256(files[n])
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(s[:]), n)
	}
	names = append(names, "SHA256SUMS")
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		data := files[n]
		if n == "SHA256SUMS" {
			data = sums.Bytes()
		}
		hdr := &tar.Header{Name: n, Mode: mode, Size: int64(len(data)), ModTime: modTime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ReadArchive decodes and checks an archive: every file listed in
// SHA256SUMS with its checksum, nothing else in it, each CA certificate a
// self-signed CA whose fingerprint the manifest names.
func ReadArchive(data []byte) (*Manifest, error) {
	bad := func(format string, a ...any) (*Manifest, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadArchive, fmt.Sprintf(format, a...))
	}
	files, err := Unpack(data, MaxArchiveSize, validPath)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(files["MANIFEST.json"], &m); err != nil {
		return bad("MANIFEST.json: %v", err)
	}
	if m.Kind != ArchiveKindRenew && m.Kind != ArchiveKindRotate {
		return bad("MANIFEST.json kind %q", m.Kind)
	}
	for i := range m.CAs {
		ca := &m.CAs[i]
		if !validName(ca.Name) || !validPath(ca.File) || ca.File == "SHA256SUMS" || ca.File == "MANIFEST.json" {
			return bad("CA %q in file %q", ca.Name, ca.File)
		}
		certs, err := pki.ParseCertificatesPEM(files[ca.File])
		if err != nil {
			return bad("%s: %v", ca.File, err)
		}
		c := certs[0]
		if Fingerprint(c) != ca.NewSHA256 {
			return bad("%s is not the certificate MANIFEST.json names for %s", ca.File, ca.Name)
		}
		if !c.IsCA || !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignatureFrom(c) != nil {
			return bad("%s (%s) is not a self-signed CA certificate", ca.File, ca.Name)
		}
		ca.Cert = c
	}
	return &m, nil
}

// Unpack reads a tar.gz that Pack wrote: regular files only, each name
// one valid accepts, none twice, every one listed in SHA256SUMS with its
// checksum and nothing else in it; at most max bytes compressed and per
// file. SHA256SUMS itself is returned too. Errors wrap ErrBadArchive.
func Unpack(data []byte, max int, valid func(string) bool) (map[string][]byte, error) {
	bad := func(format string, a ...any) (map[string][]byte, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadArchive, fmt.Sprintf(format, a...))
	}
	if len(data) > max {
		return bad("%d bytes, more than %d", len(data), max)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return bad("gzip: %v", err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(io.LimitReader(gz, 4*int64(max)))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return bad("tar: %v", err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > int64(max) || !(hdr.Name == "SHA256SUMS" || valid(hdr.Name)) {
			return bad("unexpected entry %q", hdr.Name)
		}
		if _, dup := files[hdr.Name]; dup {
			return bad("%s twice", hdr.Name)
		}
		b, err := io.ReadAll(io.LimitReader(tr, int64(max)))
		if err != nil {
			return bad("%s: %v", hdr.Name, err)
		}
		files[hdr.Name] = b
	}
	// The rest of the stream, for gzip's own length and CRC check.
	if _, err := io.Copy(io.Discard, io.LimitReader(gz, int64(max))); err != nil {
		return bad("gzip: %v", err)
	}
	sums, ok := files["SHA256SUMS"]
	if !ok {
		return bad("no SHA256SUMS")
	}
	listed := map[string]bool{"SHA256SUMS": true}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			return bad("SHA256SUMS line %q", line)
		}
		b, ok := files[name]
		if !ok {
			return bad("SHA256SUMS names %s, which is not in the archive", name)
		}
		s := sha256.Sum256(b)
		if hex.EncodeToString(s[:]) != sum {
			return bad("%s: checksum mismatch", name)
		}
		listed[name] = true
	}
	for n := range files {
		if !listed[n] {
			return bad("%s is not in SHA256SUMS", n)
		}
	}
	return files, nil
}

// Adopt checks that an archive's CA certificate is a renewal of the node's
// CA old (the same subject and key) and returns the renewal to deploy.
func Adopt(old *x509.Certificate, ca ArchiveCA) error {
	if !carenewal.SameCA(old, ca.Cert) {
		return fmt.Errorf("the archive's %s (%s) is not a renewal of this node's %s: another subject or key", ca.Name, ca.Subject, old.Subject)
	}
	return nil
}

func validName(n string) bool { return n != "" && len(n) < 1024 }

func validPath(n string) bool {
	if n == "SHA256SUMS" || n == "MANIFEST.json" {
		return true
	}
	dir, base := path.Split(n)
	num := strings.TrimSuffix(base, ".pem")
	return dir == "certs/" && strings.HasSuffix(base, ".pem") && num != "" && len(num) < 6 && strings.Trim(num, "0123456789") == ""
}
