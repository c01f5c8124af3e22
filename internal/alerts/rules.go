package alerts

import (
	"fmt"
	"time"

	"sigs.k8s.io/yaml"
)

// Options shape the rules.
type Options struct {
	WarningDays  int           // expiring, warning below this (default 30)
	CriticalDays int           // expiring, critical below this (default 7)
	For          time.Duration // how long a condition holds before firing (default 15m)
	SourceFor    time.Duration // for source-down and source-error alerts (default 5m)
	Kubelet      bool          // add the kubelet certificate TTL rules
	Labels       map[string]string
	// Name, Namespace and ManifestLabels are the PrometheusRule's metadata
	// (ManifestLabels lets the operator's ruleSelector pick it up).
	Name, Namespace string
	ManifestLabels  map[string]string
}

// Defaults returns the field guide's thresholds: 30 days warning, 7 critical.
func Defaults() Options {
	return Options{WarningDays: 30, CriticalDays: 7, For: 15 * time.Minute, SourceFor: 5 * time.Minute, Kubelet: true,
		Name: "certrescue", Namespace: "monitoring"}
}

// Validate refuses thresholds that cannot work.
func (o Options) Validate() error {
	switch {
	case o.WarningDays <= 0 || o.CriticalDays <= 0:
		return fmt.Errorf("warning days (%d) and critical days (%d) must be positive", o.WarningDays, o.CriticalDays)
	case o.CriticalDays >= o.WarningDays:
		return fmt.Errorf("critical days (%d) must be fewer than warning days (%d)", o.CriticalDays, o.WarningDays)
	case o.For < 0 || o.SourceFor < 0:
		return fmt.Errorf("durations must not be negative")
	}
	return nil
}

// Rule is one alerting rule.
type Rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations"`
}

// Group is a rule group.
type Group struct {
	Name  string `json:"name"`
	Rules []Rule `json:"rules"`
}

// File is a Prometheus rules file.
type File struct {
	Groups []Group `json:"groups"`
}

// where names the certificate's location in annotations.
const where = `{{ if $labels.secret_name }}Secret {{ $labels.secret_namespace }}/{{ $labels.secret_name }} ({{ $labels.secret_key }})` +
	`{{ else if $labels.configmap_name }}ConfigMap {{ $labels.configmap_namespace }}/{{ $labels.configmap_name }} ({{ $labels.configmap_key }})` +
	`{{ else if $labels.endpoint }}served on {{ $labels.endpoint }}` +
	`{{ else }}{{ $labels.filepath }}{{ if $labels.embedded_kind }} ({{ $labels.embedded_kind }} {{ $labels.embedded_key }}){{ end }}{{ end }}` +
	` on {{ $labels.instance }}`

// Rules builds the rule groups.
func Rules(o Options) (File, error) {
	if err := o.Validate(); err != nil {
		return File{}, err
	}
	left := "(x509_cert_not_after - time())"
	w, c := o.WarningDays*86400, o.CriticalDays*86400
	dur := promDuration(o.For)
	src := promDuration(o.SourceFor)
	rules := []Rule{
		{Alert: "CertificateExpiringSoon", Expr: fmt.Sprintf("%s < %d and %s >= %d", left, w, left, c), For: dur,
			Labels: o.labels("warning"), Annotations: ann(
				fmt.Sprintf("Certificate expires in less than %d days", o.WarningDays),
				"Certificate {{ $labels.subject_CN }} (issuer {{ $labels.issuer_CN }}, serial {{ $labels.serial_number }}) at "+where+
					" expires in {{ $value | humanizeDuration }}. Renew it: certrescue check says how (certrescue renew NAME for kubeadm files).")},
		{Alert: "CertificateExpiringCritical", Expr: fmt.Sprintf("%s < %d and %s > 0", left, c, left), For: dur,
			Labels: o.labels("critical"), Annotations: ann(
				fmt.Sprintf("Certificate expires in less than %d days", o.CriticalDays),
				"Certificate {{ $labels.subject_CN }} (issuer {{ $labels.issuer_CN }}, serial {{ $labels.serial_number }}) at "+where+
					" expires in {{ $value | humanizeDuration }}. Renew it now; after expiry, clients refuse it.")},
		{Alert: "CertificateExpired", Expr: "(time() - x509_cert_not_after) >= 0",
			Labels: o.labels("critical"), Annotations: ann("Certificate has expired",
				"Certificate {{ $labels.subject_CN }} at "+where+" expired {{ $value | humanizeDuration }} ago. "+
					"If it is a control-plane certificate, the cluster is down or about to be: certrescue rescue.")},
		{Alert: "CertificateNotYetValid", Expr: "(x509_cert_not_before - time()) > 0", For: dur,
			Labels: o.labels("critical"), Annotations: ann("Certificate is not yet valid",
				"Certificate {{ $labels.subject_CN }} at "+where+" becomes valid only in {{ $value | humanizeDuration }}: "+
					"a clock skew, or a certificate issued with a start in the future.")},
		{Alert: "CertificateFinding", Expr: `certrescue_finding{reason!~"expired|expiring|not_yet_valid"} > 0`, For: dur,
			Labels: o.labels(""), Annotations: ann("certrescue check finds {{ $labels.reason }}",
				"certrescue check reports {{ $labels.reason }} ({{ $labels.severity }}) for {{ $labels.subject_CN }} at "+where+
					". Run certrescue check on that node for the details and the fix.")},
		{Alert: "CertificateSourceDown", Expr: "x509_source_up == 0", For: src,
			Labels: o.labels("warning"), Annotations: ann("Certificate source {{ $labels.source_kind }}/{{ $labels.source_name }} is down",
				"The exporter on {{ $labels.instance }} cannot read its {{ $labels.source_kind }} source {{ $labels.source_name }}: "+
					"its certificates are not watched (RBAC, API server unreachable, unreadable mounts). Check the exporter's log.")},
		{Alert: "CertificateSourceErrors", Expr: "increase(x509_source_errors_total[15m]) > 0", For: src,
			Labels: o.labels("warning"), Annotations: ann("Certificate source {{ $labels.source_name }} has {{ $labels.reason }} errors",
				"The exporter on {{ $labels.instance }} met {{ $labels.reason }} errors reading {{ $labels.source_kind }}/{{ $labels.source_name }} in the last 15 minutes.")},
	}
	if o.Kubelet {
		rules = append(rules, kubeletRules(o)...)
	}
	return File{Groups: []Group{{Name: "certrescue.rules", Rules: rules}}}, nil
}

