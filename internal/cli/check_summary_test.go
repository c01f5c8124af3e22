package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/testpki"
	"sigs.k8s.io/yaml"
)

// fieldGuideNode writes the field guide's kind of node under root: cfssl
// names in /etc/kubernetes/ssl, one CA signing everything, the components as
// systemd units whose flags name the files, and admin.conf "fixed" with the
// guide's sed (its client certificate is the API server's copy in
// /etc/kubernetes/pki, step 4). It returns the API server's certificate and key.
func fieldGuideNode(t *testing.T, root string, apiNotAfter time.Time) *testpki.Leaf {
	t.Helper()
	ssl := filepath.Join(root, "etc/kubernetes/ssl")
	ca := testpki.MustCA(t, testpki.WithCN("kubernetes"))
	testpki.WriteCert(t, filepath.Join(ssl, "ca.pem"), ca.Cert)
	testpki.WriteKey(t, filepath.Join(ssl, "ca-key.pem"), ca.Signer)
	api := testpki.MustLeaf(t, ca, testpki.WithCN("kubernetes"), testpki.WithValidity(testpki.Epoch.AddDate(-1, 0, 0), apiNotAfter),
		testpki.WithDNS("kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"), testpki.WithIPs("10.0.0.1", "127.0.0.1", "10.254.0.1"))
	testpki.WriteCert(t, filepath.Join(ssl, "apiserver.pem"), api.Cert)
	testpki.WriteKey(t, filepath.Join(ssl, "apiserver-key.pem"), api.Key)
	// Step 4: cp apiserver.pem apiserver-key.pem /etc/kubernetes/pki/
	testpki.WriteCert(t, filepath.Join(root, "etc/kubernetes/pki/apiserver.pem"), api.Cert)
	testpki.WriteKey(t, filepath.Join(root, "etc/kubernetes/pki/apiserver-key.pem"), api.Key)
	admin := testpki.MustLeaf(t, ca, testpki.WithCN("admin"), testpki.WithOrg("system:masters"), testpki.WithUsage(x509.ExtKeyUsageClientAuth))
	testpki.WriteCert(t, filepath.Join(ssl, "admin.pem"), admin.Cert)
	testpki.WriteKey(t, filepath.Join(ssl, "admin-key.pem"), admin.Key)
	testpki.WriteFile(t, filepath.Join(root, "etc/kubernetes/admin.conf"), []byte(`apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority: /etc/kubernetes/ssl/ca.pem
    server: https://10.0.0.1:6443
  name: kubernetes
contexts:
- context:
    cluster: kubernetes
    user: admin
  name: admin@kubernetes
current-context: admin@kubernetes
users:
- name: admin
  user:
    client-certificate: /etc/kubernetes/pki/apiserver.pem
    client-key: /etc/kubernetes/ssl/admin-key.pem
`), 0o600)
	testpki.WriteFile(t, filepath.Join(root, "etc/systemd/system/kube-apiserver.service"), []byte(`[Unit]
Description=Kubernetes API Server

[Service]
ExecStart=/usr/local/bin/kube-apiserver \
  --advertise-address=10.0.0.1 \
  --secure-port=6443 \
  --tls-cert-file=/etc/kubernetes/ssl/apiserver.pem \
  --tls-private-key-file=/etc/kubernetes/ssl/apiserver-key.pem \
  --client-ca-file=/etc/kubernetes/ssl/ca.pem \
  --service-cluster-ip-range=10.254.0.0/16
Restart=on-failure
`), 0o644)
	return api
}

var (
	rowSplit    = regexp.MustCompile(` {3,}`)
	findingLine = regexp.MustCompile(`^  (CRITICAL|WARNING|OK) (\S+) \[([a-z_]+)\]: `)
	summaryLine = regexp.MustCompile(`^(\d+) checked: (\d+) critical, (\d+) warning, (\d+) ok(?:, (\d+) unreachable)? \(`)
)

// checkTable is what check's table says: the status word of each row, the
// severity and name of each FINDINGS line, and the summary's counts.
type checkTable struct {
	rows     map[string]int      // status word -> rows
	rowWord  map[string][]string // result name -> status words of its rows
	findings map[string]int      // severity -> FINDINGS lines
	findOf   map[string][]string // result name -> severities of its findings
	summary  map[string]int      // "checked", "critical", "warning", "ok", "unreachable"
	nrows    int
}

