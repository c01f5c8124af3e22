package inventory

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/testpki"
)

func scan(t *testing.T, root string, sources ...Source) map[string]Item {
	t.Helper()
	if len(sources) == 0 {
		sources = Sources()
	}
	items, err := Scan(context.Background(), NewReader(root), sources...)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	out := map[string]Item{}
	for _, it := range items {
		k := it.Name
		if _, dup := out[k]; dup {
			k = it.Name + "@" + it.Path
		}
		out[k] = it
	}
	return out
}

func names(m map[string]Item) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestScanFindsEveryCredentialOfAKubeadmNode(t *testing.T) {
	root := t.TempDir()
	testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
	got := scan(t, root)
	want := []string{"admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "ca",
		"controller-manager.conf", "etcd-ca", "etcd-healthcheck-client", "etcd-peer", "etcd-server",
		"front-proxy-ca", "front-proxy-client", "kubelet-client", "kubelet-serving", "kubelet.conf", "sa",
		"scheduler.conf", "super-admin.conf"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("items:\n got %v\nwant %v", names(got), want)
	}
	for name, it := range got {
		if len(it.Problems) > 0 {
			t.Errorf("%s: unexpected problems %v", name, it.Problems)
		}
		if it.Kind != KindKeyPair && len(it.Certs) == 0 {
			t.Errorf("%s: no certificates", name)
		}
		if it.Kind != KindKeyPair && it.Key == nil {
			t.Errorf("%s: no key", name)
		}
	}
	api := got["apiserver"]
	if !slices.Contains(api.Sources, "kubeadm") || len(api.Sources) < 2 {
		t.Errorf("apiserver sources = %v, want kubeadm and the manifest flag", api.Sources)
	}
	var sans []string
	for _, s := range api.ExpectSANs {
		sans = append(sans, s.Value)
	}
	if !slices.Contains(sans, "10.0.0.1") || !slices.Contains(sans, "10.96.0.1") {
		t.Errorf("apiserver expected SANs = %v, want the advertise address and the service IP", sans)
	}
	if api.CA.Path != "/etc/kubernetes/pki/ca.crt" || api.CA.Name != "ca" {
		t.Errorf("apiserver CA = %+v", api.CA)
	}
	kc := got["kubelet-client"]
	if !strings.HasPrefix(kc.Resolved, "/var/lib/kubelet/pki/kubelet-client-2") {
		t.Errorf("kubelet-client resolved to %q, want the dated file under the root", kc.Resolved)
	}
	admin := got["admin.conf"]
	if admin.Kubeconfig == nil || !admin.Kubeconfig.CertEmbedded || len(admin.Kubeconfig.CACerts) != 1 {
		t.Errorf("admin.conf kubeconfig facts = %+v", admin.Kubeconfig)
	}
	if admin.KeyMode != 0o600 || !admin.KeyModeSet {
		t.Errorf("admin.conf key mode = %o", admin.KeyMode)
	}
	if got["sa"].Key == nil || got["sa"].PubKey == nil {
		t.Errorf("sa pair not read: %+v", got["sa"])
	}
}

func TestScanOfAnEmptyRootFindsNothing(t *testing.T) {
	if got := scan(t, t.TempDir()); len(got) != 0 {
		t.Fatalf("items on an empty root: %v", names(got))
	}
}

