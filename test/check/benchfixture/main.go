// Command benchfixture writes the inputs scripts/bench-check.sh measures: a
// directory of N PEM certificate files (leaves signed by one CA, whose
// certificate is in the directory too, so chain checks run), generated on the
// spot and never committed.
//
//	go run ./test/check/benchfixture -dir /tmp/pems -n 10000
package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/certrescue/certrescue/internal/pki"
)

func main() {
	dir := flag.String("dir", "", "directory to write (created)")
	n := flag.Int("n", 10000, "number of PEM files")
	algo := flag.String("algo", "ecdsa", "CA and leaf key algorithm: ecdsa or rsa")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "benchfixture: -dir is required")
		os.Exit(3)
	}
	if err := write(*dir, *n, *algo); err != nil {
		fmt.Fprintln(os.Stderr, "benchfixture:", err)
		os.Exit(1)
	}
}

func write(dir string, n int, algo string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	spec := pki.KeySpec{Algo: algo}
	now := time.Now()
	caKey, err := pki.GenerateKey(spec)
	if err != nil {
		return err
	}
	caCert, err := pki.SelfSign(caKey, pki.Template{Subject: pkix.Name{CommonName: "bench-ca"}, IsCA: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0)})
	if err != nil {
		return err
	}
	ca := &pki.CA{Cert: caCert, Signer: caKey}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), pki.EncodeCertificatePEM(caCert.Raw), 0o644); err != nil {
		return err
	}
	leafKey, err := pki.GenerateKey(spec) // one key for every leaf: the fixture is about reading certificates
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, runtime.GOMAXPROCS(0))
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// Expiries spread over two years, a few already past.
				na := now.Add(time.Duration(i-n/50) * 2 * time.Hour)
				c, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: fmt.Sprintf("svc-%05d.example.com", i)},
					DNSNames: []string{fmt.Sprintf("svc-%05d.example.com", i)}, KeyUsage: x509.KeyUsageDigitalSignature,
					ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, NotBefore: na.AddDate(-1, 0, 0), NotAfter: na}, leafKey.Public())
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("svc-%05d.pem", i)), pki.EncodeCertificatePEM(c.Raw), 0o644)
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n - 1 {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	return nil
}
