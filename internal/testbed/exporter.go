package testbed

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ExporterFigures are what the exporter benchmarks print for one run of the
// exporter as a separate process.
type ExporterFigures struct {
	Series           int
	P50, P99         time.Duration
	VmHWMkB, VmRSSkB int
	Ready            time.Duration
}

func (f ExporterFigures) String() string {
	return fmt.Sprintf("series=%d ready=%s scrape_p50=%.1fms scrape_p99=%.1fms VmHWM=%.1fMB VmRSS=%.1fMB",
		f.Series, f.Ready.Round(time.Millisecond), ms(f.P50), ms(f.P99), float64(f.VmHWMkB)/1024, float64(f.VmRSSkB)/1024)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// MeasureExporter starts bin with args plus --listen, waits until a scrape
// holds want x509_cert_not_after series, scrapes scrapes times, reads the
// process's peak RSS and kills it by PID.
func MeasureExporter(tb testing.TB, bin string, args []string, want, scrapes int) ExporterFigures {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var logb bytes.Buffer
	cmd := exec.Command(bin, append(args, "--listen", addr)...)
	cmd.Stdout, cmd.Stderr = &logb, &logb
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := "http://" + addr + "/metrics"
	scrape := func() (int, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return strings.Count(string(body), "\nx509_cert_not_after{"), err
	}
	var f ExporterFigures
	deadline := time.Now().Add(10 * time.Minute)
	for {
		n, _ := scrape()
		if n >= want {
			f.Series, f.Ready = n, time.Since(t0)
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("exporter never exposed %d series (last %d):\n%s", want, n, logb.String())
		}
		time.Sleep(100 * time.Millisecond) // waiting on a real process
	}
	var durs []time.Duration
	for range scrapes {
		s := time.Now()
		if _, err := scrape(); err != nil {
			tb.Fatal(err)
		}
		durs = append(durs, time.Since(s))
	}
	f.P50, f.P99 = percentiles(durs)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmHWM":
			f.VmHWMkB = n
		case "VmRSS":
			f.VmRSSkB = n
		}
	}
	return f
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}
