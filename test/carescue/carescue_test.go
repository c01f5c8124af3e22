package carescue

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

const day = 24 * time.Hour

// kept are the leaves aged to a window that is valid now, under the expired
// CA certificates: the rescue must not re-issue them. Each is exercised:
// the API server talks to etcd with apiserver-etcd-client, the
// controller-manager to the API server with controller-manager.conf.
var kept = []string{"apiserver-etcd-client", "controller-manager.conf", "front-proxy-client"}

func TestRescueOfExpiredCAs(t *testing.T) {
	c := testbed.NewKubeadmPlane(t, testbed.PlaneOptions{
		Kubelet: []string{"env", "CARESCUE_KUBELET_STANDIN=1", os.Args[0], "-test.run=^TestHelperKubelet$"}})
	bin := testbed.Certrescue(t)
	c.Bootstrap()
	caPath := c.Path(layout.PKIDir + "/ca.crt")
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	// kubeadm's cluster-info and the field guide's dual-CA ConfigMap, as the
	// cluster holds them before the incident.
	clusterInfo := filepath.Join(c.Run, "cluster-info.kubeconfig")
	write(t, clusterInfo, fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: https://%s:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\npreferences: {}\nusers: null\n",
		base64.StdEncoding.EncodeToString(caPEM), testbed.Advertise))
	backup := testpki.MustCA(t, testpki.WithCN("backup-ca"))
	bundle := filepath.Join(c.Run, "ca-bundle.crt")
	write(t, bundle, string(caPEM)+string(testpki.CertPEM(backup.Cert)))
	for _, args := range [][]string{
		{"-n", "kube-public", "create", "configmap", "cluster-info", "--from-file=kubeconfig=" + clusterInfo},
		{"-n", "kube-system", "create", "configmap", "kube-apiserver-ca", "--from-file=ca-bundle.crt=" + bundle},
		{"-n", "default", "create", "serviceaccount", "probe"},
	} {
		if out, err := c.Kubectl("admin.conf", args...); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	token, err := c.Kubectl("admin.conf", "-n", "default", "create", "token", "probe", "--duration=48h")
	if err != nil {
		t.Fatalf("create token: %v\n%s", err, token)
	}
	tokenConf := filepath.Join(c.Run, "token.kubeconfig")
	write(t, tokenConf, fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: %s\n    server: https://%s:6443\n  name: plane\ncontexts:\n- context:\n    cluster: plane\n    user: probe\n  name: probe\ncurrent-context: probe\nusers:\n- name: probe\n  user:\n    token: %s\n",
		caPath, testbed.Advertise, strings.TrimSpace(token)))
	whoami := func() error {
		out, err := c.Kubectl(tokenConf, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		if err != nil || strings.TrimSpace(out) != "system:serviceaccount:default:probe" {
			return fmt.Errorf("token: %v: %s", err, out)
		}
		return nil
	}
	if err := whoami(); err != nil {
		t.Fatalf("the token does not authenticate before the incident: %v", err)
	}

	// The incident: every CA and leaf expired yesterday, but for the kept
	// leaves, valid for most of a year yet under the expired CA certificates.
	now := time.Now() // the real components' clock
	testpki.AgeKubeadmTree(t, c.Root, now.Add(-5*365*day), now.Add(-day))
	testpki.AgeKubeadmTree(t, c.Root, now.Add(-30*day), now.Add(300*day), testpki.AgeOnly(kept...))
	keptFiles := []string{layout.PKIDir + "/apiserver-etcd-client.crt", layout.PKIDir + "/front-proxy-client.crt", layout.PKIDir + "/sa.key", layout.PKIDir + "/sa.pub",
		layout.PKIDir + "/ca.key", layout.PKIDir + "/etcd/ca.key", layout.PKIDir + "/front-proxy-ca.key"}
	before := map[string]string{}
	for _, p := range keptFiles {
		before[p] = sha(t, c.Path(p))
	}
	// controller-manager.conf is a trust consumer (its CA data changes); its
	// client certificate and key must not.
	cmClient := clientCredentials(t, c.Path(layout.KubernetesDir+"/controller-manager.conf"))
	testbed.Eventually(t, "kubectl fails with an x509 error", 90*time.Second, func() error {
		out, err := c.Kubectl("admin.conf", "get", "namespaces")
		if err != nil && strings.Contains(out, "x509:") {
			return nil
		}
		return fmt.Errorf("kubectl: %v: %s", err, out)
	})

	// The rescue, as an operator types it.
	start := time.Now()
	out, err := c.InNS(bin, append([]string{"--root", c.Root, "rescue"}, c.RestartArgs()...)...)
	wall := time.Since(start)
	t.Logf("certrescue rescue:\n%s", out)
	if err != nil || !strings.Contains(out, "result: ok") {
		t.Fatalf("rescue failed: %v", err)
	}
	if !strings.Contains(out, "CA renewed on its key first (ca: expired") || !strings.Contains(out, "etcd-ca: expired") || !strings.Contains(out, "front-proxy-ca: expired") {
		t.Errorf("the plan does not say the three CAs are renewed first")
	}
	if err := c.Ready("admin.conf"); err != nil {
		t.Fatalf("after the rescue: %v", err)
	}
	t.Logf("FIGURE expired CAs to healthy plane: certrescue rescue took %.1fs of wall time, restarts and health gates included (goal: under 30s)", wall.Seconds())

	for _, p := range keptFiles {
		if sha(t, c.Path(p)) != before[p] {
			t.Errorf("%s changed: it was valid under the old CA certificate (or is a key)", p)
		}
	}
	if got := clientCredentials(t, c.Path(layout.KubernetesDir+"/controller-manager.conf")); got != cmClient {
		t.Error("controller-manager.conf's client certificate or key changed: it was valid under the old CA certificate")
	}
	for _, name := range kept {
		if strings.Contains(out, "\n        "+name+" ") {
			t.Errorf("the plan re-issues %s", name)
		}
	}
	if err := whoami(); err != nil {
		t.Errorf("the service-account token issued before the incident: %v", err)
	}
	if out, err := c.Kubectl("admin.conf", "create", "deployment", "web", "--image=registry.k8s.io/pause:3.10"); err != nil {
		t.Fatalf("create deployment: %v\n%s", err, out)
	}
	testbed.Eventually(t, "the controller-manager (its kept kubeconfig, the renewed CA) creates the ReplicaSet", 120*time.Second, func() error {
		out, err := c.Kubectl("admin.conf", "get", "replicasets", "-l", "app=web", "-o", "name")
		if err == nil && strings.Contains(out, "replicaset.apps/web-") {
			return nil
		}
		return fmt.Errorf("%v: %s", err, out)
	})
	renewedPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	renewed := base64.StdEncoding.EncodeToString(renewedPEM)
	if out, err := c.Kubectl("admin.conf", "-n", "kube-public", "get", "configmap", "cluster-info", "-o", "jsonpath={.data.kubeconfig}"); err != nil || !strings.Contains(out, renewed) {
		t.Errorf("cluster-info does not hold the renewed CA: %v\n%s", err, out)
	}
	out, err = c.Kubectl("admin.conf", "-n", "kube-system", "get", "configmap", "kube-apiserver-ca", "-o", "jsonpath={.data.ca-bundle\\.crt}")
	if err != nil || out != string(renewedPEM)+string(testpki.CertPEM(backup.Cert)) {
		t.Errorf("kube-apiserver-ca is not the renewed CA then the backup CA: %v\n%s", err, out)
	}
	kcheck := c.MustNS(c.Bins["kubeadm"], "certs", "check-expiration", "--rootfs", c.Root, "--config", "/kubeadm-chroot.yaml")
	t.Logf("kubeadm certs check-expiration:\n%s", kcheck)
	if strings.Contains(kcheck, "invalid") || strings.Count(kcheck, " 9y ") != 3 {
		t.Errorf("kubeadm finds an invalid certificate, or a CA not valid for ten years")
	}
}

// clientCredentials is a kubeconfig's client certificate and key, hashed.
func clientCredentials(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubeconfig.Parse(data, filepath.Dir(p), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(append(append([]byte{}, kc.ClientCert.Data...), kc.ClientKey.Data...))
	return hex.EncodeToString(s[:])
}

// TestHelperKubelet is not a test: the plane's start-kubelet.sh runs the
// test binary with it as the kubelet's stand-in, serving
// http://127.0.0.1:10248/healthz until it is killed.
func TestHelperKubelet(t *testing.T) {
	if os.Getenv("CARESCUE_KUBELET_STANDIN") == "" {
		t.Skip("run by the plane's restart.sh kubelet")
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	t.Fatal(http.ListenAndServe("127.0.0.1:10248", nil))
}

func sha(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
