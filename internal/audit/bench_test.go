package audit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkAppend measures durable appends, one transaction (and on SQLite one
// fsync) each, by one process: the figure that bounds how fast a command can
// record its events.
func BenchmarkAppend(b *testing.B) {
	for _, backend := range []string{BackendSQLite, BackendMySQL, BackendPostgres} {
		b.Run(backend, func(b *testing.B) {
			s := mustOpen(b, freshDSN(b, backend))
			ctx := context.Background()
			ev := sampleEvent(1)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := s.Append(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
		})
	}
}

// BenchmarkVerify verifies a log of CERTRESCUE_BENCH_EVENTS events (default
// 100,000; scripts/bench-audit.sh uses 1,000,000) CERTRESCUE_BENCH_RUNS times
// (default 5), each run followed by sha256sum (coreutils, the peer) over the
// same bytes, and reports the medians of both and of the per-run ratio. The
// bytes: the log's records, which are exactly what
// Verify hashes (plus one newline each). CERTRESCUE_BENCH_BACKENDS picks the
// stores (default sqlite). Run it with -benchtime 1x.
func BenchmarkVerify(b *testing.B) {
	n := envInt(b, "CERTRESCUE_BENCH_EVENTS", 100000)
	runs := envInt(b, "CERTRESCUE_BENCH_RUNS", 5)
	sha256sum, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("sha256sum not installed")
	}
	backends := []string{BackendSQLite}
	if v := os.Getenv("CERTRESCUE_BENCH_BACKENDS"); v != "" {
		backends = strings.Split(v, ",")
	}
	for _, backend := range backends {
		b.Run(fmt.Sprintf("%s/%d", backend, n), func(b *testing.B) {
			ctx := context.Background()
			s := mustOpen(b, freshDSN(b, backend))
			start := time.Now()
			bulkLoad(b, s, n)
			b.Logf("loaded %d events in %s", n, time.Since(start).Round(time.Millisecond))
			recs := filepath.Join(b.TempDir(), "records.jsonl")
			f, err := os.Create(recs)
			if err != nil {
				b.Fatal(err)
			}
			size, err := s.WriteRecords(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			// Warm both: the database's pages and the file's are in the page cache.
			if out, err := exec.Command(sha256sum, recs).CombinedOutput(); err != nil {
				b.Fatalf("sha256sum: %v %s", err, out)
			}
			if _, err := s.Verify(ctx, nil); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var verify, sum []time.Duration
			var ratio []float64
			for i := 0; i < b.N*runs; i++ {
				start := time.Now()
				rep, err := s.Verify(ctx, nil)
				verify = append(verify, time.Since(start))
				if err != nil || rep.Problem != nil || rep.Events != int64(n) || rep.Bytes+int64(n) != size {
					b.Fatalf("verify: %+v %v (record bytes %d)", rep, err, size)
				}
				start = time.Now()
				if out, err := exec.Command(sha256sum, recs).CombinedOutput(); err != nil {
					b.Fatalf("sha256sum: %v %s", err, out)
				}
				sum = append(sum, time.Since(start))
				// Each verify is compared with the sha256sum run right after it,
				// so a busy machine slows both sides of a ratio alike.
				ratio = append(ratio, verify[i].Seconds()/sum[i].Seconds())
			}
			b.StopTimer()
			mv, ms := median(verify), median(sum)
			b.ReportMetric(mv.Seconds(), "verify-s")
			b.ReportMetric(ms.Seconds(), "sha256sum-s")
			b.ReportMetric(median(ratio), "ratio")
			b.ReportMetric(float64(size)/1e6, "MB")
			b.ReportMetric(float64(n)/mv.Seconds(), "events/s")
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func median[T time.Duration | float64](d []T) T {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// bulkLoad fills an empty store with n chained events quickly: computed here,
// inserted 500 to a statement in large transactions (not through Append, which
// commits each).
func bulkLoad(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	prev := GenesisHash
	const perStmt, perTx = 500, 20000
	var tx *sql.Tx
	var args []any
	flush := func() {
		if len(args) == 0 {
			return
		}
		q := "INSERT INTO cert_audit (id, record, hash) VALUES (?, ?, ?)" + strings.Repeat(", (?, ?, ?)", len(args)/3-1)
		if _, err := tx.ExecContext(ctx, s.d.rebind(q), args...); err != nil {
			b.Fatal(err)
		}
		args = args[:0]
	}
	for i := 1; i <= n; i++ {
		if tx == nil {
			var err error
			if tx, err = s.db.BeginTx(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
		e := sampleEvent(i)
		if err := e.normalize(); err != nil {
			b.Fatal(err)
		}
		e.Seq, e.PrevHash = int64(i), prev
		rec := e.Record()
		prev = hashRecord(rec)
		args = append(args, e.Seq, string(rec), prev)
		if len(args) == 3*perStmt {
			flush()
		}
		if i%perTx == 0 || i == n {
			flush()
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
			tx = nil
		}
	}
}
