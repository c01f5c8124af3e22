package exporter

import (
	"bufio"
	"io"
	"strconv"
	"time"

	"github.com/certrescue/certrescue/internal/evaluation"
)

// WriteText writes the same series as Collect in the text exposition format
// (version 0.0.4), straight from the label sets the Store rendered when the
// objects were stored. It is what /metrics and the textfile serve: with tens
// of thousands of certificates, building a client_golang metric per series
// and sorting them costs a scrape several times more.
func (c *Collector) WriteText(w io.Writer) error {
	now := c.Clock.Now()
	warn, crit := c.Warn, c.Critical
	if warn == 0 && crit == 0 {
		warn, crit = evaluation.DefaultWarn, evaluation.DefaultCritical
	}
	views := c.Store.view()
	certs, errs, findings := dedupeText(views, now, warn, crit)
	bw := bufio.NewWriterSize(w, 256<<10)
	var buf []byte
	line := func(name, labels string, v float64) {
		buf = append(buf[:0], name...)
		buf = append(buf, labels...)
		buf = append(buf, ' ')
		buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		buf = append(buf, '\n')
		_, _ = bw.Write(buf)
	}
	header := func(name, help, typ string) {
		_, _ = bw.WriteString("# HELP " + name + " " + help + "\n# TYPE " + name + " " + typ + "\n")
	}
	type family struct {
		name, help string
		value      func(e *Entry) float64
	}
	for _, f := range []family{
		{"x509_cert_not_before", "Unix time of the certificate's NotBefore.", func(e *Entry) float64 { return float64(e.Cert.NotBefore.Unix()) }},
		{"x509_cert_not_after", "Unix time of the certificate's NotAfter.", func(e *Entry) float64 { return float64(e.Cert.NotAfter.Unix()) }},
		{"x509_cert_expired", "1 if the certificate is expired at scrape time, else 0.", func(e *Entry) float64 {
			if now.After(e.Cert.NotAfter) {
				return 1
			}
			return 0
		}},
		{"x509_cert_expires_in_seconds", "Seconds from scrape time until the certificate's NotAfter (negative once expired).",
			func(e *Entry) float64 { return e.Cert.NotAfter.Sub(now).Seconds() }},
		{"x509_cert_valid_since_seconds", "Seconds since the certificate's NotBefore at scrape time (negative while not yet valid).",
			func(e *Entry) float64 { return now.Sub(e.Cert.NotBefore).Seconds() }},
	} {
		if len(certs) == 0 {
			break
		}
		header(f.name, f.help, "gauge")
		for _, e := range certs {
			line(f.name, e.text, f.value(e))
		}
	}
	if len(certs)+len(errs) > 0 {
		header("x509_cert_error", "1 if a certificate at this location could not be read or parsed, 0 for each certificate read.", "gauge")
		for _, e := range certs {
			line("x509_cert_error", e.text, 0)
		}
		for _, e := range errs {
			line("x509_cert_error", e.text, 1)
		}
	}
	header("x509_read_errors", "Number of locations whose certificate could not be read or parsed.", "gauge")
	line("x509_read_errors", "", float64(len(errs)))
	if len(findings) > 0 {
		header("certrescue_finding", "1 for each finding of certrescue check about a location, labelled with check's reason code.", "gauge")
		for _, f := range findings {
			line("certrescue_finding", f, 1)
		}
	}
	src := func(v sourceView) string {
		return labelText([]string{"source_kind", "source_name"}, []string{v.id.Kind, v.id.Name})
	}
	if len(views) > 0 {
		header("x509_source_up", "1 if the source has completed its first sync and its last refresh succeeded, else 0.", "gauge")
		for _, v := range views {
			up := 0.0
			if v.up {
				up = 1
			}
			line("x509_source_up", src(v), up)
		}
		header("x509_source_bundles", "Locations (files, Secrets, ConfigMaps, endpoints) a source currently tracks.", "gauge")
		for _, v := range views {
			line("x509_source_bundles", src(v), float64(len(v.objects)))
		}
		header("x509_source_errors_total", "Errors met by a source, by reason.", "counter")
		for _, v := range views {
			for reason, n := range v.errors {
				line("x509_source_errors_total", labelText([]string{"source_kind", "source_name", "reason"}, []string{v.id.Kind, v.id.Name, reason}), n)
			}
		}
	}
	return bw.Flush()
}

// dedupeText is dedupe over the rendered label sets, with the scrape-time
// findings added.
func dedupeText(views []sourceView, now time.Time, warn, crit time.Duration) (certs, errs []*Entry, findings []string) {
	certIdx := map[string]int{}
	errSeen := map[string]bool{}
	seen := map[string]bool{}
	addFinding := func(text string) {
		if !seen[text] {
			seen[text] = true
			findings = append(findings, text)
		}
	}
	for vi := range views {
		for oi := range views[vi].objects {
			o := &views[vi].objects[oi]
			for ei := range o.Entries {
				e := &o.Entries[ei]
				if e.Cert == nil {
					if !errSeen[e.text] {
						errSeen[e.text] = true
						errs = append(errs, e)
					}
					continue
				}
				if i, ok := certIdx[e.text]; ok {
					if e.Cert.NotAfter.Before(certs[i].Cert.NotAfter) {
						certs[i] = e
					}
					continue
				}
				certIdx[e.text] = len(certs)
				certs = append(certs, e)
			}
			for fi := range o.Findings {
				addFinding(o.Findings[fi].at(now).text)
			}
		}
	}
	for _, e := range certs {
		if f, ok := timeFinding(e, now, warn, crit); ok {
			addFinding(labelText(findingLabelNames, findingValues(&f)))
		}
	}
	return certs, errs, findings
}