func TestScanFollowsSystemdUnitsOfABinaryInstall(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	api := testpki.MustLeaf(t, ca, testpki.WithCN("kube-apiserver"))
	etcdCA := testpki.MustCA(t, testpki.WithCN("etcd-ca"))
	etcd := testpki.MustLeaf(t, etcdCA, testpki.WithCN("etcd"))
	ssl := filepath.Join(root, "etc/kubernetes/ssl")
	testpki.WriteCert(t, filepath.Join(ssl, "ca.pem"), ca.Cert)
	testpki.WriteKey(t, filepath.Join(ssl, "ca-key.pem"), ca.Signer)
	testpki.WriteCert(t, filepath.Join(ssl, "kubernetes.pem"), api.Cert)
	testpki.WriteKey(t, filepath.Join(ssl, "kubernetes-key.pem"), api.Key)
	testpki.WriteCert(t, filepath.Join(root, "etc/etcd/ssl/ca.pem"), etcdCA.Cert)
	testpki.WriteCert(t, filepath.Join(root, "etc/etcd/ssl/etcd.pem"), etcd.Cert)
	testpki.WriteKey(t, filepath.Join(root, "etc/etcd/ssl/etcd-key.pem"), etcd.Key)
	testpki.WriteFile(t, filepath.Join(root, "etc/systemd/system/kube-apiserver.service"), []byte(`[Unit]
Description=Kubernetes API Server

[Service]
Environment="TLS=--tls-cert-file=/etc/kubernetes/ssl/kubernetes.pem --tls-private-key-file=/etc/kubernetes/ssl/kubernetes-key.pem"
ExecStart=/usr/local/bin/kube-apiserver \
  --advertise-address=192.168.1.10 \
  $TLS \
  --client-ca-file=/etc/kubernetes/ssl/ca.pem \
  --service-cluster-ip-range=10.254.0.0/16
Restart=on-failure
`), 0o644)
	testpki.WriteFile(t, filepath.Join(root, "etc/systemd/system/etcd.service"), []byte(`[Service]
ExecStart=/usr/local/bin/etcd --name=etcd1 \
  --cert-file=/etc/etcd/ssl/etcd.pem --key-file=/etc/etcd/ssl/etcd-key.pem \
  --trusted-ca-file=/etc/etcd/ssl/ca.pem --client-cert-auth \
  --advertise-client-urls=https://192.168.1.10:2379
`), 0o644)
	got := scan(t, root)
	a, ok := got["apiserver"]
	if !ok {
		t.Fatalf("no apiserver item; items %v", names(got))
	}
	if a.Path != "/etc/kubernetes/ssl/kubernetes.pem" || a.KeyPath != "/etc/kubernetes/ssl/kubernetes-key.pem" || a.Key == nil {
		t.Errorf("apiserver item = %+v", a)
	}
	if a.CA.Path != "/etc/kubernetes/ssl/ca.pem" {
		t.Errorf("apiserver CA path = %q", a.CA.Path)
	}
	var sans []string
	for _, s := range a.ExpectSANs {
		sans = append(sans, s.Value)
	}
	if !slices.Equal(sans, []string{"192.168.1.10", "10.254.0.1"}) {
		t.Errorf("expected SANs = %v", sans)
	}
	e, ok := got["etcd-server"]
	if !ok || e.CA.Path != "/etc/etcd/ssl/ca.pem" || e.Key == nil {
		t.Errorf("etcd-server item = %+v (items %v)", e, names(got))
	}
	if _, ok := got["ca"]; !ok {
		t.Errorf("the client CA named by --client-ca-file is not an item: %v", names(got))
	}
}

