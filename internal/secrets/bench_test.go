package secrets

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// createAll creates n objects with 32 concurrent clients.
func createAll(t *testing.T, n int, create func(i int) error) {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := create(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

// TestBenchSecretsProcess is run by scripts/bench-exporter.sh
// (CERTRESCUE_BENCH_EXPORTER=path of a built certrescue): the exporter as its
// own process against the testbed's real API server with 5,000 TLS Secrets,
// then with 50,000 Secrets of other types beside them. It prints figures and
// asserts nothing about time or memory.
func TestBenchSecretsProcess(t *testing.T) {
	bin := os.Getenv("CERTRESCUE_BENCH_EXPORTER")
	if bin == "" {
		t.Skip("set CERTRESCUE_BENCH_EXPORTER to a certrescue binary (scripts/bench-exporter.sh does)")
	}
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	kc := client(t, api.Kubeconfig)
	ctx := context.Background()
	const namespaces, tlsN, otherN = 50, 5000, 50000
	for i := range namespaces {
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns-%02d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	ca := testpki.MustCA(t)
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := testpki.KeyPEM(t, key)
	t0 := time.Now()
	createAll(t, tlsN, func(i int) error {
		c, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: fmt.Sprintf("svc-%05d", i)}, DNSNames: []string{fmt.Sprintf("svc-%05d.example", i)},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(i%300+1) * 24 * time.Hour)}, key.Public())
		if err != nil {
			return err
		}
		_, err = kc.CoreV1().Secrets(fmt.Sprintf("ns-%02d", i%namespaces)).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tls-%05d", i)}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": pki.EncodeCertificatePEM(c.Raw), "tls.key": keyPEM, "ca.crt": pki.EncodeCertificatePEM(ca.Cert.Raw)}}, metav1.CreateOptions{})
		return err
	})
	fmt.Printf("secrets setup: %d TLS Secrets created in %s\n", tlsN, time.Since(t0).Round(time.Second))
	args := []string{"exporter", "--scan-node=false", "--no-endpoints", "--secrets", "--configmaps=false", "--kubeconfig", api.Kubeconfig}
	measure := func(label string) {
		for run := 1; run <= 3; run++ {
			f := testbed.MeasureExporter(t, bin, args, tlsN*2, 300)
			fmt.Printf("secrets run %d: %s: %s\n", run, label, f)
		}
	}
	measure(fmt.Sprintf("%d TLS Secrets, 0 other Secrets", tlsN))

	t0 = time.Now()
	createAll(t, otherN, func(i int) error {
		typ, size := corev1.SecretTypeOpaque, 2048
		if i%5 == 0 {
			typ, size = "helm.sh/release.v1", 16384 // Helm keeps every release in a Secret like this
		}
		data := make([]byte, size)
		_, _ = rand.Read(data)
		_, err := kc.CoreV1().Secrets(fmt.Sprintf("ns-%02d", i%namespaces)).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("other-%05d", i)}, Type: typ, Data: map[string][]byte{"data": data}}, metav1.CreateOptions{})
		return err
	})
	fmt.Printf("secrets setup: %d other Secrets (4/5 Opaque 2 KiB, 1/5 helm.sh/release.v1 16 KiB) created in %s\n", otherN, time.Since(t0).Round(time.Second))
	measure(fmt.Sprintf("%d TLS Secrets, %d other Secrets", tlsN, otherN))
}
