package secrets

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/exporter"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// client is the clientset the tests create objects with (test code only:
// the product reads through NewClient, see sourceClient).
func client(t testing.TB, kubeconfig string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(restConfig(t, kubeconfig))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sourceClient is the client Source reads with, made as the exporter makes
// it: NewClient, protobuf.
func sourceClient(t testing.TB, kubeconfig string) rest.Interface {
	t.Helper()
	cfg := restConfig(t, kubeconfig)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func restConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	return cfg
}

func tlsSecret(t testing.TB, ns, name string, leaf *testpki.Leaf, ca []byte) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": testpki.CertPEM(leaf.Cert), "tls.key": testpki.KeyPEM(t, leaf.Key)}}
	if ca != nil {
		s.Data["ca.crt"] = ca
	}
	return s
}

// series renders the x509_cert_not_after series of a scrape as
// "ns/name/key CN" lines, and every certrescue_finding as "finding ns/name/key reason".
func series(t testing.TB, c *exporter.Collector) string {
	t.Helper()
	mfs, err := exporter.NewRegistry(c, false).Gather()
	if err != nil {
		t.Fatalf("scrape failed: %v", err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			where := l["secret_namespace"] + "/" + l["secret_name"] + "/" + l["secret_key"]
			if l["configmap_name"] != "" {
				where = "cm:" + l["configmap_namespace"] + "/" + l["configmap_name"] + "/" + l["configmap_key"]
			}
			switch mf.GetName() {
			case "x509_cert_not_after":
				out = append(out, where+" "+l["subject_CN"])
			case "x509_cert_error":
				if m.GetGauge().GetValue() == 1 {
					out = append(out, "error "+where)
				}
			case "certrescue_finding":
				out = append(out, "finding "+where+" "+l["reason"])
			}
		}
	}
	return strings.Join(out, "\n")
}

// eventually polls the exporter until the real API server's watch has
// delivered what the test changed (bounded: 30 s).
func eventually(t testing.TB, c *exporter.Collector, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = series(t, c); ok(got) {
			return
		}
		time.Sleep(50 * time.Millisecond) // waiting on a real process, not on time
	}
	t.Fatalf("%s: not seen within 30s; series:\n%s", what, got)
}

func TestSecretsAreWatchedAddedUpdatedAndRemovedAgainstARealAPIServer(t *testing.T) {
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	kc := client(t, api.Kubeconfig)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bank"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ca := testpki.MustCA(t, testpki.WithCN("bank-ca"))
	first := testpki.MustLeaf(t, ca, testpki.WithCN("web-first"))
	secrets := kc.CoreV1().Secrets("bank")
	if _, err := secrets.Create(ctx, tlsSecret(t, "bank", "web", first, testpki.CertPEM(ca.Cert)), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: "not-tls"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"tls.crt": testpki.CertPEM(first.Cert)}}
	if _, err := secrets.Create(ctx, opaque, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: "kube-apiserver-ca"},
		Data: map[string]string{"ca-bundle.crt": string(testpki.CertPEM(ca.Cert, testpki.MustCA(t, testpki.WithCN("backup-ca")).Cert))}}
	if _, err := kc.CoreV1().ConfigMaps("bank").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	store := exporter.NewStore()
	c := &exporter.Collector{Store: store, Clock: clock.Fixed(testpki.Epoch)}
	src := &Source{Client: sourceClient(t, api.Kubeconfig), Store: store, ConfigMaps: true}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	has := func(lines ...string) func(string) bool {
		return func(got string) bool {
			for _, l := range lines {
				if !strings.Contains("\n"+got+"\n", "\n"+l+"\n") {
					return false
				}
			}
			return true
		}
	}
	eventually(t, c, "the TLS Secret and the CA bundle", has("bank/web/tls.crt web-first", "bank/web/ca.crt bank-ca",
		"cm:bank/kube-apiserver-ca/ca-bundle.crt bank-ca", "cm:bank/kube-apiserver-ca/ca-bundle.crt backup-ca"))
	if got := series(t, c); strings.Contains(got, "not-tls") {
		t.Errorf("an Opaque Secret reached the exporter:\n%s", got)
	}
	listedAsJSON(t, api.Kubeconfig, ctx, "web")

	renewed := testpki.MustLeaf(t, ca, testpki.WithCN("web-renewed"))
	if _, err := secrets.Update(ctx, tlsSecret(t, "bank", "web", renewed, testpki.CertPEM(ca.Cert)), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "the renewed certificate replacing the old one", func(got string) bool {
		return has("bank/web/tls.crt web-renewed")(got) && !strings.Contains(got, "web-first")
	})

	bad := tlsSecret(t, "bank", "broken", renewed, nil)
	bad.Data["tls.crt"] = []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	other := testpki.MustLeaf(t, ca, testpki.WithCN("wrong-key"))
	mismatched := tlsSecret(t, "bank", "mismatched", renewed, nil)
	mismatched.Data["tls.key"] = testpki.KeyPEM(t, other.Key)
	for _, s := range []*corev1.Secret{bad, mismatched} {
		if _, err := secrets.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, c, "a corrupt certificate and a mismatched key", has("error bank/broken/tls.crt",
		"finding bank/broken/tls.crt malformed", "finding bank/mismatched/tls.key key_mismatch"))

	for _, name := range []string{"web", "broken", "mismatched"} {
		if err := secrets.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := kc.CoreV1().ConfigMaps("bank").Delete(ctx, "kube-apiserver-ca", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, c, "no series left for deleted objects", func(got string) bool {
		return !strings.Contains(got, "bank/") && !strings.Contains(got, "kube-apiserver-ca")
	})
	// Series flow as soon as the first list arrives; x509_source_up turns 1
	// when the informers report synced, which can come later on a busy machine.
	select {
	case <-src.Synced():
	case <-time.After(30 * time.Second):
		t.Fatal("the informers never reported synced within 30s")
	}
	got := exporterUp(t, c)
	if got != "kube-configmap=1 kube-secret=1" {
		t.Errorf("x509_source_up after sync: %s", got)
	}
}

func exporterUp(t testing.TB, c *exporter.Collector) string {
	t.Helper()
	mfs, _ := exporter.NewRegistry(c, false).Gather()
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "x509_source_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out = append(out, fmt.Sprintf("%s=%v", m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
		}
	}
	return strings.Join(out, " ")
}

// listedAsJSON lists Secrets as Source does (the same ListWatch, the field
// selector) through a NewClient that speaks JSON instead of protobuf: the
// four-kind scheme decodes both.
func listedAsJSON(t *testing.T, kubeconfig string, ctx context.Context, want ...string) {
	t.Helper()
	cfg := restConfig(t, kubeconfig)
	cfg.ContentType = "application/json"
	rc, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lw := cache.NewFilteredListWatchFromClient(rc, "secrets", "bank", func(o *metav1.ListOptions) { o.FieldSelector = TLSFieldSelector })
	obj, err := lw.ListWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	list, ok := obj.(*corev1.SecretList)
	if !ok {
		t.Fatalf("listed a %T, want *v1.SecretList", obj)
	}
	var got []string
	for _, s := range list.Items {
		got = append(got, s.Name)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("JSON list of TLS Secrets in bank: %v, want %v", got, want)
	}
}