func TestScanReportsBadFilesAsProblems(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	good := testpki.CertPEM(ca.Cert)
	dir := filepath.Join(root, "srv/certs")
	write := func(name string, data []byte) {
		testpki.WriteFile(t, filepath.Join(dir, name), data, 0o644)
	}
	write("truncated.crt", good[:len(good)/2])
	write("garbage.crt", []byte("this is not a certificate\x00\x01\x02"))
	write("empty.crt", nil)
	write("badblock.crt", []byte("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n"))
	huge := make([]byte, 5<<20)
	write("huge.crt", huge)
	if err := os.Symlink("loop2.crt", filepath.Join(dir, "loop1.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("loop1.crt", filepath.Join(dir, "loop2.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere/at/all.crt", filepath.Join(dir, "dangling.crt")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "adir.crt"), 0o755); err != nil {
		t.Fatal(err)
	}
	inv := &InventoryFile{Path: "test.yaml", Entries: []FileEntry{
		{Path: "/srv/certs/truncated.crt"}, {Path: "/srv/certs/garbage.crt"}, {Path: "/srv/certs/empty.crt"},
		{Path: "/srv/certs/badblock.crt"}, {Path: "/srv/certs/huge.crt"}, {Path: "/srv/certs/loop1.crt"},
		{Path: "/srv/certs/dangling.crt"}, {Path: "/srv/certs/adir.crt", Kind: "certificate"}, {Path: "/srv/certs/absent.crt"},
		{Path: "/srv/certs/truncated.crt", Kind: "kubeconfig", Name: "truncated-kubeconfig"},
	}}
	want := map[string]facts.Reason{
		"truncated": facts.ReasonMalformed, "garbage": facts.ReasonMalformed, "empty": facts.ReasonMalformed,
		"badblock": facts.ReasonMalformed, "huge": facts.ReasonMalformed, "loop1": facts.ReasonUnreadable,
		"dangling": facts.ReasonUnreadable, "adir": facts.ReasonUnreadable, "absent": facts.ReasonUnreadable,
		"truncated-kubeconfig": facts.ReasonMalformed,
	}
	got := scan(t, root, inv)
	for name, reason := range want {
		it, ok := got[name]
		if !ok {
			t.Errorf("%s: no item (items %v)", name, names(got))
			continue
		}
		if len(it.Problems) == 0 || it.Problems[0].Reason != reason {
			t.Errorf("%s: problems %v, want %s", name, it.Problems, reason)
			continue
		}
		if !strings.Contains(it.Problems[0].Error(), "/srv/certs/") {
			t.Errorf("%s: problem %q does not name the file", name, it.Problems[0].Error())
		}
	}
}

func TestScanReadsAFIFOWithoutBlocking(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "fifo.crt")
	if err := mkfifo(p); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	got := scan(t, root, &InventoryFile{Entries: []FileEntry{{Path: "/fifo.crt", Kind: "certificate"}}})
	if it := got["fifo"]; len(it.Problems) != 1 || it.Problems[0].Reason != facts.ReasonUnreadable {
		t.Fatalf("fifo: %+v", it.Problems)
	}
}

func TestAbsoluteSymlinksStayUnderTheRoot(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	testpki.WriteCert(t, filepath.Join(root, "real/ca.crt"), ca.Cert)
	if err := os.Symlink("/real", filepath.Join(root, "linked")); err != nil {
		t.Fatal(err)
	}
	got := scan(t, root, &InventoryFile{Entries: []FileEntry{{Path: "/linked/ca.crt"}}})
	it := got["ca"]
	if len(it.Problems) != 0 || len(it.Certs) != 1 || it.Resolved != "/real/ca.crt" {
		t.Fatalf("ca through an absolute symlink: %+v", it)
	}
}

func TestDirPairsCertificatesWithKeys(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	a := testpki.MustLeaf(t, ca)
	b := testpki.MustLeaf(t, ca)
	d := filepath.Join(root, "etc/pki/app")
	testpki.WriteCert(t, filepath.Join(d, "a.crt"), a.Cert)
	testpki.WriteKey(t, filepath.Join(d, "a.key"), a.Key)
	testpki.WriteCert(t, filepath.Join(d, "sub/b.pem"), b.Cert)
	testpki.WriteKey(t, filepath.Join(d, "sub/b-key.pem"), b.Key)
	testpki.WriteKey(t, filepath.Join(d, "lonely.pem"), b.Key)
	testpki.WriteFile(t, filepath.Join(d, "README"), []byte("not a cert"), 0o644)
	got := scan(t, root, Dir{Path: "/etc/pki/app"})
	if !slices.Equal(names(got), []string{"a", "lonely", "sub/b"}) {
		t.Fatalf("items %v", names(got))
	}
	if got["a"].Key == nil || got["sub/b"].Key == nil || got["sub/b"].KeyFile != "/etc/pki/app/sub/b-key.pem" {
		t.Errorf("keys not paired: a=%v b=%+v", got["a"].Key, got["sub/b"])
	}
	if l := got["lonely"]; l.Kind != KindKey || len(l.Problems) != 0 {
		t.Errorf("lonely key: %+v", l)
	}
}

