package kubelet

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/certrescue/certrescue/internal/nodefs"
	"github.com/certrescue/certrescue/internal/pki"
)

// Serving certificate files the kubelet makes for itself when it has none
// (no tlsCertFile, no serverTLSBootstrap).
const (
	ServingCert = "kubelet.crt"
	ServingKey  = "kubelet.key"
)

// servingLifetime is what the kubelet gives its self-signed pair: a year.
const servingLifetime = 365 * 24 * time.Hour

// ServingNames are the host and names of a self-signed kubelet serving
// certificate: the host is its CN up to "@" (the kubelet writes
// HOST@UNIXTIME), the rest its SANs.
type ServingNames struct {
	Host string
	DNS  []string
	IPs  []net.IP
}

// NamesOf reads a kubelet serving certificate's names.
func NamesOf(c *x509.Certificate) (ServingNames, error) {
	host, _, _ := strings.Cut(c.Subject.CommonName, "@")
	if host == "" {
		return ServingNames{}, fmt.Errorf("CN %q is not the kubelet's HOST@TIME", c.Subject.CommonName)
	}
	return ServingNames{Host: host, DNS: slices.Clone(c.DNSNames), IPs: slices.Clone(c.IPAddresses)}, nil
}

// SelfSignedServing makes what the kubelet makes for itself: a CA
// HOST-ca@UNIXTIME and, signed by it, a serving certificate HOST@UNIXTIME for
// the names, both valid from an hour before now for a year. certPEM is the
// serving certificate then the CA (kubelet.crt), keyPEM its key (kubelet.key).
func SelfSignedServing(n ServingNames, now time.Time) (certPEM, keyPEM []byte, err error) {
	nb, na := now.Add(-time.Hour), now.Add(servingLifetime)
	stamp := now.Unix()
	caKey, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048})
	if err != nil {
		return nil, nil, err
	}
	caCert, err := pki.SelfSign(caKey, pki.Template{Subject: pkix.Name{CommonName: fmt.Sprintf("%s-ca@%d", n.Host, stamp)}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, NotBefore: nb, NotAfter: na})
	if err != nil {
		return nil, nil, err
	}
	ca, err := pki.NewCA(caCert, caKey)
	if err != nil {
		return nil, nil, err
	}
	key, err := pki.GenerateKey(pki.KeySpec{Algo: pki.AlgoRSA, Size: 2048})
	if err != nil {
		return nil, nil, err
	}
	dns := n.DNS
	if ip := net.ParseIP(n.Host); ip == nil && !slices.Contains(dns, n.Host) {
		dns = append([]string{n.Host}, dns...)
	}
	leaf, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: fmt.Sprintf("%s@%d", n.Host, stamp)},
		KeyUsage: x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: dns, IPAddresses: n.IPs, NotBefore: nb, NotAfter: na}, key.Public())
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return bytes.Join([][]byte{pki.EncodeCertificatePEM(leaf.Raw), pki.EncodeCertificatePEM(caCert.Raw)}, nil), keyPEM, nil
}

// ReadServing reads dir/kubelet.crt's serving certificate (its first).
func ReadServing(fsys *nodefs.FS, dir string) (*x509.Certificate, error) {
	p := path.Join(dir, ServingCert)
	data, err := fsys.Read(p, MaxPairSize)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return certs[0], nil
}

// WriteServing replaces kubelet.crt (0644) and kubelet.key (0600) in dir in
// one atomic set, journaled with txn when it is not nil (a crash never
// leaves a certificate with the other generation's key).
func WriteServing(fsys *nodefs.FS, dir string, certPEM, keyPEM []byte, o nodefs.WriteOptions) error {
	o.Force = true
	return fsys.WriteSet([]nodefs.Put{
		{Path: path.Join(dir, ServingCert), Data: certPEM, Mode: 0o644},
		{Path: path.Join(dir, ServingKey), Data: keyPEM, Mode: 0o600},
	}, o)
}
