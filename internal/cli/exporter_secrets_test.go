package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// TestExporterSecretsTextfileAgainstARealAPIServer runs `exporter --secrets
// --textfile` as a user would, against a real kube-apiserver: the client the
// command builds (secrets.NewClient, protobuf) lists the TLS Secrets and
// ConfigMap CA bundles, and only those. The clientset here only creates the
// objects (test code).
func TestExporterSecretsTextfileAgainstARealAPIServer(t *testing.T) {
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	cfg, err := clientcmd.BuildConfigFromFlags("", api.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ca := testpki.MustCA(t, testpki.WithCN("bank-ca"))
	leaf := testpki.MustLeaf(t, ca, testpki.WithCN("web.bank"))
	for _, ns := range []string{"bank", "shop"} {
		if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	objs := []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: "web"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": testpki.CertPEM(leaf.Cert), "tls.key": testpki.KeyPEM(t, leaf.Key)}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: "not-tls"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"tls.crt": testpki.CertPEM(leaf.Cert)}},
	}
	for _, s := range objs {
		if _, err := kc.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "bank", Name: "bundle"},
		Data: map[string]string{"ca.crt": string(testpki.CertPEM(ca.Cert))}}
	if _, err := kc.CoreV1().ConfigMaps("bank").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		args      []string
		want, not []string
	}{
		{"every namespace", nil,
			[]string{`secret_name="web"`, `subject_CN="web.bank"`, `configmap_name="bundle"`, `x509_source_up{source_kind="kube-secret",source_name="secrets"} 1`},
			[]string{"not-tls"}},
		{"another namespace only", []string{"--namespace", "shop"},
			[]string{`x509_source_up{source_kind="kube-secret",source_name="secrets"} 1`},
			[]string{`secret_name="web"`, `configmap_name="bundle"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "out"), 0o755); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"exporter", "--scan-node=false", "--no-endpoints", "--secrets", "--kubeconfig", api.Kubeconfig,
				"--textfile", "/out"}, tc.args...)
			code, _, stderr := runExporterCLI(t, root, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			b, err := os.ReadFile(filepath.Join(root, "out", "certrescue.prom"))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("textfile lacks %s:\n%s", w, b)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(string(b), n) {
					t.Errorf("textfile has %s:\n%s", n, b)
				}
			}
		})
	}
}

// TestCertrescueDoesNotLinkTheClientset guards start-up: client-go's
// clientset pulls in k8s.io/client-go/kubernetes/scheme, whose init registers
// every API group at the start of every command (secrets.NewClient exists to
// avoid it).
func TestCertrescueDoesNotLinkTheClientset(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		if gr := os.Getenv("GOROOT"); gr != "" {
			gotool = filepath.Join(gr, "bin", "go")
		} else {
			t.Skip("no go tool on PATH to list the binary's packages")
		}
	}
	out, err := exec.Command(gotool, "list", "-deps", "github.com/certrescue/certrescue/cmd/certrescue").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "k8s.io/client-go/kubernetes" || strings.HasPrefix(p, "k8s.io/client-go/kubernetes/") {
			t.Errorf("cmd/certrescue links %s", p)
		}
	}
}