// kubeletRules are the field guide's kubelet alert done right: the metric
// it names (kubelet_server_certificate_expiration_seconds) does not exist
// and its host and path labels neither, so it never fires. The kubelet's
// certificate manager exports the remaining lifetime of its client and
// serving certificates; warn and page on those, with the node named.
func kubeletRules(o Options) []Rule {
	ttl := `(kubelet_certificate_manager_client_ttl_seconds or kubelet_certificate_manager_server_ttl_seconds)`
	w, c := o.WarningDays*86400, o.CriticalDays*86400
	desc := "The kubelet on {{ $labels.instance }} holds a certificate that expires in {{ $value | humanizeDuration }}. " +
		"Certificate rotation is failing (kubelet_certificate_manager_client_expiration_renew_errors, pending CSRs?) or disabled: " +
		"approve its CSR or renew it, certrescue check on the node shows which file."
	return []Rule{
		{Alert: "KubeletCertificateExpiringSoon", Expr: fmt.Sprintf("%s < %d and %s >= %d", ttl, w, ttl, c), For: promDuration(o.For),
			Labels: o.labels("warning"), Annotations: ann(fmt.Sprintf("Kubelet certificate expires in less than %d days", o.WarningDays), desc)},
		{Alert: "KubeletCertificateExpiringCritical", Expr: fmt.Sprintf("%s < %d", ttl, c), For: promDuration(o.For),
			Labels: o.labels("critical"), Annotations: ann(fmt.Sprintf("Kubelet certificate expires in less than %d days", o.CriticalDays), desc)},
	}
}

func (o Options) labels(severity string) map[string]string {
	l := map[string]string{}
	for k, v := range o.Labels {
		l[k] = v
	}
	if severity != "" {
		l["severity"] = severity
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

func ann(summary, description string) map[string]string {
	return map[string]string{"summary": summary, "description": description}
}

// promDuration writes a duration as Prometheus does (15m, 1h30m, 0s -> "").
func promDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	var s string
	for _, u := range []struct {
		d time.Duration
		n string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			s += fmt.Sprintf("%d%s", n, u.n)
			d -= n * u.d
		}
	}
	return s
}

// RulesYAML renders a rules file.
func RulesYAML(o Options) ([]byte, error) {
	f, err := Rules(o)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(f)
}

// ManifestYAML renders a PrometheusRule manifest.
func ManifestYAML(o Options) ([]byte, error) {
	f, err := Rules(o)
	if err != nil {
		return nil, err
	}
	if o.Name == "" {
		return nil, fmt.Errorf("a PrometheusRule needs a name")
	}
	meta := map[string]any{"name": o.Name}
	if o.Namespace != "" {
		meta["namespace"] = o.Namespace
	}
	if len(o.ManifestLabels) > 0 {
		meta["labels"] = o.ManifestLabels
	}
	return yaml.Marshal(map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   meta,
		"spec":       f,
	})
}
