package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/facts"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)

// sampleEvent is event i of a test log.
func sampleEvent(i int) Event {
	actions := []facts.Action{facts.ActionCreate, facts.ActionRenew, facts.ActionDeploy, facts.ActionRevoke, facts.ActionHarden}
	e := Event{
		Time:        t0.Add(time.Duration(i) * time.Minute),
		Action:      actions[i%len(actions)],
		CertName:    fmt.Sprintf("cert-%d", i%3),
		CertPath:    fmt.Sprintf("/etc/kubernetes/pki/cert-%d.crt", i%3),
		Serial:      fmt.Sprintf("%x", 1000+i),
		Fingerprint: "ab:cd:ef",
		NotBefore:   t0.Add(-time.Hour),
		NotAfter:    t0.AddDate(1, 0, 0),
		Issuer:      "CN=kubernetes",
		Operator:    []string{"alice", "bob"}[i%2],
		OSUser:      "root",
		Host:        "node-1",
		Command:     "certrescue test",
		Detail:      fmt.Sprintf("event %d", i),
	}
	if i%4 == 3 {
		e.Error = "permission denied"
	}
	return e
}

func appendN(t *testing.T, s *Store, n int) []Event {
	t.Helper()
	var out []Event
	for i := 1; i <= n; i++ {
		e, err := s.Append(context.Background(), sampleEvent(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

func TestAppendReadVerify(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := mustOpen(t, dsn)
		rep, err := s.Verify(ctx, nil)
		if err != nil || rep.Problem != nil || rep.Events != 0 {
			t.Fatalf("empty log: %+v, %v", rep, err)
		}
		written := appendN(t, s, 12)
		for i, e := range written {
			if e.Seq != int64(i+1) {
				t.Errorf("event %d got seq %d", i+1, e.Seq)
			}
			if i > 0 && e.PrevHash != written[i-1].Hash {
				t.Errorf("event %d prev_hash is not event %d's hash", i+1, i)
			}
		}
		if written[0].PrevHash != GenesisHash {
			t.Errorf("first prev_hash = %s", written[0].PrevHash)
		}
		if written[2].Result != ResultFailure || written[0].Result != ResultSuccess {
			t.Errorf("results: %s %s", written[0].Result, written[2].Result)
		}
		var read []Event
		if err := s.Events(ctx, Filter{}, func(e Event) error { read = append(read, e); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(read) != len(written) {
			t.Fatalf("read %d events, wrote %d", len(read), len(written))
		}
		for i := range read {
			if read[i] != written[i] {
				t.Errorf("event %d round trip:\n got %+v\nwant %+v", i+1, read[i], written[i])
			}
			if read[i].ComputeHash() != read[i].Hash {
				t.Errorf("event %d: hash does not recompute", i+1)
			}
		}
		if !read[0].Time.Equal(t0.Add(time.Minute).Truncate(time.Microsecond)) {
			t.Errorf("time stored with microseconds: %s", read[0].Time)
		}
		rep, err = s.Verify(ctx, nil)
		if err != nil || rep.Problem != nil || rep.Events != 12 {
			t.Fatalf("verify: %+v, %v", rep, err)
		}
		head, err := s.Head(ctx)
		if err != nil || head.Count != 12 || head.Hash != written[11].Hash || rep.Head != head {
			t.Fatalf("head %+v, %v; verify head %+v", head, err, rep.Head)
		}
		one, err := s.Event(ctx, 5)
		if err != nil || one != written[4] {
			t.Errorf("Event(5) = %+v, %v", one, err)
		}
		if _, err := s.Event(ctx, 99); !errors.Is(err, ErrNotFound) {
			t.Errorf("Event(99) err = %v, want ErrNotFound", err)
		}
		if err := s.Probe(ctx); err != nil {
			t.Errorf("probe: %v", err)
		}
	})
}

func TestFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		appendN(t, s, 20)
		tests := []struct {
			name string
			flt  Filter
			want []int64
		}{
			{"by certificate", Filter{CertName: "cert-1"}, []int64{1, 4, 7, 10, 13, 16, 19}},
			{"by action", Filter{Action: facts.ActionRevoke}, []int64{3, 8, 13, 18}},
			{"by operator and certificate", Filter{Operator: "bob", CertName: "cert-2"}, []int64{5, 11, 17}},
			{"since a time", Filter{Since: t0.Add(18 * time.Minute)}, []int64{18, 19, 20}},
			{"until a time", Filter{Until: t0.Add(3 * time.Minute)}, []int64{1, 2}},
			{"first two", Filter{Limit: 2}, []int64{1, 2}},
			{"last three of a certificate", Filter{CertName: "cert-0", Limit: 3, Last: true}, []int64{12, 15, 18}},
			{"nothing matches", Filter{CertName: "nope"}, nil},
		}
		for _, tc := range tests {
			var got []int64
			if err := s.Events(context.Background(), tc.flt, func(e Event) error { got = append(got, e.Seq); return nil }); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}

func TestAppendOnlyTriggers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		s := mustOpen(t, dsn)
		appendN(t, s, 3)
		for _, q := range []string{
			"UPDATE cert_audit SET record = REPLACE(record, 'alice', 'mallory') WHERE id = 2",
			"DELETE FROM cert_audit WHERE id = 3",
		} {
			_, err := s.db.Exec(q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", q, err)
			}
		}
		// The readable columns are derived from the record: they cannot be
		// changed on their own, even with the triggers gone.
		tamper(t, s)
		if _, err := s.db.Exec("UPDATE cert_audit SET operator = 'mallory' WHERE id = 2"); err == nil {
			t.Error("a generated column was updated")
		}
		if rep, err := s.Verify(context.Background(), nil); err != nil || rep.Problem != nil || rep.Events != 3 {
			t.Errorf("verify after refused changes: %+v, %v", rep, err)
		}
	})
}

func TestTamperDetected(t *testing.T) {
	cols := "record, hash"
	swap := func(a, b int) []string {
		// Swap the two rows' contents but keep their ids.
		return []string{
			fmt.Sprintf("CREATE TABLE tmp_swap AS SELECT id, record, hash FROM cert_audit WHERE id IN (%d, %d)", a, b),
			fmt.Sprintf("DELETE FROM cert_audit WHERE id IN (%d, %d)", a, b),
			fmt.Sprintf("INSERT INTO cert_audit (id, %s) SELECT CASE id WHEN %d THEN %d ELSE %d END, %s FROM tmp_swap", cols, a, b, a, cols),
			"DROP TABLE tmp_swap",
		}
	}
	tests := []struct {
		name       string
		stmts      []string
		checkpoint bool // verify against the checkpoint taken before tampering
		wantSeq    int64
		wantKind   string
	}{
		{"an untouched log verifies", nil, true, 0, ""},
		{"an edited field is named", []string{`UPDATE cert_audit SET record = REPLACE(record, '"operator":"alice"', '"operator":"mallory"') WHERE id = 4`}, false, 4, ProblemEdited},
		{"an edited expiry is named", []string{`UPDATE cert_audit SET record = REPLACE(record, '"expire_date":"2027', '"expire_date":"2099') WHERE id = 7`}, false, 7, ProblemEdited},
		{"an edited hash breaks the next link", []string{"UPDATE cert_audit SET hash = '" + strings.Repeat("a", 64) + "' WHERE id = 5"}, false, 5, ProblemEdited},
		{"a deleted event is named", []string{"DELETE FROM cert_audit WHERE id = 6"}, false, 6, ProblemMissing},
		{"a deleted first event is named", []string{"DELETE FROM cert_audit WHERE id = 1"}, false, 1, ProblemMissing},
		{"a deleted and renumbered event is named", []string{
			"DELETE FROM cert_audit WHERE id = 6",
			"CREATE TABLE tmp_shift AS SELECT id, record, hash FROM cert_audit WHERE id > 6",
			"DELETE FROM cert_audit WHERE id > 6",
			"INSERT INTO cert_audit (id, " + cols + ") SELECT id - 1, " + cols + " FROM tmp_shift",
			"DROP TABLE tmp_shift",
		}, false, 6, ProblemBrokenRef},
		{"two swapped events are named", swap(3, 8), false, 3, ProblemBrokenRef},
		{"an event inserted in the middle is named", []string{
			"CREATE TABLE tmp_shift AS SELECT id, record, hash FROM cert_audit WHERE id > 5",
			"DELETE FROM cert_audit WHERE id > 5",
			"INSERT INTO cert_audit (id, " + cols + ") SELECT id + 1, " + cols + " FROM tmp_shift",
			"INSERT INTO cert_audit (id, " + cols + ") SELECT 6, " + cols + " FROM tmp_shift WHERE id = 9",
			"DROP TABLE tmp_shift",
		}, false, 6, ProblemBrokenRef},
		{"an event appended by hand is named", []string{
			"INSERT INTO cert_audit (id, " + cols + ") SELECT 11, " + cols + " FROM cert_audit WHERE id = 10",
		}, false, 11, ProblemBrokenRef},
		{"a truncated tail is caught by the checkpoint", []string{"DELETE FROM cert_audit WHERE id > 7"}, true, 8, ProblemTruncated},
		{"a rewritten chain is caught by the checkpoint", nil, true, 10, ProblemRewritten},
	}
	eachBackend(t, func(t *testing.T, backend string) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := mustOpen(t, freshDSN(t, backend))
				ctx := context.Background()
				appendN(t, s, 10)
				cp, err := s.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				tamper(t, s, tc.stmts...)
				if tc.wantKind == ProblemRewritten {
					rewriteFrom(t, s, 4)
					if rep, _ := s.Verify(ctx, nil); rep.Problem != nil {
						t.Fatalf("the rewritten chain should verify without a checkpoint: %v", rep.Problem)
					}
				}
				var cpp *Checkpoint
				if tc.checkpoint {
					cpp = &cp
				}
				rep, err := s.Verify(ctx, cpp)
				if err != nil {
					t.Fatal(err)
				}
				if tc.wantKind == "" {
					if rep.Problem != nil || rep.Events != 10 {
						t.Fatalf("untouched log: %+v %v", rep, rep.Problem)
					}
					return
				}
				if rep.Problem == nil {
					t.Fatalf("tampering not detected (%d events verified)", rep.Events)
				}
				if rep.Problem.Seq != tc.wantSeq || rep.Problem.Kind != tc.wantKind {
					t.Errorf("problem = event %d %s (%s), want event %d %s", rep.Problem.Seq, rep.Problem.Kind, rep.Problem.Detail, tc.wantSeq, tc.wantKind)
				}
				if rep.Head.Count != tc.wantSeq-1 {
					t.Errorf("last good event = %d, want %d", rep.Head.Count, tc.wantSeq-1)
				}
			})
		}
	})
}

