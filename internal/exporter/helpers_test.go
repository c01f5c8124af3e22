package exporter

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// sample is one series of a scrape.
type sample struct {
	labels map[string]string
	value  float64
}

// scrape renders the collector as /metrics does (WriteText), parses it with
// Prometheus's own text parser, and checks that the prometheus.Collector
// path gives exactly the same series.
func scrape(t testing.TB, c *Collector) map[string][]sample {
	t.Helper()
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("/metrics is not valid text format: %v\n%s", err, buf.String())
	}
	out := samples(fams)
	mfs, err := NewRegistry(c, false).Gather()
	if err != nil {
		t.Fatalf("scrape failed: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	if got, want := fmt.Sprint(canonical(samples(byName))), fmt.Sprint(canonical(out)); got != want {
		t.Fatalf("Collect and WriteText disagree:\nCollect:   %s\nWriteText: %s", got, want)
	}
	return out
}

func canonical(m map[string][]sample) []string {
	var out []string
	for name, ss := range m {
		for _, s := range ss {
			out = append(out, fmt.Sprintf("%s%v=%v", name, s.labels, s.value))
		}
	}
	sort.Strings(out)
	return out
}

func samples(fams map[string]*dto.MetricFamily) map[string][]sample {
	out := map[string][]sample{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			s := sample{labels: map[string]string{}, value: value(m)}
			for _, l := range m.GetLabel() {
				if l.GetValue() != "" {
					s.labels[l.GetName()] = l.GetValue()
				}
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	}
	return 0
}

// find returns the series of name whose labels include want.
func find(got map[string][]sample, name string, want map[string]string) []sample {
	var out []sample
	for _, s := range got[name] {
		ok := true
		for k, v := range want {
			if s.labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

func one(t testing.TB, got map[string][]sample, name string, want map[string]string) sample {
	t.Helper()
	s := find(got, name, want)
	if len(s) != 1 {
		t.Fatalf("%s%v: %d series, want 1\n%s", name, want, len(s), dump(got, name))
	}
	return s[0]
}

func dump(got map[string][]sample, name string) string {
	var b strings.Builder
	for _, s := range got[name] {
		b.WriteString("  ")
		b.WriteString(name)
		b.WriteString(fmt.Sprint(s.labels))
		b.WriteString("\n")
	}
	return b.String()
}
