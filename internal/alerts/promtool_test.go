package alerts

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"

	"github.com/certrescue/certrescue/internal/testbed"
)

// promtool finds Debian's promtool (scripts/test-deps.d/30-prometheus.sh
// installs it); under make test its absence fails.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if testbed.Require() {
			t.Fatalf("promtool missing: apt-get install prometheus (scripts/test-deps.d/30-prometheus.sh)")
		}
		t.Skip("promtool not installed (scripts/test-deps.d/30-prometheus.sh installs it)")
	}
	return p
}

type series struct {
	Series string `json:"series"`
	Values string `json:"values"`
}

type expAlert struct {
	ExpLabels      map[string]string `json:"exp_labels"`
	ExpAnnotations map[string]string `json:"exp_annotations"`
}

type alertTest struct {
	EvalTime  string     `json:"eval_time"`
	Alertname string     `json:"alertname"`
	ExpAlerts []expAlert `json:"exp_alerts"`
}

// firing describes one expected alert: the series labels it carries and the
// value its annotations see.
type firing struct {
	alert  string
	labels map[string]string
	value  float64
}

// humanizeDuration is Prometheus's template function, for values of a
// second or more (the tests use no others).
func humanizeDuration(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	d := int64(v)
	s, m, h, days := d%60, (d/60)%60, (d/3600)%24, d/86400
	switch {
	case days != 0:
		return fmt.Sprintf("%s%dd %dh %dm %ds", sign, days, h, m, s)
	case h != 0:
		return fmt.Sprintf("%s%dh %dm %ds", sign, h, m, s)
	case m != 0:
		return fmt.Sprintf("%s%dm %ds", sign, m, s)
	}
	return fmt.Sprintf("%s%.4gs", sign, v)
}

// expand renders an annotation as Prometheus does (text/template with
// $labels and $value defined).
func expand(t *testing.T, text string, labels map[string]string, value float64) string {
	t.Helper()
	tmpl, err := template.New("a").Option("missingkey=zero").Funcs(template.FuncMap{"humanizeDuration": humanizeDuration}).
		Parse("{{$labels := .Labels}}{{$value := .Value}}" + text)
	if err != nil {
		t.Fatalf("annotation template %q: %v", text, err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, map[string]any{"Labels": labels, "Value": value}); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(b.String(), "<no value>", "")
}

func TestRulesPassPromtoolCheckAndUnitTests(t *testing.T) {
	bin := promtool(t)
	o := Defaults()
	rules, err := Rules(o)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Rule{}
	for _, r := range rules.Groups[0].Rules {
		byName[r.Alert] = r
	}
	const day = 86400
	evalAt := 30 * 60.0 // eval_time 30m, in seconds since the epoch promtool starts at
	file := func(p string, more map[string]string) map[string]string {
		l := map[string]string{"filepath": p, "filename": filepath.Base(p), "subject_CN": "cn-" + filepath.Base(p), "issuer_CN": "kubernetes",
			"serial_number": "42", "instance": "node1:9793", "job": "certrescue"}
		for k, v := range more {
			l[k] = v
		}
		return l
	}
	secret := map[string]string{"secret_namespace": "bank", "secret_name": "web-tls", "secret_key": "tls.crt",
		"subject_CN": "web.bank", "issuer_CN": "bank-ca", "serial_number": "7", "instance": "exporter:9793", "job": "certrescue"}
	kubelet := map[string]string{"instance": "node2:10250", "job": "kubelet"}
	type in struct {
		metric string
		labels map[string]string
		value  float64
	}
	inputs := []in{
		{"x509_cert_not_after", file("/etc/kubernetes/pki/apiserver.crt", nil), 20 * day},                                                               // expiring soon
		{"x509_cert_not_after", file("/etc/kubernetes/pki/etcd/server.crt", nil), 3 * day},                                                              // expiring critical
		{"x509_cert_not_after", file("/etc/kubernetes/admin.conf", map[string]string{"embedded_kind": "user", "embedded_key": "kubernetes-admin"}), 60}, // expired at 1m
		{"x509_cert_not_after", file("/etc/kubernetes/pki/ca.crt", nil), 3650 * day},                                                                    // healthy: silent everywhere
		{"x509_cert_not_after", secret, 25 * day},                                                                                                       // a Secret, expiring soon
		{"x509_cert_not_before", file("/etc/kubernetes/pki/front-proxy-client.crt", nil), 2 * day},                                                      // not yet valid
		{"x509_cert_not_before", file("/etc/kubernetes/pki/ca.crt", nil), 0},                                                                            // valid
		{"certrescue_finding", map[string]string{"reason": "san_missing", "severity": "critical", "filepath": "/etc/kubernetes/pki/apiserver.crt", "filename": "apiserver.crt", "subject_CN": "kube-apiserver", "instance": "node1:9793", "job": "certrescue"}, 1},
		{"certrescue_finding", map[string]string{"reason": "expiring", "severity": "warning", "filepath": "/etc/kubernetes/pki/apiserver.crt", "filename": "apiserver.crt", "subject_CN": "kube-apiserver", "instance": "node1:9793", "job": "certrescue"}, 1}, // left to the expiry rules
		{"x509_source_up", map[string]string{"source_kind": "kube-secret", "source_name": "secrets", "instance": "exporter:9793", "job": "certrescue"}, 0},
		{"x509_source_up", map[string]string{"source_kind": "node", "source_name": "node", "instance": "node1:9793", "job": "certrescue"}, 1},
		{"kubelet_certificate_manager_client_ttl_seconds", kubelet, 10 * day},
		{"kubelet_certificate_manager_server_ttl_seconds", map[string]string{"instance": "node3:10250", "job": "kubelet"}, 2 * day},
		{"kubelet_certificate_manager_server_ttl_seconds", map[string]string{"instance": "node4:10250", "job": "kubelet"}, 300 * day},
	}
	var ser []series
	for _, i := range inputs {
		ser = append(ser, series{Series: i.metric + promLabels(i.labels), Values: fmt.Sprintf("%gx60", i.value)})
	}
	// x509_source_errors_total grows on node1 and stays flat on node5.
	ser = append(ser,
		series{Series: `x509_source_errors_total{source_kind="node",source_name="node",reason="endpoint",instance="node1:9793",job="certrescue"}`, Values: "0+1x60"},
		series{Series: `x509_source_errors_total{source_kind="node",source_name="node",reason="endpoint",instance="node5:9793",job="certrescue"}`, Values: "3x60"})

	strip := func(l map[string]string, drop ...string) map[string]string {
		out := map[string]string{}
		for k, v := range l {
			out[k] = v
		}
		for _, d := range drop {
			delete(out, d)
		}
		return out
	}
	fires := map[string][]firing{
		"CertificateExpiringSoon": {
			{labels: file("/etc/kubernetes/pki/apiserver.crt", nil), value: 20*day - evalAt},
			{labels: secret, value: 25*day - evalAt},
		},
		"CertificateExpiringCritical":        {{labels: file("/etc/kubernetes/pki/etcd/server.crt", nil), value: 3*day - evalAt}},
		"CertificateExpired":                 {{labels: file("/etc/kubernetes/admin.conf", map[string]string{"embedded_kind": "user", "embedded_key": "kubernetes-admin"}), value: evalAt - 60}},
		"CertificateNotYetValid":             {{labels: file("/etc/kubernetes/pki/front-proxy-client.crt", nil), value: 2*day - evalAt}},
		"CertificateFinding":                 {{labels: inputs[7].labels, value: 1}},
		"CertificateSourceDown":              {{labels: inputs[9].labels, value: 0}},
		"CertificateSourceErrors":            {{labels: strip(inputs[0].labels, "filepath", "filename", "subject_CN", "issuer_CN", "serial_number"), value: 15}},
		"KubeletCertificateExpiringSoon":     {{labels: kubelet, value: 10 * day}},
		"KubeletCertificateExpiringCritical": {{labels: map[string]string{"instance": "node3:10250", "job": "kubelet"}, value: 2 * day}},
	}
	fires["CertificateSourceErrors"][0].labels["source_kind"] = "node"
	fires["CertificateSourceErrors"][0].labels["source_name"] = "node"
	fires["CertificateSourceErrors"][0].labels["reason"] = "endpoint"

	var tests []alertTest
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		r := byName[name]
		f, ok := fires[name]
		if !ok {
			t.Fatalf("no test case makes %s fire", name)
		}
		var exp []expAlert
		for _, fi := range f {
			labels := map[string]string{}
			for k, v := range fi.labels {
				labels[k] = v
			}
			for k, v := range r.Labels {
				labels[k] = v
			}
			ann := map[string]string{}
			for k, v := range r.Annotations {
				ann[k] = expand(t, v, fi.labels, fi.value)
			}
			exp = append(exp, expAlert{ExpLabels: labels, ExpAnnotations: ann})
		}
		// Before its "for" has elapsed a rule is pending, not firing.
		if r.For != "" {
			tests = append(tests, alertTest{EvalTime: "1m", Alertname: name})
		}
		tests = append(tests, alertTest{EvalTime: "30m", Alertname: name, ExpAlerts: exp})
	}
	dir := t.TempDir()
	rulesYAML, err := RulesYAML(o)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "rules.yaml"), rulesYAML)
	testYAML, err := yaml.Marshal(map[string]any{
		"rule_files":          []string{"rules.yaml"},
		"evaluation_interval": "1m",
		"tests":               []any{map[string]any{"interval": "1m", "input_series": ser, "alert_rule_test": tests}},
	})
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "rules_test.yaml"), testYAML)
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if t.Failed() {
		t.Logf("rules:\n%s\ntests:\n%s", rulesYAML, testYAML)
	}
}

