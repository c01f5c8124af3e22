package reload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testbed"
)

// measured compares one measurement with the table's row and prints it for
// docs/reload.md.
func measured(t *testing.T, component, flag, kind string, use reload.Use, took time.Duration, how string) {
	t.Helper()
	e, ok := reload.Lookup(component, flag, kind)
	if !ok {
		t.Fatalf("internal/reload's table has no row for %s --%s (%s)", component, flag, kind)
	}
	measuredRows.Store(e.Component+"/"+e.What, true)
	fmt.Printf("MEASURE component=%s credential=%q use=%s took=%.2fs how=%q\n", component, e.What, use, took.Seconds(), how)
	t.Logf("MEASURE %s %s: %s, %.2fs (%s)", component, e.What, use, took.Seconds(), how)
	if e.Use != use {
		t.Errorf("the table says %s %s %s; measured on %s: %s", component, e.What, e.Use, testbed.K8sVersion, use)
	}
	if use != reload.Restart && took > e.Within {
		t.Errorf("%s took up its %s in %s, the table says within %s", component, e.What, took, e.Within)
	}
}

// measuredRows are the table's rows TestReloadTable measured.
var measuredRows sync.Map

// TestTheTableIsOfTheTestbedsVersions: a version bump of the testbed must
// be measured again (TestReloadTable) before the table says it is so.
func TestTheTableIsOfTheTestbedsVersions(t *testing.T) {
	if reload.Measured.Kubernetes != testbed.K8sVersion || reload.Measured.Etcd != testbed.EtcdVersion {
		t.Errorf("internal/reload's table was measured on Kubernetes %s and etcd %s; the testbed runs %s and %s: run TestReloadTable on them and update reload.Measured",
			reload.Measured.Kubernetes, reload.Measured.Etcd, testbed.K8sVersion, testbed.EtcdVersion)
	}
}