// rewriteFrom edits event from and recomputes every later hash, as an attacker
// who knows the format would: only a checkpoint kept elsewhere catches it.
func rewriteFrom(t *testing.T, s *Store, from int64) {
	t.Helper()
	ctx := context.Background()
	var all []Event
	if err := s.Events(ctx, Filter{}, func(e Event) error { all = append(all, e); return nil }); err != nil {
		t.Fatal(err)
	}
	prev := all[from-2].Hash
	tamper(t, s, fmt.Sprintf("DELETE FROM cert_audit WHERE id >= %d", from))
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all[from-1:] {
		if e.Seq == from {
			e.Operator = "mallory"
		}
		e.PrevHash, e.stored = prev, ""
		e.Hash = e.ComputeHash()
		prev = e.Hash
		if err := s.insert(ctx, tx, &e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteFileModes(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "var", "lib", "certrescue")
	path := filepath.Join(dir, "audit.db")
	s := mustOpen(t, path)
	appendN(t, s, 1)
	s.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, path)
	for p, want := range map[string]os.FileMode{dir: DirMode, path: FileMode, path + "-wal": FileMode} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %o, want %o", p, fi.Mode().Perm(), want)
		}
	}
}

func TestOpenFailsClearly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tests := []struct {
		name, dsn, want string
	}{
		{"an unreachable MySQL names the store without its password", "mysql://u:sekrit@127.0.0.1:1/audit?timeout=2s", "mysql://u:xxxxx@tcp(127.0.0.1:1)/audit"},
		{"an unreachable PostgreSQL names the store without its password", "postgres://u:sekrit@127.0.0.1:1/audit?connect_timeout=2", "postgres://u:xxxxx@127.0.0.1:1/audit"},
		{"a SQLite path under a file fails", filepath.Join(os.Args[0], "audit.db"), "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.dsn)
			if err == nil {
				t.Fatal("opened")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sekrit") {
				t.Errorf("error %q: want it to contain %q and no password", err, tc.want)
			}
		})
	}
}

// TestAppendAllIsOneContiguousDurableBatch appends a batch between single
// events: the batch lands contiguously in the chain, which verifies, and a
// batch with one bad event writes nothing.
func TestAppendAllIsOneContiguousDurableBatch(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := mustOpen(t, dsn)
		appendN(t, s, 2)
		batch := []Event{sampleEvent(3), sampleEvent(4), sampleEvent(5)}
		out, err := s.AppendAll(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range out {
			if e.Seq != int64(3+i) {
				t.Errorf("batch event %d got seq %d", i, e.Seq)
			}
			if i > 0 && e.PrevHash != out[i-1].Hash {
				t.Errorf("batch event %d is not chained to the one before", i)
			}
		}
		bad := []Event{sampleEvent(6), {}}
		if _, err := s.AppendAll(ctx, bad); err == nil {
			t.Fatal("a batch with an invalid event was accepted")
		}
		if _, err := s.Append(ctx, sampleEvent(7)); err != nil {
			t.Fatal(err)
		}
		rep, err := s.Verify(ctx, nil)
		if err != nil || rep.Problem != nil || rep.Events != 6 {
			t.Fatalf("verify after batches: %+v, %v (want 6 events, no problem)", rep, err)
		}
	})
}
