package exporter

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/evaluation"
	"github.com/certrescue/certrescue/internal/facts"
)

var (
	descNotBefore  = prometheus.NewDesc("x509_cert_not_before", "Unix time of the certificate's NotBefore.", certLabelNames, nil)
	descNotAfter   = prometheus.NewDesc("x509_cert_not_after", "Unix time of the certificate's NotAfter.", certLabelNames, nil)
	descExpired    = prometheus.NewDesc("x509_cert_expired", "1 if the certificate is expired at scrape time, else 0.", certLabelNames, nil)
	descExpiresIn  = prometheus.NewDesc("x509_cert_expires_in_seconds", "Seconds from scrape time until the certificate's NotAfter (negative once expired).", certLabelNames, nil)
	descValidSince = prometheus.NewDesc("x509_cert_valid_since_seconds", "Seconds since the certificate's NotBefore at scrape time (negative while not yet valid).", certLabelNames, nil)
	descCertError  = prometheus.NewDesc("x509_cert_error", "1 if a certificate at this location could not be read or parsed, 0 for each certificate read.", certLabelNames, nil)
	descReadErrors = prometheus.NewDesc("x509_read_errors", "Number of locations whose certificate could not be read or parsed.", nil, nil)
	descSourceUp   = prometheus.NewDesc("x509_source_up", "1 if the source has completed its first sync and its last refresh succeeded, else 0.", []string{"source_kind", "source_name"}, nil)
	descSourceErrs = prometheus.NewDesc("x509_source_errors_total", "Errors met by a source, by reason.", []string{"source_kind", "source_name", "reason"}, nil)
	descBundles    = prometheus.NewDesc("x509_source_bundles", "Locations (files, Secrets, ConfigMaps, endpoints) a source currently tracks.", []string{"source_kind", "source_name"}, nil)
	descFinding    = prometheus.NewDesc("certrescue_finding", "1 for each finding of certrescue check about a location, labelled with check's reason code.", findingLabelNames, nil)
)

// Collector emits the Store's certificates as metrics, reading the clock at
// scrape time so expiry values are always current.
type Collector struct {
	Store *Store
	Clock clock.Clock
	// Warn and Critical are check's thresholds for the "expiring" finding
	// (warning, then critical); zero means check's defaults, 30 and 7 days.
	Warn, Critical time.Duration
}

// Describe sends every metric description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNotBefore, descNotAfter, descExpired, descExpiresIn, descValidSince,
		descCertError, descReadErrors, descSourceUp, descSourceErrs, descBundles, descFinding} {
		ch <- d
	}
}

type selected struct {
	values []string
	entry  *Entry
}

// Collect emits the metrics of every source's current objects.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := c.Clock.Now()
	warn, crit := c.Warn, c.Critical
	if warn == 0 && crit == 0 {
		warn, crit = evaluation.DefaultWarn, evaluation.DefaultCritical
	}
	views := c.Store.view()
	certs, errs, findings := dedupe(views, now)

	for i := range certs {
		s := &certs[i]
		ct := s.entry.Cert
		gauge(ch, descNotBefore, float64(ct.NotBefore.Unix()), s.values)
		gauge(ch, descNotAfter, float64(ct.NotAfter.Unix()), s.values)
		expired := 0.0
		if now.After(ct.NotAfter) {
			expired = 1
		}
		gauge(ch, descExpired, expired, s.values)
		gauge(ch, descExpiresIn, ct.NotAfter.Sub(now).Seconds(), s.values)
		gauge(ch, descValidSince, now.Sub(ct.NotBefore).Seconds(), s.values)
		gauge(ch, descCertError, 0, s.values)
		if f, ok := timeFinding(s.entry, now, warn, crit); ok {
			findings.add(&f)
		}
	}
	for i := range errs {
		gauge(ch, descCertError, 1, errs[i].values)
	}
	gauge(ch, descReadErrors, float64(len(errs)), nil)
	for _, f := range findings.list {
		gauge(ch, descFinding, 1, f)
	}
	for _, v := range views {
		up := 0.0
		if v.up {
			up = 1
		}
		gauge(ch, descSourceUp, up, []string{v.id.Kind, v.id.Name})
		gauge(ch, descBundles, float64(len(v.objects)), []string{v.id.Kind, v.id.Name})
		for reason, n := range v.errors {
			ch <- prometheus.MustNewConstMetric(descSourceErrs, prometheus.CounterValue, n, v.id.Kind, v.id.Name, reason)
		}
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels []string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// timeFinding is the expiry finding of a certificate at now, computed at
// scrape time like the x509_cert_* values, with check's rules: a leaf is
// expired, not yet valid, or expiring (critical under crit, warning under
// warn); a certificate further down a chain only counts once expired.
func timeFinding(e *Entry, now time.Time, warn, crit time.Duration) (Finding, bool) {
	f := Finding{Loc: e.Loc, SubjectCN: e.Cert.Subject[5], Severity: facts.SeverityCritical}
	left := e.Cert.NotAfter.Sub(now)
	switch {
	case now.After(e.Cert.NotAfter):
		f.Reason = facts.ReasonExpired
	case e.InChain:
		return f, false
	case now.Before(e.Cert.NotBefore):
		f.Reason = facts.ReasonNotYetValid
	case left < crit:
		f.Reason = facts.ReasonExpiring
	case left < warn:
		f.Reason, f.Severity = facts.ReasonExpiring, facts.SeverityWarning
	default:
		return f, false
	}
	return f, true
}

type findingSet struct {
	seen map[string]bool
	list [][]string
}

func (s *findingSet) add(f *Finding) {
	v := findingValues(f)
	k := strings.Join(v, "\xff")
	if s.seen[k] {
		return
	}
	s.seen[k] = true
	s.list = append(s.list, v)
}

// dedupe keeps one series per label set. The same certificate found twice at
// the same location (a bundle listing it twice, two sources naming one file)
// is one series; two different certificates that would carry identical
// labels (same serial, subject and issuer at one location) are one series
// too, the one expiring first, so that alerts err on the early side.
func dedupe(views []sourceView, now time.Time) ([]selected, []selected, *findingSet) {
	var certs, errs []selected
	certIdx := map[string]int{}
	errSeen := map[string]bool{}
	fs := &findingSet{seen: map[string]bool{}}
	for vi := range views {
		for oi := range views[vi].objects {
			o := &views[vi].objects[oi]
			for ei := range o.Entries {
				e := &o.Entries[ei]
				v := certValues(e)
				k := strings.Join(v, "\xff")
				if e.Cert == nil {
					if !errSeen[k] {
						errSeen[k] = true
						errs = append(errs, selected{v, e})
					}
					continue
				}
				if i, ok := certIdx[k]; ok {
					if e.Cert.NotAfter.Before(certs[i].entry.Cert.NotAfter) {
						certs[i].entry = e
					}
					continue
				}
				certIdx[k] = len(certs)
				certs = append(certs, selected{v, e})
			}
			for fi := range o.Findings {
				fs.add(o.Findings[fi].at(now))
			}
		}
	}
	return certs, errs, fs
}