// until polls f every 100ms for at most limit and returns how long it took
// to pass, or limit and false.
func until(limit time.Duration, f func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if f() {
			return time.Since(start), true
		}
		if time.Since(start) > limit {
			return limit, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func servesCert(p *testbed.KubeadmPlane, addr string, want *x509.Certificate) func() bool {
	return func() bool {
		got, err := served(p, addr)
		return err == nil && got.Equal(want)
	}
}

func lastIs(r *recorder, since time.Time, serial *big.Int) bool {
	hs := r.since(since)
	return len(hs) > 0 && hs[len(hs)-1].serial != nil && hs[len(hs)-1].serial.Cmp(serial) == 0
}

// selfReview asks the API server who a client is: the user it authenticated.
func selfReview(p *testbed.KubeadmPlane, client tls.Certificate, header map[string]string) (string, error) {
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(p.Path(layout.PKIDir + "/ca.crt"))
	pool.AppendCertsFromPEM(ca)
	req, err := http.NewRequest(http.MethodPost, "https://"+testbed.Advertise+":6443/apis/authentication.k8s.io/v1/selfsubjectreviews",
		strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := nsClient(p, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var r struct {
		Status struct {
			UserInfo struct{ Username string } `json:"userInfo"`
		} `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return "", fmt.Errorf("%d: %w", resp.StatusCode, err)
	}
	return r.Status.UserInfo.Username, nil
}

func tlsPair(c *x509.Certificate, key any) tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key}
}

// clientOf is a kubeconfig's client certificate and key.
func clientOf(t *testing.T, path string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	kc, err := kubeconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := kc.ClientCertificates()
	if err != nil {
		t.Fatal(err)
	}
	key, err := kc.ClientPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0], pki.EncodeCertificatePEM(certs[0].Raw), keyPEM
}

// TestReloadTable measures each row of internal/reload's table on the real
// components and fails when the table says otherwise.
func TestReloadTable(t *testing.T) {
	pk := func(f string) string { return layout.PKIDir + "/" + f }
	p := testbed.NewKubeadmPlane(t, testbed.PlaneOptions{
		Kubelet: []string{"env", "RELOAD_KUBELET_STANDIN=1", os.Args[0], "-test.run=^TestHelperKubelet$"},
		Extra: map[string][]string{
			// The aggregator proxies to endpoints (no kube-proxy here); the
			// API server reaches etcd through the test's recording proxy.
			layout.KubeAPIServer: {"--enable-aggregator-routing=true", "--etcd-servers=https://127.0.0.1:12379"},
		},
	})
	ca, etcdCA, fpCA := loadCA(t, p, "ca"), loadCA(t, p, "etcd/ca"), loadCA(t, p, "front-proxy-ca")
	localhost := []net.IP{net.ParseIP("127.0.0.1")}
	// Serving certificates for the controller-manager and the scheduler
	// (kubeadm's let them make their own in memory).
	for _, c := range []struct{ comp, name string }{{layout.KubeControllerManager, "cm"}, {layout.KubeScheduler, "sched"}} {
		issue(t, p, ca, c.comp, nil, x509.ExtKeyUsageServerAuth, localhost, pk(c.name+"-serving.crt"), pk(c.name+"-serving.key"))
		appendStart(t, p, c.comp, "--tls-cert-file="+p.Path(pk(c.name+"-serving.crt")), "--tls-private-key-file="+p.Path(pk(c.name+"-serving.key")))
	}
	// The super-admin's pair, for the proxies in front of the API server.
	_, saCert, saKey := clientOf(t, p.Path(layout.KubernetesDir+"/super-admin.conf"))
	superCert, superKey := filepath.Join(p.Run, "super.crt"), filepath.Join(p.Run, "super.key")
	for f, b := range map[string][]byte{superCert: saCert, superKey: saKey} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	etcdProxy := newRecorder(t, p, "127.0.0.1:12379", pair(t, p.Path(pk("etcd/server.crt")), p.Path(pk("etcd/server.key"))))
	etcdProxy.backend = tlsBackend(p, "127.0.0.1:2379", p.Path(pk("etcd/ca.crt")), p.Path(pk("etcd/healthcheck-client.crt")), p.Path(pk("etcd/healthcheck-client.key")))
	etcdProxy.start()
	apiPair := pair(t, p.Path(pk("apiserver.crt")), p.Path(pk("apiserver.key")))
	apiBackend := tlsBackend(p, testbed.Advertise+":6443", p.Path(pk("ca.crt")), superCert, superKey)
	proxies := map[string]*recorder{}
	for comp, port := range map[string]string{layout.KubeControllerManager: "16443", layout.KubeScheduler: "16444"} {
		r := newRecorder(t, p, testbed.Advertise+":"+port, apiPair)
		r.backend = apiBackend
		proxies[comp] = r.start()
	}
	confs := map[string]string{layout.KubeControllerManager: "controller-manager.conf", layout.KubeScheduler: "scheduler.conf"}
	caPEM, _ := os.ReadFile(p.Path(pk("ca.crt")))
	// writeConf points a component's kubeconfig at its proxy, with its
	// client certificate embedded or in files beside it.
	writeConf := func(comp, kind string) {
		path := p.Path(layout.KubernetesDir + "/" + confs[comp])
		_, certPEM, keyPEM := clientOf(t, path)
		certFile, keyFile := "", ""
		if kind == reload.Files {
			certFile, keyFile = p.Path(pk(comp+"-client.crt")), p.Path(pk(comp+"-client.key"))
			replace(t, certFile, certPEM, 0o644)
			replace(t, keyFile, keyPEM, 0o600)
		}
		port := map[string]string{layout.KubeControllerManager: "16443", layout.KubeScheduler: "16444"}[comp]
		replace(t, path, []byte(kubeconfigYAML("https://"+testbed.Advertise+":"+port, caPEM, certPEM, keyPEM, certFile, keyFile, comp)), 0o600)
	}
	writeConf(layout.KubeControllerManager, reload.Embedded)
	writeConf(layout.KubeScheduler, reload.Files)
	p.Bootstrap()

	t.Run("kube-apiserver serving", func(t *testing.T) {
		c := reissue(t, p, ca, pk("apiserver.crt"))
		took, ok := until(time.Minute, servesCert(p, testbed.Advertise+":6443", c))
		measured(t, layout.KubeAPIServer, "tls-cert-file", "", useOf(ok, reload.Reloads), took, "a fresh connection to :6443 is served the new file")
	})
	t.Run("etcd server", func(t *testing.T) {
		c := reissue(t, p, etcdCA, pk("etcd/server.crt"))
		took, ok := until(time.Minute, servesCert(p, "127.0.0.1:2379", c))
		measured(t, layout.Etcd, "cert-file", "", useOf(ok, reload.PerConnection), took, "a fresh connection to :2379 is served the new file")
	})
	t.Run("etcd peer", func(t *testing.T) {
		c := reissue(t, p, etcdCA, pk("etcd/peer.crt"))
		took, ok := until(time.Minute, servesCert(p, testbed.Advertise+":2380", c))
		measured(t, layout.Etcd, "peer-cert-file", "", useOf(ok, reload.PerConnection), took, "a fresh connection to :2380 is served the new file")
	})
	for _, c := range []struct{ comp, name, addr string }{{layout.KubeControllerManager, "cm", "127.0.0.1:10257"}, {layout.KubeScheduler, "sched", "127.0.0.1:10259"}} {
		t.Run(c.comp+" serving", func(t *testing.T) {
			testbed.Eventually(t, c.comp+" serves its --tls-cert-file", time.Minute, func() error { return servesDisk(p, c.addr, pk(c.name+"-serving.crt")) })
			cert := reissue(t, p, ca, pk(c.name+"-serving.crt"))
			took, ok := until(time.Minute, servesCert(p, c.addr, cert))
			measured(t, c.comp, "tls-cert-file", "", useOf(ok, reload.Reloads), took, "a fresh connection to "+c.addr+" is served the new file")
		})
	}
	t.Run("kube-apiserver kubelet client", func(t *testing.T) {
		kubelet := newRecorder(t, p, testbed.Advertise+":10250", selfSignedPair(t, newCA(t, "kubelet-serving"))).start()
		node := fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q}}`, testbed.NodeName)
		mustKubectlStdin(t, p, node, "apply", "-f", "-")
		status := fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":%q}],"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}}}`, testbed.Advertise)
		if out, err := p.Kubectl("super-admin.conf", "patch", "node", testbed.NodeName, "--subresource=status", "--type=merge", "-p", status); err != nil {
			t.Fatalf("patch node status: %v\n%s", err, out)
		}
		get := func() {
			_, _ = p.Kubectl("super-admin.conf", "get", "--raw", "/api/v1/nodes/"+testbed.NodeName+"/proxy/healthz")
		}
		old, _ := diskCert(p, pk("apiserver-kubelet-client.crt"))
		get()
		if !lastIs(kubelet, time.Time{}, old.SerialNumber) {
			t.Fatalf("the node proxy did not reach the recording kubelet with the current certificate (%d handshakes)", len(kubelet.since(time.Time{})))
		}
		c := reissue(t, p, ca, pk("apiserver-kubelet-client.crt"))
		start := time.Now()
		took, ok := until(time.Minute, func() bool { get(); return lastIs(kubelet, start, c.SerialNumber) })
		measured(t, layout.KubeAPIServer, "kubelet-client-certificate", "", useOf(ok, reload.PerConnection), took, "each node proxy request opens a new connection to a recording kubelet")
	})
	t.Run("kube-apiserver front-proxy client", func(t *testing.T) {
		agg := newRecorder(t, p, testbed.Advertise+":8443", selfSignedPair(t, newCA(t, "aggregated-serving")))
		agg.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"probe.certrescue.io/v1","resources":[]}`)
		})
		agg.start()
		objs := fmt.Sprintf(`{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"v1","kind":"Service","metadata":{"name":"probe","namespace":"default"},"spec":{"ports":[{"port":443,"targetPort":8443}]}},
{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"probe-1","namespace":"default","labels":{"kubernetes.io/service-name":"probe"}},"addressType":"IPv4","endpoints":[{"addresses":[%q]}],"ports":[{"port":8443,"protocol":"TCP","name":""}]},
{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"probe","namespace":"default"},"subsets":[{"addresses":[{"ip":%q}],"ports":[{"port":8443}]}]},
{"apiVersion":"apiregistration.k8s.io/v1","kind":"APIService","metadata":{"name":"v1.probe.certrescue.io"},"spec":{"group":"probe.certrescue.io","version":"v1","service":{"namespace":"default","name":"probe","port":443},"insecureSkipTLSVerify":true,"groupPriorityMinimum":1000,"versionPriority":15}}]}`, testbed.Advertise, testbed.Advertise)
		mustKubectlStdin(t, p, objs, "apply", "-f", "-")
		get := func() error {
			out, err := p.Kubectl("super-admin.conf", "get", "--raw", "/apis/probe.certrescue.io/v1")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		}
		testbed.Eventually(t, "the aggregated API answers through the API server", 2*time.Minute, get)
		c := reissue(t, p, fpCA, pk("front-proxy-client.crt"))
		start := time.Now()
		took, ok := until(time.Minute, func() bool { _ = get(); return lastIs(agg, start, c.SerialNumber) })
		measured(t, layout.KubeAPIServer, "proxy-client-cert-file", "", useOf(ok, reload.Reloads), took, "a request through the aggregator presents it to a recording aggregated API server")
	})
	t.Run("kube-apiserver etcd client", func(t *testing.T) {
		c := reissue(t, p, etcdCA, pk("apiserver-etcd-client.crt"))
		written := time.Now()
		time.Sleep(3 * time.Second) // open connections: do they move by themselves? (reported, not asserted)
		moved := lastIs(etcdProxy, written, c.SerialNumber)
		start := time.Now()
		etcdProxy.closeAll() // the connection breaks, as when etcd restarts or the network blips
		// What counts is what the first new connection presents; when it
		// comes is the gRPC client's reconnect back-off, reported.
		reconnect, ok := until(2*time.Minute, func() bool { return len(etcdProxy.since(start)) > 0 })
		use := reload.Restart
		if hs := etcdProxy.since(start); ok && hs[0].serial != nil && hs[0].serial.Cmp(c.SerialNumber) == 0 {
			use = reload.PerConnection
		}
		measured(t, layout.KubeAPIServer, "etcd-certfile", "", use, 0,
			fmt.Sprintf("after the recording proxy dropped its connections, the first reconnect (%.1fs later: gRPC's back-off) presents it; open connections moved by themselves within 3s: %v", reconnect.Seconds(), moved))
		testbed.Eventually(t, "the API server is ready again", time.Minute, func() error { return p.Ready("admin.conf") })
	})
	t.Run("kube-apiserver client CA", func(t *testing.T) {
		orig, _ := os.ReadFile(p.Path(pk("ca.crt")))
		extra := newCA(t, "reload-client-ca")
		replace(t, p.Path(pk("ca.crt")), append(append([]byte{}, orig...), pki.EncodeCertificatePEM(extra.Cert.Raw)...), 0o644)
		defer replace(t, p.Path(pk("ca.crt")), orig, 0o644)
		leaf, key := issue(t, p, extra, "reload-probe", nil, x509.ExtKeyUsageClientAuth, nil, "", "")
		took, ok := until(time.Minute, func() bool { u, _ := selfReview(p, tlsPair(leaf, key), nil); return u == "reload-probe" })
		measured(t, layout.KubeAPIServer, "client-ca-file", "", useOf(ok, reload.Reloads), took, "a client certificate of a CA added to the bundle authenticates")
	})
	t.Run("kube-apiserver requestheader CA", func(t *testing.T) {
		orig, _ := os.ReadFile(p.Path(pk("front-proxy-ca.crt")))
		extra := newCA(t, "reload-front-proxy-ca")
		replace(t, p.Path(pk("front-proxy-ca.crt")), append(append([]byte{}, orig...), pki.EncodeCertificatePEM(extra.Cert.Raw)...), 0o644)
		defer replace(t, p.Path(pk("front-proxy-ca.crt")), orig, 0o644)
		leaf, key := issue(t, p, extra, "front-proxy-client", nil, x509.ExtKeyUsageClientAuth, nil, "", "")
		took, ok := until(time.Minute, func() bool {
			u, _ := selfReview(p, tlsPair(leaf, key), map[string]string{"X-Remote-User": "reload-rh"})
			return u == "reload-rh"
		})
		measured(t, layout.KubeAPIServer, "requestheader-client-ca-file", "", useOf(ok, reload.Reloads), took, "a front proxy of a CA added to the bundle is trusted")
	})
	kubeconfigs := func(kinds map[string]string) {
		for _, comp := range []string{layout.KubeControllerManager, layout.KubeScheduler} {
			kind := kinds[comp]
			t.Run(comp+" kubeconfig "+kind, func(t *testing.T) {
				r := proxies[comp]
				testbed.Eventually(t, comp+" talks to the API server through its proxy", time.Minute, func() error {
					if len(r.since(time.Time{})) == 0 {
						return fmt.Errorf("no handshake yet")
					}
					return nil
				})
				path := p.Path(layout.KubernetesDir + "/" + confs[comp])
				oldCert, _, keyPEM := clientOf(t, path)
				tmplCA := ca
				renewed := reissueCert(t, tmplCA, oldCert)
				certPEM := pki.EncodeCertificatePEM(renewed.Raw)
				if kind == reload.Files {
					replace(t, p.Path(pk(comp+"-client.crt")), certPEM, 0o644)
				} else {
					port := map[string]string{layout.KubeControllerManager: "16443", layout.KubeScheduler: "16444"}[comp]
					replace(t, path, []byte(kubeconfigYAML("https://"+testbed.Advertise+":"+port, caPEM, certPEM, keyPEM, "", "", comp)), 0o600)
				}
				start := time.Now()
				r.closeAll()
				if kind == reload.Embedded {
					time.Sleep(15 * time.Second) // what new connections present for a while
					hs := r.since(start)
					moved := false
					for _, h := range hs {
						if h.serial != nil && h.serial.Cmp(renewed.SerialNumber) == 0 {
							moved = true
						}
					}
					use := reload.Restart
					if len(hs) == 0 {
						t.Fatalf("%s opened no new connection in 15s after its connections were dropped", comp)
					}
					if moved {
						use = reload.PerConnection
					}
					measured(t, comp, "kubeconfig", reload.Embedded, use, 15*time.Second, fmt.Sprintf("%d new connections in 15s after the proxy dropped them, all presenting the certificate read at start: %v", len(hs), !moved))
					return
				}
				reconnect, ok := until(time.Minute, func() bool { return len(r.since(start)) > 0 })
				use := reload.Restart
				if hs := r.since(start); ok && hs[0].serial != nil && hs[0].serial.Cmp(renewed.SerialNumber) == 0 {
					use = reload.PerConnection
				}
				measured(t, comp, "kubeconfig", reload.Files, use, 0, fmt.Sprintf("after the proxy dropped its connections, the first reconnect (%.1fs later) presents the renewed file", reconnect.Seconds()))
			})
		}
	}
	kubeconfigs(map[string]string{layout.KubeControllerManager: reload.Embedded, layout.KubeScheduler: reload.Files})
	// And the other way round.
	writeConf(layout.KubeControllerManager, reload.Files)
	writeConf(layout.KubeScheduler, reload.Embedded)
	for _, comp := range []string{layout.KubeControllerManager, layout.KubeScheduler} {
		p.MustNS("sh", "-c", p.RestartCommand(comp))
	}
	kubeconfigs(map[string]string{layout.KubeControllerManager: reload.Files, layout.KubeScheduler: reload.Embedded})
	for _, e := range reload.Table {
		if _, ok := measuredRows.Load(e.Component + "/" + e.What); !ok {
			t.Errorf("the table's row %s %s was not measured", e.Component, e.What)
		}
	}
}

