package exporter

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/certrescue/certrescue/internal/pki"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// writeCertFiles writes n certificates signed by one CA under dir, in
// subdirectories of 1000, fast (one key for all leaves: the exporter only
// reads certificates).
func writeCertFiles(tb testing.TB, dir string, n int, now time.Time) {
	tb.Helper()
	ca := testpki.MustCA(tb)
	key, err := pki.GenerateKey(pki.DefaultKeySpec)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		c, err := pki.Sign(ca, pki.Template{Subject: pkix.Name{CommonName: fmt.Sprintf("leaf-%05d", i)},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Duration(i%400+1) * 24 * time.Hour)}, key.Public())
		if err != nil {
			tb.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i/1000), fmt.Sprintf("leaf-%05d.crt", i))
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				tb.Fatal(err)
			}
		}
		if err := os.WriteFile(p, pki.EncodeCertificatePEM(c.Raw), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkScrape10000Files is one /metrics rendering (WriteText) of
// 10,000 certificate files, with the p50 and p99 of the iterations.
func BenchmarkScrape10000Files(b *testing.B) {
	root := b.TempDir()
	writeCertFiles(b, filepath.Join(root, "certs"), 10000, testpki.Epoch)
	n, c, _ := newNode(b, root, Paths{Patterns: []string{"/certs"}})
	refresh(b, n)
	var durs []time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := c.WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
	}
	p50, p99 := percentiles(durs)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// BenchmarkCollect10000Files is the same scrape through the
// prometheus.Collector and client_golang's registry and encoder, the path
// WriteText replaces on /metrics.
func BenchmarkCollect10000Files(b *testing.B) {
	root := b.TempDir()
	writeCertFiles(b, filepath.Join(root, "certs"), 10000, testpki.Epoch)
	n, c, _ := newNode(b, root, Paths{Patterns: []string{"/certs"}})
	refresh(b, n)
	reg := NewRegistry(c, false)
	var durs []time.Duration
	for b.Loop() {
		t0 := time.Now()
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			_ = enc.Encode(mf)
		}
		durs = append(durs, time.Since(t0))
	}
	p50, p99 := percentiles(durs)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
}

// BenchmarkRefreshUnchanged10000Files is a refresh when nothing changed:
// listing and a stat per file, no read. cpu-ms/op is the process's CPU time
// (user and system, garbage collection included) per refresh, steadier than
// the wall time on a shared machine.
func BenchmarkRefreshUnchanged10000Files(b *testing.B) {
	root := b.TempDir()
	writeCertFiles(b, filepath.Join(root, "certs"), 10000, testpki.Epoch)
	n, _, _ := newNode(b, root, Paths{Patterns: []string{"/certs"}})
	refresh(b, n)
	cpu0 := cpuTime(b)
	for b.Loop() {
		refresh(b, n)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
	if n.Parsed() != 10000 {
		b.Fatalf("parsed %d", n.Parsed())
	}
}

// BenchmarkFirstRefresh10000Files is the first refresh of 10,000 files:
// every file read, parsed and judged.
func BenchmarkFirstRefresh10000Files(b *testing.B) {
	root := b.TempDir()
	writeCertFiles(b, filepath.Join(root, "certs"), 10000, testpki.Epoch)
	cpu0 := cpuTime(b)
	for b.Loop() {
		n, _, _ := newNode(b, root, Paths{Patterns: []string{"/certs"}})
		refresh(b, n)
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}

// TestBenchExporterProcess10000Files is run by scripts/bench-exporter.sh
// (CERTRESCUE_BENCH_EXPORTER=path of a built certrescue): the exporter as
// its own process over 10,000 certificate files, three runs. It prints
// figures and asserts nothing about time.
func TestBenchExporterProcess10000Files(t *testing.T) {
	bin := os.Getenv("CERTRESCUE_BENCH_EXPORTER")
	if bin == "" {
		t.Skip("set CERTRESCUE_BENCH_EXPORTER to a certrescue binary (scripts/bench-exporter.sh does)")
	}
	root := t.TempDir()
	writeCertFiles(t, filepath.Join(root, "certs"), 10000, time.Now())
	for run := 1; run <= 3; run++ {
		f := testbed.MeasureExporter(t, bin, []string{"--root", root, "exporter", "--scan-node=false", "--no-endpoints", "--path", "/certs"}, 10000, 300)
		fmt.Printf("files run %d: 10000 certificate files: %s\n", run, f)
	}
}
