// Package alerts generates Prometheus alerting rules for the exporter's
// metrics: certificates expiring (warning, then critical), expired and not
// yet valid, check's other findings (certrescue_finding), sources down or
// failing, and the kubelet's own certificate TTLs (the field guide's kubelet
// rule done right).
//
// Inputs: Options (thresholds in days, how long a condition must hold, extra
// labels, the PrometheusRule's name and namespace). Outputs: a rules file
// (groups:) for Prometheus's rule_files, or a PrometheusRule manifest for the
// Prometheus Operator, as YAML. Expiry rules use x509_cert_not_after - time()
// rather than x509_cert_expires_in_seconds, so they stay right with metrics
// from a textfile written minutes ago. It does no IO.
package alerts
