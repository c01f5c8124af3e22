// Package facts is certrescue's data model, with no IO: what we know about one
// certificate (Certificate), why a certificate is a problem (Reason, Severity) and
// what an operation did (Action).
//
// The Reason and Action strings are a stable contract. JSON output, Prometheus
// labels (certrescue_finding{reason=...}) and audit records all carry them, so
// they are only ever added to, never renamed.
package facts