func TestRancherLayout(t *testing.T) {
	root := t.TempDir()
	tls := filepath.Join(root, "var/lib/rancher/k3s/server/tls")
	clientCA := testpki.MustCA(t, testpki.WithCN("k3s-client-ca"))
	serverCA := testpki.MustCA(t, testpki.WithCN("k3s-server-ca"))
	admin := testpki.MustLeaf(t, clientCA, testpki.WithCN("system:admin"))
	serving := testpki.MustLeaf(t, serverCA, testpki.WithCN("kube-apiserver"))
	testpki.WriteCert(t, filepath.Join(tls, "client-ca.crt"), clientCA.Cert)
	testpki.WriteKey(t, filepath.Join(tls, "client-ca.key"), clientCA.Signer)
	testpki.WriteCert(t, filepath.Join(tls, "server-ca.crt"), serverCA.Cert)
	testpki.WriteCert(t, filepath.Join(tls, "client-admin.crt"), admin.Cert)
	testpki.WriteKey(t, filepath.Join(tls, "client-admin.key"), admin.Key)
	testpki.WriteCert(t, filepath.Join(tls, "serving-kube-apiserver.crt"), serving.Cert)
	testpki.WriteKey(t, filepath.Join(tls, "serving-kube-apiserver.key"), serving.Key)
	testpki.WriteKey(t, filepath.Join(tls, "service.key"), admin.Key)
	testpki.WriteCert(t, filepath.Join(tls, "temporary-certs/x.crt"), admin.Cert)
	got := scan(t, root)
	want := []string{"k3s/client-admin", "k3s/client-ca", "k3s/server-ca", "k3s/service.key", "k3s/serving-kube-apiserver"}
	if !slices.Equal(names(got), want) {
		t.Fatalf("items %v, want %v", names(got), want)
	}
	if got["k3s/client-admin"].CA.Path != "/var/lib/rancher/k3s/server/tls/client-ca.crt" || !got["k3s/client-ca"].IsCA {
		t.Errorf("roles: %+v %+v", got["k3s/client-admin"].CA, got["k3s/client-ca"])
	}
	if got["k3s/serving-kube-apiserver"].Role != "apiserver" {
		t.Errorf("serving-kube-apiserver role = %q", got["k3s/serving-kube-apiserver"].Role)
	}
}

func TestScanReadsTheKubeletConfiguration(t *testing.T) {
	root := t.TempDir()
	ca := testpki.MustCA(t)
	serving := testpki.MustLeaf(t, ca)
	testpki.WriteCert(t, filepath.Join(root, "etc/kubernetes/pki/ca.crt"), ca.Cert)
	testpki.WriteCert(t, filepath.Join(root, "srv/kubelet/serving.crt"), serving.Cert)
	testpki.WriteKey(t, filepath.Join(root, "srv/kubelet/serving.key"), serving.Key)
	testpki.WriteFile(t, filepath.Join(root, "var/lib/kubelet/config.yaml"), []byte(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
tlsCertFile: /srv/kubelet/serving.crt
tlsPrivateKeyFile: /srv/kubelet/serving.key
`), 0o644)
	got := scan(t, root)
	if s := got["kubelet-serving"]; s.Path != "/srv/kubelet/serving.crt" || s.Key == nil || len(s.Problems) != 0 {
		t.Errorf("kubelet-serving: %+v", s)
	}
	if c := got["ca"]; !c.IsCA || !slices.Contains(c.Sources, "kubeadm") || len(c.Sources) != 2 {
		t.Errorf("ca: %+v", c)
	}
}
