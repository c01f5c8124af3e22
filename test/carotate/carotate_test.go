package carotate

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/kubeconfig"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

var cas = []string{"ca", "front-proxy-ca", "etcd-ca"}

func TestRotateEveryCAOfARealPlane(t *testing.T) {
	// kubeadm's controller-manager signs with ca.crt (--cluster-signing-*),
	// which phases 1 and 2 make a bundle it would refuse: ca rotate points
	// the flag at ca-signing.crt meanwhile, and the plane's start script
	// reads the flag from the manifest at each restart, as the kubelet
	// would recreate the pod.
	c := testbed.NewKubeadmPlane(t, testbed.PlaneOptions{
		Kubelet: []string{"env", "CAROTATE_HELPER=kubelet", os.Args[0], "-test.run=^TestHelper$"}})
	bin := testbed.Certrescue(t)
	c.Bootstrap()
	data, err := os.ReadFile(c.Path(layout.ManifestsDir + "/" + layout.KubeControllerManager + ".yaml"))
	if err != nil || !strings.Contains(string(data), "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt") {
		t.Fatalf("the controller-manager's manifest has no stock signing flag: %v", err)
	}
	cmManifest = string(data)
	out, _ := c.InNS(bin, "--root", c.Root, "check")
	baseline = findings(out)
	t.Logf("check before the rotation finds %q", baseline)
	backup := clusterConfigMaps(t, c)
	token := serviceAccountToken(t, c)
	cl := startClient(t, c)

	runs := 1
	if n, err := strconv.Atoi(os.Getenv("CAROTATE_RUNS")); err == nil && n > 0 {
		runs = n
	}
	figs := map[int][]phaseFigure{}
	for run := 1; run <= runs; run++ {
		var extra []string
		if run > 1 {
			extra = append(extra, "--again")
		}
		for phase := 1; phase <= 3; phase++ {
			args := append([]string{"--root", c.Root, "ca", "rotate", "all", "--until", strconv.Itoa(phase), "--cross-sign", "--rotate-sa-key"}, extra...)
			start := time.Now()
			out, err := c.InNS(bin, append(args, c.RestartArgs()...)...)
			end := time.Now()
			t.Logf("run %d phase %d: certrescue %s\n%s", run, phase, strings.Join(args, " "), out)
			if err != nil || !strings.Contains(out, "result: ok") {
				t.Fatalf("run %d phase %d failed: %v", run, phase, err)
			}
			restarts := restartWindows(out, start, layout.Etcd, layout.KubeAPIServer)
			etcdW := restartWindows(out, start, layout.Etcd)
			reqs := cl.between(start, end)
			f := phaseFigure{wall: end.Sub(start), requests: len(reqs)}
			var outside []string
			inEtcd := 0
			for _, r := range reqs {
				if r.ok {
					continue
				}
				f.failed++
				if within(r.at, etcdW, 0) {
					inEtcd++
				}
				if !within(r.at, restarts, 2*time.Second) {
					outside = append(outside, fmt.Sprintf("%s: %s", r.at.Sub(start).Round(time.Millisecond), r.err))
				}
			}
			f.unavailable = unavailability(reqs)
			figs[phase] = append(figs[phase], f)
			t.Logf("FIGURE run %d phase %d: wall %.1fs, %d requests, %d failed (%d in etcd's restart and gate, the rest in the API server's), API unavailable %.1fs; etcd and kube-apiserver restarts and gates at %s",
				run, phase, f.wall.Seconds(), f.requests, f.failed, inEtcd, f.unavailable.Seconds(), describeWindows(restarts, start))
			if len(outside) > 0 {
				t.Errorf("run %d phase %d: %d requests failed outside etcd's and the API server's own restarts:\n  %s", run, phase, len(outside), strings.Join(outside, "\n  "))
			}
			extra = nil
		}
		checkRotated(t, c, bin, backup)
		if err := whoami(c, token); err != nil {
			t.Errorf("run %d: the service-account token issued before the rotation: %v", run, err)
		}
	}
	for phase := 1; phase <= 3; phase++ {
		t.Logf("FIGURE phase %d over %d runs: median wall %.1fs, median API unavailability %.1fs, failed requests %v",
			phase, len(figs[phase]), median(figs[phase], func(f phaseFigure) float64 { return f.wall.Seconds() }),
			median(figs[phase], func(f phaseFigure) float64 { return f.unavailable.Seconds() }), failedCounts(figs[phase]))
	}

	// Crashes: SIGKILL at each phase boundary (the new CAs made, nothing
	// deployed; phase 1 done; phase 2 done), and after phase 2's and phase
	// 3's deploys, before their restarts; every rerun continues.
	deployed := regexp.MustCompile(`(?m)^\[[ 0-9.]+s\] deploy .* ok .*replaced atomically`)
	kills := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ca rotate: ca: new CA made`),
		regexp.MustCompile(`(?m)^ca rotate: ca: phase 1 done`),
		deployed, // phase 2's
		regexp.MustCompile(`(?m)^ca rotate: ca: phase 2 done`),
		deployed, // phase 3's, after the rerun resumed phase 2's restarts
	}
	args := append([]string{"--root", c.Root, "ca", "rotate", "all", "--again"}, c.RestartArgs()...)
	for i, at := range kills {
		out := runAndKill(t, c, bin, args, at)
		t.Logf("crash %d: killed at %q:\n%s", i+1, at, out)
		args = append([]string{"--root", c.Root, "ca", "rotate", "all"}, c.RestartArgs()...)
		st, _ := c.InNS(bin, "--root", c.Root, "ca", "rotate", "all", "--status")
		t.Logf("status after crash %d:\n%s", i+1, st)
	}
	out, err = c.InNS(bin, args...)
	t.Logf("rerun after the crashes:\n%s", out)
	if err != nil || !strings.Contains(out, "every CA named is at least at: phase 3 done") {
		t.Fatalf("the rerun after the crashes did not end done: %v", err)
	}
	// Killed after phase 3's deploy: the files say done, the restarts are
	// not; the rerun resumes them.
	if !strings.Contains(out, "stopped after deploying every file; resuming its restarts") || !strings.Contains(out, "restart  kube-apiserver") {
		t.Errorf("the rerun after a kill past phase 3's deploy did not resume its restarts")
	}
	testbed.Eventually(t, "the plane is ready after the crashed rotation", 120*time.Second, func() error { return c.Ready("admin.conf") })
	checkRotated(t, c, bin, backup)
	cl.stop()
}

type phaseFigure struct {
	wall, unavailable time.Duration
	requests, failed  int
}

func median(fs []phaseFigure, v func(phaseFigure) float64) float64 {
	var xs []float64
	for _, f := range fs {
		xs = append(xs, v(f))
	}
	sort.Float64s(xs)
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)/2]
}

func failedCounts(fs []phaseFigure) []int {
	var out []int
	for _, f := range fs {
		out = append(out, f.failed)
	}
	return out
}

// checkRotated: every CA file, kubeconfig and cluster copy holds the new CA
// only; the front-proxy CA is in extension-apiserver-authentication;
// kubeadm finds nothing invalid; check is clean.
func checkRotated(t *testing.T, c *testbed.KubeadmPlane, bin string, backup *x509.Certificate) {
	t.Helper()
	newCA := map[string]*x509.Certificate{}
	for _, name := range cas {
		newCA[name] = readCert(t, c.Path("/var/lib/certrescue/ca-rotate/"+name+"/new-ca.crt"))[0]
		old := readCert(t, c.Path("/var/lib/certrescue/ca-rotate/"+name+"/old-ca.crt"))[0]
		role := roleOf(name)
		got := readCert(t, c.Path(role.CertPath))
		if len(got) != 1 || !got[0].Equal(newCA[name]) || got[0].Equal(old) {
			t.Errorf("%s: %s does not hold the new CA only (%d certificates)", name, role.CertPath, len(got))
		}
	}
	for _, kc := range []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf"} {
		data, err := os.ReadFile(c.Path(layout.KubernetesDir + "/" + kc))
		if err != nil {
			t.Fatal(err)
		}
		k, err := kubeconfig.Parse(data, "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(k.CA.Data) != string(testpki.CertPEM(newCA["ca"])) {
			t.Errorf("%s certificate-authority-data is not the new CA only", kc)
		}
	}
	out, err := c.Kubectl("admin.conf", "-n", "kube-system", "get", "configmap", "extension-apiserver-authentication", "-o", "jsonpath={.data.requestheader-client-ca-file}")
	if err != nil || !strings.Contains(out, string(testpki.CertPEM(newCA["front-proxy-ca"]))) {
		t.Errorf("extension-apiserver-authentication does not hold the new requestheader CA: %v\n%s", err, out)
	}
	newPEM := testpki.CertPEM(newCA["ca"])
	if out, err := c.Kubectl("admin.conf", "-n", "kube-public", "get", "configmap", "cluster-info", "-o", "jsonpath={.data.kubeconfig}"); err != nil ||
		!strings.Contains(out, base64.StdEncoding.EncodeToString(newPEM)) {
		t.Errorf("cluster-info does not hold the new CA only: %v\n%s", err, out)
	}
	if out, err := c.Kubectl("admin.conf", "-n", "kube-system", "get", "configmap", "kube-apiserver-ca", "-o", "jsonpath={.data.ca-bundle\\.crt}"); err != nil ||
		out != string(newPEM)+string(testpki.CertPEM(backup)) {
		t.Errorf("kube-apiserver-ca is not the new CA then the backup CA: %v\n%s", err, out)
	}
	kcheck := c.MustNS(c.Bins["kubeadm"], "certs", "check-expiration", "--rootfs", c.Root, "--config", "/kubeadm-chroot.yaml")
	if strings.Contains(kcheck, "invalid") {
		t.Errorf("kubeadm certs check-expiration finds an invalid certificate:\n%s", kcheck)
	}
	out, _ = c.InNS(bin, "--root", c.Root, "check")
	if got := findings(out); !slices.Equal(got, baseline) {
		t.Errorf("check after the rotation finds %q, before it %q:\n%s", got, baseline, out)
	}
	if data, _ := os.ReadFile(c.Path(layout.ManifestsDir + "/" + layout.KubeControllerManager + ".yaml")); string(data) != cmManifest {
		t.Errorf("the controller-manager's manifest is not back as it was:\n%s", data)
	}
	testbed.ControllerManagerSigns(t, func(args ...string) (string, error) { return c.Kubectl("admin.conf", args...) }, newCA["ca"])
}

// cmManifest is the controller-manager's manifest before the rotations.
var cmManifest string

// baseline is what check finds on the plane before any rotation (the plane
// has no bootstrap-kubelet.conf, which its kubelet unit names).
var baseline []string

// findings are the lines of check's FINDINGS section.
func findings(out string) []string {
	_, after, _ := strings.Cut(out, "FINDINGS\n")
	var fs []string
	for _, line := range strings.Split(after, "\n") {
		if strings.HasPrefix(line, "  CRITICAL") || strings.HasPrefix(line, "  WARNING") {
			fs = append(fs, strings.TrimSpace(line))
		}
	}
	return fs
}

func roleOf(name string) layout.Role {
	for _, r := range layout.Kubeadm {
		if r.Name == name {
			return r
		}
	}
	return layout.Role{}
}

func readCert(t *testing.T, p string) []*x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// clusterConfigMaps creates kubeadm's cluster-info and the field guide's
// kube-apiserver-ca (the CA and a backup CA); it returns the backup.
func clusterConfigMaps(t *testing.T, c *testbed.KubeadmPlane) *x509.Certificate {
	caPEM, err := os.ReadFile(c.Path(layout.PKIDir + "/ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(c.Run, "cluster-info.kubeconfig")
	write(t, info, fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: %s\n    server: https://%s:6443\n  name: \"\"\ncontexts: null\ncurrent-context: \"\"\npreferences: {}\nusers: null\n",
		base64.StdEncoding.EncodeToString(caPEM), testbed.Advertise))
	backup := testpki.MustCA(t, testpki.WithCN("backup-ca"))
	bundle := filepath.Join(c.Run, "ca-bundle.crt")
	write(t, bundle, string(caPEM)+string(testpki.CertPEM(backup.Cert)))
	for _, args := range [][]string{
		{"-n", "kube-public", "create", "configmap", "cluster-info", "--from-file=kubeconfig=" + info},
		{"-n", "kube-system", "create", "configmap", "kube-apiserver-ca", "--from-file=ca-bundle.crt=" + bundle},
		{"-n", "default", "create", "serviceaccount", "probe"},
	} {
		if out, err := c.Kubectl("admin.conf", args...); err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
	}
	return backup.Cert
}

// serviceAccountToken is a token issued before the rotation, in a
// kubeconfig that trusts the CA file of the node (whatever it holds).
func serviceAccountToken(t *testing.T, c *testbed.KubeadmPlane) string {
	token, err := c.Kubectl("admin.conf", "-n", "default", "create", "token", "probe", "--duration=48h")
	if err != nil {
		t.Fatalf("create token: %v\n%s", err, token)
	}
	conf := filepath.Join(c.Run, "token.kubeconfig")
	write(t, conf, fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority: %s\n    server: https://%s:6443\n  name: plane\ncontexts:\n- context:\n    cluster: plane\n    user: probe\n  name: probe\ncurrent-context: probe\nusers:\n- name: probe\n  user:\n    token: %s\n",
		c.Path(layout.PKIDir+"/ca.crt"), testbed.Advertise, strings.TrimSpace(token)))
	if err := whoami(c, conf); err != nil {
		t.Fatalf("the token does not authenticate before the rotation: %v", err)
	}
	return conf
}

func whoami(c *testbed.KubeadmPlane, conf string) error {
	out, err := c.Kubectl(conf, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
	if err != nil || strings.TrimSpace(out) != "system:serviceaccount:default:probe" {
		return fmt.Errorf("token: %v: %s", err, out)
	}
	return nil
}

// window is a restart of etcd or the API server and its gate, from the
// progress lines: "[ 12.30s] restart  kube-apiserver  ok  3.20s ...".
type window struct{ from, to time.Time }

var stepLine = regexp.MustCompile(`^\[\s*([0-9.]+)s\] (restart|gate)\s+(\S+)\s+(ok|FAILED|fail)\s+([0-9.]+)s`)

func restartWindows(out string, start time.Time, comps ...string) []window {
	var ws []window
	for _, line := range strings.Split(out, "\n") {
		m := stepLine.FindStringSubmatch(line)
		if m == nil || !slices.Contains(comps, m[3]) {
			continue
		}
		at, _ := strconv.ParseFloat(m[1], 64)
		took, _ := strconv.ParseFloat(m[5], 64)
		end := start.Add(time.Duration(at * float64(time.Second)))
		ws = append(ws, window{from: end.Add(-time.Duration(took * float64(time.Second))), to: end})
	}
	return ws
}

func describeWindows(ws []window, start time.Time) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%.1f-%.1fs", w.from.Sub(start).Seconds(), w.to.Sub(start).Seconds()))
	}
	return strings.Join(parts, ", ")
}

func within(at time.Time, ws []window, slack time.Duration) bool {
	for _, w := range ws {
		if !at.Before(w.from.Add(-slack)) && !at.After(w.to.Add(slack)) {
			return true
		}
	}
	return false
}

// unavailability is the time between the first and the last failed
// request of each run of failures, summed.
func unavailability(reqs []request) time.Duration {
	var total time.Duration
	var first *request
	for i := range reqs {
		r := &reqs[i]
		switch {
		case !r.ok && first == nil:
			first = r
		case r.ok && first != nil:
			total += r.at.Sub(first.at)
			first = nil
		}
	}
	if first != nil {
		total += reqs[len(reqs)-1].at.Sub(first.at)
	}
	return total
}

// runAndKill runs certrescue and SIGKILLs it when its output matches at.
func runAndKill(t *testing.T, c *testbed.KubeadmPlane, bin string, args []string, at *regexp.Regexp) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", c.NS.Name, bin}, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var out strings.Builder
	killed := false
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if !killed && at.MatchString(sc.Text()) {
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			killed = true
		}
	}
	<-done
	if !killed {
		t.Fatalf("certrescue ended before printing %q:\n%s", at, out.String())
	}
	return out.String()
}

// The client: a request every 100 ms inside the namespace.

type request struct {
	at  time.Time
	ok  bool
	err string
}

type client struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	once sync.Once
}

func startClient(t *testing.T, c *testbed.KubeadmPlane) *client {
	log := filepath.Join(c.Run, "client.log")
	cmd := exec.Command("ip", "netns", "exec", c.NS.Name, os.Args[0], "-test.run=^TestHelper$")
	cmd.Env = append(os.Environ(), "CAROTATE_HELPER=client", "CAROTATE_KUBECONFIG="+c.Path(layout.KubernetesDir+"/admin.conf"),
		"CAROTATE_SERVER=https://"+testbed.Advertise+":6443", "CAROTATE_LOG="+log)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cl := &client{t: t, cmd: cmd, log: log}
	t.Cleanup(cl.stop)
	testbed.Eventually(t, "the client's first request succeeds", 30*time.Second, func() error {
		for _, r := range cl.requests() {
			if r.ok {
				return nil
			}
		}
		return fmt.Errorf("no successful request in %s", log)
	})
	return cl
}

func (cl *client) stop() {
	cl.once.Do(func() {
		_ = cl.cmd.Process.Kill()
		_ = cl.cmd.Wait()
	})
}

func (cl *client) requests() []request {
	data, _ := os.ReadFile(cl.log)
	var out []request
	for _, line := range strings.Split(string(data), "\n") {
		ts, rest, ok := strings.Cut(line, " ")
		n, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, request{at: time.Unix(0, n), ok: rest == "ok", err: rest})
	}
	return out
}

func (cl *client) between(from, to time.Time) []request {
	var out []request
	for _, r := range cl.requests() {
		if !r.at.Before(from) && !r.at.After(to) {
			out = append(out, r)
		}
	}
	return out
}

// TestHelper is not a test: run by the plane, it is the kubelet's stand-in
// (CAROTATE_HELPER=kubelet: serves 127.0.0.1:10248/healthz) or the client
// (CAROTATE_HELPER=client: every 100 ms, reads the kubeconfig afresh, as
// kubectl does, and GETs the default namespace; logs each result).
func TestHelper(t *testing.T) {
	switch os.Getenv("CAROTATE_HELPER") {
	case "kubelet":
		http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
		t.Fatal(http.ListenAndServe("127.0.0.1:10248", nil))
	case "client":
		runClient(t)
	default:
		t.Skip("run by the plane")
	}
}

func runClient(t *testing.T) {
	f, err := os.OpenFile(os.Getenv("CAROTATE_LOG"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	url := os.Getenv("CAROTATE_SERVER") + "/api/v1/namespaces/default"
	tick := time.NewTicker(100 * time.Millisecond)
	for range tick.C {
		at := time.Now()
		res := "ok"
		if err := get(url, os.Getenv("CAROTATE_KUBECONFIG")); err != nil {
			res = "fail " + strings.ReplaceAll(err.Error(), "\n", " ")
		}
		fmt.Fprintf(f, "%d %s\n", at.UnixNano(), res)
	}
}

func get(url, conf string) error {
	data, err := os.ReadFile(conf)
	if err != nil {
		return err
	}
	k, err := kubeconfig.Parse(data, filepath.Dir(conf), nil)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(k.ClientCert.Data, k.ClientKey.Data)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(k.CA.Data) {
		return fmt.Errorf("no CA in %s", conf)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