func parseCheckTable(t *testing.T, out string) checkTable {
	t.Helper()
	ct := checkTable{rows: map[string]int{}, rowWord: map[string][]string{}, findings: map[string]int{}, findOf: map[string][]string{}, summary: map[string]int{}}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "CERTIFICATE ") {
		t.Fatalf("no table header:\n%s", out)
	}
	i := 1
	for ; i < len(lines) && lines[i] != ""; i++ {
		cells := rowSplit.Split(lines[i], -1)
		if len(cells) != 6 {
			t.Fatalf("row %q has %d cells, want 6", lines[i], len(cells))
		}
		word, _, _ := strings.Cut(cells[4], " ")
		ct.rows[word]++
		ct.rowWord[cells[0]] = append(ct.rowWord[cells[0]], word)
		ct.nrows++
	}
	found := false
	for ; i < len(lines); i++ {
		if m := findingLine.FindStringSubmatch(lines[i]); m != nil {
			ct.findings[m[1]]++
			ct.findOf[m[2]] = append(ct.findOf[m[2]], m[1])
		}
		if m := summaryLine.FindStringSubmatch(lines[i]); m != nil {
			found = true
			for j, k := range []string{"checked", "critical", "warning", "ok", "unreachable"} {
				ct.summary[k], _ = strconv.Atoi(m[j+1])
			}
		}
	}
	if !found {
		t.Fatalf("no summary line:\n%s", out)
	}
	return ct
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCheckSummaryAgreesWithItsLines parses check's table on several layouts
// and checks the summary says what the lines say: as many rows as "checked",
// each count the rows of that status word, each CRITICAL or WARNING row with
// a finding line of its severity (and none worse), and -o json agreeing.
func TestCheckSummaryAgreesWithItsLines(t *testing.T) {
	tests := []struct {
		name  string
		build func(t *testing.T, root string) []string // extra check flags
		want  map[string]int                           // rows that must be there, by status word
	}{
		{name: "a healthy kubeadm node", want: map[string]int{"OK": 18},
			build: func(t *testing.T, root string) []string {
				testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
				return nil
			}},
		{name: "a kubeadm node with an expired, an expiring, a garbage and a looping file and a loose key",
			want: map[string]int{"CRITICAL": 3, "WARNING": 2},
			build: func(t *testing.T, root string) []string {
				testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
				testpki.AgeKubeadmTree(t, root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.Add(-time.Hour), testpki.AgeOnly("apiserver"))
				testpki.AgeKubeadmTree(t, root, testpki.Epoch.AddDate(-1, 0, 0), testpki.Epoch.AddDate(0, 0, 20), testpki.AgeOnly("scheduler.conf"))
				pki := filepath.Join(root, "etc/kubernetes/pki")
				if err := os.Chmod(filepath.Join(pki, "etcd/server.key"), 0o644); err != nil {
					t.Fatal(err)
				}
				testpki.WriteFile(t, filepath.Join(pki, "apiserver-kubelet-client.crt"), []byte("garbage\n"), 0o644)
				link := filepath.Join(pki, "front-proxy-client.crt")
				if err := os.Remove(link); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink("front-proxy-client.crt", link); err != nil {
					t.Fatal(err)
				}
				return nil
			}},
		{name: "the field guide's node after its sed, the API server expiring", want: map[string]int{"CRITICAL": 2, "OK": 1},
			build: func(t *testing.T, root string) []string {
				fieldGuideNode(t, root, testpki.Epoch.AddDate(0, 0, 3))
				return nil
			}},
		{name: "endpoints: one serving another certificate, one not answering", want: map[string]int{"WARNING": 2},
			build: func(t *testing.T, root string) []string {
				tr := testpki.KubeadmTree(t, root, testpki.TreeOptions{Manifests: true})
				other := testpki.MustLeaf(t, tr.CAs["ca"], testpki.WithCN("kube-apiserver"), testpki.WithIPs("127.0.0.1"))
				served := testpki.ServeTLS(t, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{other.Cert.Raw}, PrivateKey: other.Key}}})
				return []string{"--endpoint", served + "=/etc/kubernetes/pki/apiserver.crt",
					"--endpoint", closedPort(t) + "=/etc/kubernetes/pki/etcd/server.crt", "--endpoint-timeout", "5s"}
			}},
		{name: "a directory of loose files, no node scan", want: map[string]int{"CRITICAL": 2, "OK": 1},
			build: func(t *testing.T, root string) []string {
				dir := filepath.Join(root, "srv/certs")
				ca := testpki.MustCA(t)
				testpki.WriteCert(t, filepath.Join(dir, "ca.crt"), ca.Cert)
				old := testpki.MustLeaf(t, ca, testpki.WithValidity(testpki.Epoch.AddDate(-2, 0, 0), testpki.Epoch.AddDate(-1, 0, 0)))
				testpki.WriteCert(t, filepath.Join(dir, "old.crt"), old.Cert)
				testpki.WriteFile(t, filepath.Join(dir, "broken.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644)
				return []string{"--scan-node=false", "--dir", "/srv/certs"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			args := tt.build(t, root)
			r := checkAt(t, root, nil, args...)
			if r.code == ExitUsage {
				t.Fatalf("exit 3: %s", r.stderr)
			}
			ct := parseCheckTable(t, r.stdout)
			if ct.summary["checked"] != ct.nrows {
				t.Errorf("summary says %d checked, the table has %d rows", ct.summary["checked"], ct.nrows)
			}
			for _, k := range []string{"critical", "warning", "ok", "unreachable"} {
				if got, rows := ct.summary[k], ct.rows[strings.ToUpper(k)]; got != rows {
					t.Errorf("summary says %d %s, the table has %d %s rows", got, k, rows, strings.ToUpper(k))
				}
			}
			sum := 0
			for _, n := range ct.rows {
				sum += n
			}
			if sum != ct.nrows {
				t.Errorf("rows with a status word other than CRITICAL, WARNING, OK, UNREACHABLE: %v", ct.rows)
			}
			for word, n := range tt.want {
				if ct.rows[word] < n {
					t.Errorf("%d %s rows, want at least %d (the layout is not what the test meant):\n%s", ct.rows[word], word, n, r.stdout)
				}
			}
			for name, words := range ct.rowWord {
				for _, w := range words {
					sev := ct.findOf[name]
					switch {
					case (w == "CRITICAL" || w == "WARNING") && !strings.Contains(strings.Join(sev, " "), w):
						t.Errorf("row %s is %s but no FINDINGS line of that severity names it (%v)", name, w, sev)
					case w == "WARNING" && strings.Contains(strings.Join(sev, " "), "CRITICAL") && len(words) == 1:
						t.Errorf("row %s is WARNING but a CRITICAL finding names it", name)
					case (w == "OK" || w == "UNREACHABLE") && len(sev) > 0 && len(words) == 1:
						t.Errorf("row %s is %s but has findings %v", name, w, sev)
					}
				}
			}
			wantCode := ExitOK
			if ct.summary["critical"] > 0 {
				wantCode = ExitCritical
			} else if ct.summary["warning"] > 0 {
				wantCode = ExitFailure
			}
			if r.code != wantCode {
				t.Errorf("exit %d, but the summary (%v) means %d", r.code, ct.summary, wantCode)
			}

			j := checkAt(t, root, nil, append(args, "-o", "json")...)
			var rep struct {
				Counts  map[string]int
				Results []struct {
					Status   string
					Findings []struct{ Severity string }
				}
			}
			if err := json.Unmarshal([]byte(j.stdout), &rep); err != nil {
				t.Fatalf("-o json: %v\n%s", err, j.stdout)
			}
			if len(rep.Results) != ct.nrows {
				t.Errorf("-o json has %d results, the table %d rows", len(rep.Results), ct.nrows)
			}
			bySev, counted := map[string]int{}, 0
			for _, res := range rep.Results {
				for _, f := range res.Findings {
					bySev[strings.ToUpper(f.Severity)]++
				}
			}
			for _, n := range rep.Counts {
				counted += n
			}
			if fmt.Sprint(bySev) != fmt.Sprint(ct.findings) || counted != ct.findings["CRITICAL"]+ct.findings["WARNING"]+ct.findings["OK"] {
				t.Errorf("findings: JSON %v (counts total %d), table %v", bySev, counted, ct.findings)
			}
		})
	}
}

// TestCheckSummaryCountsAnUnreachableEndpointAsSuch: a default endpoint that
// does not answer is a note, not a finding; its row says UNREACHABLE, and so
// must the summary (it used to count it as ok).
func TestCheckSummaryCountsAnUnreachableEndpointAsSuch(t *testing.T) {
	rep := &evaluation.Report{Now: testpki.Epoch, Results: []evaluation.Result{
		{Name: "apiserver", Kind: inventory.KindCertificate, Path: "/etc/kubernetes/pki/apiserver.crt"},
		{Name: "127.0.0.1:6443", Kind: inventory.KindServed, Path: "127.0.0.1:6443", Notes: []string{"not reachable: connection refused"},
			Served: &inventory.ServedFacts{Addr: "127.0.0.1:6443", Err: errors.New("connection refused")}},
	}}
	var b strings.Builder
	if err := printCheckTable(&b, rep, false); err != nil {
		t.Fatal(err)
	}
	ct := parseCheckTable(t, b.String())
	if ct.rows["UNREACHABLE"] != 1 || ct.summary["unreachable"] != 1 || ct.summary["ok"] != 1 || ct.summary["checked"] != 2 {
		t.Errorf("rows %v, summary %v:\n%s", ct.rows, ct.summary, b.String())
	}
}

// TestCheckJSONPrintsAnErrorObjectWhenItEndsWithoutAReport: a program that
// asked for -o json gets one JSON document on stdout even when check stops
// before the report, with the exit code in it; the message still goes to
// stderr; -q and the table print nothing on stdout.
func TestCheckJSONPrintsAnErrorObjectWhenItEndsWithoutAReport(t *testing.T) {
	node := t.TempDir()
	testpki.KubeadmTree(t, node, testpki.TreeOptions{})
	tests := []struct {
		name     string
		root     string
		args     []string
		want     string // in the error message
		wantYAML bool
		silent   bool
	}{
		{name: "a bad --warn", root: node, args: []string{"-o", "json", "--warn", "soon"}, want: "--warn"},
		{name: "an unknown flag before -o", root: node, args: []string{"--bogus", "-o", "json"}, want: "unknown flag: --bogus"},
		{name: "an unknown flag after --output=json", root: node, args: []string{"--output=json", "--bogus"}, want: "unknown flag: --bogus"},
		{name: "an argument", root: node, args: []string{"-ojson", "extra"}, want: "takes no arguments"},
		{name: "nothing to check under --root", root: t.TempDir(), args: []string{"-o", "json"}, want: "nothing to check"},
		{name: "a missing inventory file", root: node, args: []string{"-o", "json", "--inventory", "/nope.yaml"}, want: "inventory file /nope.yaml"},
		{name: "yaml gets a YAML error object", root: node, args: []string{"-o", "yaml", "--critical", "90d"}, want: "--critical 90d", wantYAML: true},
		{name: "--quiet prints nothing", root: node, args: []string{"-o", "json", "-q", "--warn", "soon"}, silent: true},
		{name: "the table prints nothing on stdout", root: node, args: []string{"--warn", "soon"}, silent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkAt(t, tt.root, nil, tt.args...)
			if r.code != ExitUsage {
				t.Fatalf("exit %d, want 3\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "certrescue: ") {
				t.Errorf("no message on stderr: %q", r.stderr)
			}
			if tt.silent {
				if r.stdout != "" {
					t.Errorf("stdout %q, want nothing", r.stdout)
				}
				return
			}
			var obj struct {
				Error    string `json:"error"`
				ExitCode int    `json:"exitCode"`
			}
			var err error
			if tt.wantYAML {
				err = yaml.UnmarshalStrict([]byte(r.stdout), &obj)
			} else {
				dec := json.NewDecoder(strings.NewReader(r.stdout))
				dec.DisallowUnknownFields()
				err = dec.Decode(&obj)
				if err == nil && dec.More() {
					err = fmt.Errorf("more than one document")
				}
			}
			if err != nil {
				t.Fatalf("stdout is not one error object: %v\n%s", err, r.stdout)
			}
			if obj.ExitCode != ExitUsage || !strings.Contains(obj.Error, tt.want) {
				t.Errorf("error object %+v, want exit 3 and %q", obj, tt.want)
			}
		})
	}
}
