package exporter

import (
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/certrescue/certrescue/internal/clock"
)

// sample is one series of a scrape.
type sample struct {
	labels map[string]string
	value  float64
}

// scrape gathers the collector through a real registry, failing the test
// if the scrape would fail.
func scrape(t testing.TB, c *Collector) map[string][]sample {
	t.Helper()
	mfs, err := NewRegistry(c, false).Gather()
	if err != nil {
		t.Fatalf("scrape failed: %v", err)
	}
	out := map[string][]sample{}
	for _, mf := range mfs {
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

// movable is a clock a test moves by hand.
type movable struct{ t time.Time }

func (m *movable) Now() time.Time { return m.t }

var _ clock.Clock = (*movable)(nil)