func useOf(ok bool, yes reload.Use) reload.Use {
	if ok {
		return yes
	}
	return reload.Restart
}

// reissueCert is reissue for a certificate held in memory.
func reissueCert(t *testing.T, ca *pki.CA, old *x509.Certificate) *x509.Certificate {
	t.Helper()
	tmpl := renewal.TemplateFrom(old)
	now := time.Now() // the real components' clock
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(365*24*time.Hour)
	c, err := pki.Sign(ca, tmpl, old.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func selfSignedPair(t *testing.T, ca *pki.CA) tls.Certificate {
	t.Helper()
	return tls.Certificate{Certificate: [][]byte{ca.Cert.Raw}, PrivateKey: ca.Signer}
}

func mustKubectlStdin(t *testing.T, p *testbed.KubeadmPlane, stdin string, args ...string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "in.json")
	if err := os.WriteFile(f, []byte(stdin), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if a == "-" {
			args[i] = f
		}
	}
	if out, err := p.Kubectl("super-admin.conf", args...); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// appendStart adds flags to a component's start script (before it starts).
func appendStart(t *testing.T, p *testbed.KubeadmPlane, comp string, flags ...string) {
	t.Helper()
	path := filepath.Join(p.Run, "start-"+comp+".sh")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = append(bytes.TrimRight(b, "\n"), []byte(" "+strings.Join(flags, " ")+"\n")...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
