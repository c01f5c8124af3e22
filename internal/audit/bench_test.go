package audit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// 100,000; scripts/bench-audit.sh uses 1,000,000) and compares the time with
// sha256sum (coreutils, the peer) over the same bytes: the log's records, which
// are exactly what Verify hashes (plus one newline each).
func BenchmarkVerify(b *testing.B) {
	n := 100000
	if v := os.Getenv("CERTRESCUE_BENCH_EVENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("CERTRESCUE_BENCH_EVENTS=%q: %v", v, err)
		}
	}
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
			bulkLoad(b, s, n)
			canon := filepath.Join(b.TempDir(), "records.jsonl")
			f, err := os.Create(canon)
			if err != nil {
				b.Fatal(err)
			}
			size, err := s.WriteRecords(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
			// Warm both: the database's pages and the file's are in the page cache.
			if out, err := exec.Command(sha256sum, canon).CombinedOutput(); err != nil {
				b.Fatalf("sha256sum: %v %s", err, out)
			}
			b.ResetTimer()
			var verify, sum time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				rep, err := s.Verify(ctx, nil)
				verify += time.Since(start)
				if err != nil || rep.Problem != nil || rep.Events != int64(n) || rep.Bytes+int64(n) != size {
					b.Fatalf("verify: %+v %v (canonical bytes %d)", rep, err, size)
				}
				start = time.Now()
				if out, err := exec.Command(sha256sum, canon).CombinedOutput(); err != nil {
					b.Fatalf("sha256sum: %v %s", err, out)
				}
				sum += time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(verify.Seconds()/float64(b.N), "verify-s")
			b.ReportMetric(sum.Seconds()/float64(b.N), "sha256sum-s")
			b.ReportMetric(verify.Seconds()/sum.Seconds(), "ratio")
			b.ReportMetric(float64(size)/1e6, "MB")
		})
	}
}

// bulkLoad fills an empty store with n chained events quickly: computed here,
// inserted in large transactions (not through Append, which commits each).
func bulkLoad(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	prev := GenesisHash
	const batch = 10000
	for start := 1; start <= n; start += batch {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := start; i < start+batch && i <= n; i++ {
			e := sampleEvent(i)
			if err := e.normalize(); err != nil {
				b.Fatal(err)
			}
			e.Seq, e.PrevHash = int64(i), prev
			rec := e.Record()
			e.Hash, e.stored = hashRecord(rec), string(rec)
			prev = e.Hash
			if err := s.insert(ctx, tx, &e); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
