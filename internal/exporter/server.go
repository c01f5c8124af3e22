package exporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/certrescue/certrescue/internal/atomicfile"
	"github.com/certrescue/certrescue/internal/clock"
)

// Refresher is a source that reads its certificates on demand (Node,
// Endpoints). Watched sources (package secrets) update the Store themselves.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// NewRegistry registers the collector, plus the Go and process collectors
// when process is true (process_resident_memory_bytes shows the exporter's
// own footprint). It is for embedding the certificate metrics in another
// program's registry; /metrics and the textfile use WriteText.
func NewRegistry(c *Collector, process bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if process {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return reg
}

// Handler serves /metrics (the exporter's own Go and process metrics from
// client_golang, then the certificates' from WriteText) and /healthz.
func Handler(c *Collector) http.Handler {
	self := prometheus.NewRegistry()
	self.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
		if mfs, err := self.Gather(); err == nil {
			enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				_ = enc.Encode(mf)
			}
		}
		_ = c.WriteText(w)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// Serve serves h on ln until ctx is done, then shuts down gracefully.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if e := <-done; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
		return err
	}
}

// RefreshLoop refreshes every source now and then every interval until ctx
// is done, waiting on c (the command layer passes clock.Real: the files
// change on a real disk). Refreshes start on the interval's beats; one that
// takes longer than the interval is followed at once by the next. A failing
// source is reported through onErr and x509_source_up; the others go on.
func RefreshLoop(ctx context.Context, c clock.Clock, interval time.Duration, sources []Refresher, onErr func(error)) {
	next := c.Now()
	for {
		RefreshAll(ctx, sources, onErr)
		next = next.Add(interval)
		wait := next.Sub(c.Now())
		if wait < 0 {
			next, wait = c.Now(), 0
		}
		if err := c.Sleep(ctx, wait); err != nil {
			return
		}
	}
}

// RefreshAll refreshes every source once.
func RefreshAll(ctx context.Context, sources []Refresher, onErr func(error)) {
	for _, s := range sources {
		if err := s.Refresh(ctx); err != nil && onErr != nil && ctx.Err() == nil {
			onErr(err)
		}
	}
}

// TextfileName is the file WriteTextfile writes in node_exporter's textfile
// directory.
const TextfileName = "certrescue.prom"

// WriteTextfile writes c's metrics to dir/name atomically (a temporary file
// beside it, fsync, rename), mode 0644, in the text format node_exporter's
// textfile collector reads. The temporary file's name does not end in .prom,
// so node_exporter never reads a half-written file.
func WriteTextfile(dir, name string, c *Collector) error {
	var buf bytes.Buffer
	if err := c.WriteText(&buf); err != nil {
		return fmt.Errorf("render metrics: %w", err)
	}
	return atomicfile.Write(filepath.Join(dir, name), buf.Bytes(), atomicfile.CertMode, true)
}