func TestThePrometheusRuleManifestCarriesTheSameRules(t *testing.T) {
	bin := promtool(t)
	o := Defaults()
	o.WarningDays, o.CriticalDays = 45, 10
	o.ManifestLabels = map[string]string{"release": "kube-prometheus-stack"}
	m, err := ManifestYAML(o)
	if err != nil {
		t.Fatal(err)
	}
	var pr struct {
		Kind string `json:"kind"`
		Spec File   `json:"spec"`
	}
	if err := yaml.Unmarshal(m, &pr); err != nil || pr.Kind != "PrometheusRule" {
		t.Fatalf("not a PrometheusRule (%v):\n%s", err, m)
	}
	if !strings.Contains(pr.Spec.Groups[0].Rules[0].Expr, fmt.Sprint(45*86400)) {
		t.Errorf("thresholds not applied: %s", pr.Spec.Groups[0].Rules[0].Expr)
	}
	spec, _ := yaml.Marshal(pr.Spec)
	p := filepath.Join(t.TempDir(), "spec.yaml")
	write(t, p, spec)
	if out, err := exec.Command(bin, "check", "rules", p).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the manifest's spec: %v\n%s", err, out)
	}
}

func TestBadThresholdsAreRefused(t *testing.T) {
	for _, o := range []Options{{WarningDays: 7, CriticalDays: 30}, {WarningDays: 0, CriticalDays: 0}, {WarningDays: 30, CriticalDays: 30}} {
		if _, err := Rules(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if promDuration(90*60e9) != "1h30m" || math.IsNaN(0) {
		t.Errorf("promDuration(90m) = %q", promDuration(90*60e9))
	}
}

func promLabels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%s=%q", k, l[k])
	}
	b.WriteString("}")
	return b.String()
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
