package catrust_test

import (
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/certrescue/certrescue/internal/catrust"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testpki"
)

// The phases of a rotation as Replaces over one consumer's PEM: trust both,
// then the new one only; each phase is read back from the bytes (StateOf),
// so a rerun after a crash knows where it stands.
func ExampleReplace() {
	t := &testing.T{}
	old := testpki.MustCA(t, testpki.WithCN("kubernetes")).Cert
	nw := testpki.MustCA(t, testpki.WithCN("kubernetes")).Cert
	file := testpki.CertPEM(old)
	state := func(data []byte) catrust.State {
		certs, _ := pki.ParseCertificatesPEM(data)
		return catrust.StateOf(certs, old, nw)
	}
	fmt.Println("before:", state(file))
	file, _, _ = catrust.Rebundle(file, catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{old, nw}})
	fmt.Println("trust both:", state(file))
	_, changed, _ := catrust.Rebundle(file, catrust.Replace{Old: []*x509.Certificate{old}, Bundle: []*x509.Certificate{old, nw}})
	fmt.Println("rerun changes:", changed)
	file, _, _ = catrust.Rebundle(file, catrust.Replace{Old: []*x509.Certificate{old, nw}, Bundle: []*x509.Certificate{nw}})
	fmt.Println("new only:", state(file))
	// Output:
	// before: old
	// trust both: both
	// rerun changes: false
	// new only: new
}
