package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestReadOnlyOpenReadsEveryBackendAndWritesNothing opens a log written by
// Open with OpenReadOnly: everything reads, nothing writes, not even a
// statement sent around the store's own methods.
func TestReadOnlyOpenReadsEveryBackendAndWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		w := mustOpen(t, dsn)
		written := appendN(t, w, 5)
		tgt, err := ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		ro, err := OpenReadOnly(ctx, tgt)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		if !ro.ReadOnly() {
			t.Error("ReadOnly() = false")
		}
		rep, err := ro.Verify(ctx, nil)
		if err != nil || !rep.OK() || rep.Events != 5 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		if head, err := ro.Head(ctx); err != nil || head.Hash != written[4].Hash {
			t.Errorf("head %+v %v", head, err)
		}
		if e, err := ro.Event(ctx, 3); err != nil || e != written[2] {
			t.Errorf("event 3: %+v %v", e, err)
		}
		n := 0
		if err := ro.Events(ctx, Filter{}, func(Event) error { n++; return nil }); err != nil || n != 5 {
			t.Errorf("events: %d %v", n, err)
		}
		if _, err := ro.Append(ctx, sampleEvent(6)); !errors.Is(err, ErrReadOnly) {
			t.Errorf("append: %v, want ErrReadOnly", err)
		}
		if err := ro.Probe(ctx); !errors.Is(err, ErrReadOnly) {
			t.Errorf("probe: %v, want ErrReadOnly", err)
		}
		// The session itself refuses writes (SQLite mode=ro and query_only,
		// MySQL SET SESSION TRANSACTION READ ONLY, PostgreSQL
		// default_transaction_read_only), not just the store's methods.
		if _, err := ro.db.ExecContext(ctx, ro.d.rebind(insertSQL), 99, "{}", "x"); err == nil {
			t.Error("an INSERT through the read-only store's connection succeeded")
		}
		if rep, err := w.Verify(ctx, nil); err != nil || !rep.OK() || rep.Events != 5 {
			t.Errorf("after the read-only session: %+v %v", rep, err)
		}
	})
}

// TestReadOnlyOpenCreatesNothing: a missing SQLite log, or a database without
// the table, is ErrNoLog, and neither the file, its directory nor the schema
// appears.
func TestReadOnlyOpenCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "var", "lib", "certrescue")
	tgt, err := ParseDSN(filepath.Join(dir, "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, tgt); !errors.Is(err, ErrNoLog) {
		t.Errorf("missing file: %v, want ErrNoLog", err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory was created: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "audit.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenReadOnly(ctx, tgt); !errors.Is(err, ErrNoLog) {
		t.Errorf("a database without cert_audit: %v, want ErrNoLog", err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
		t.Errorf("the empty database was written: %v %v", fi, err)
	}
	for _, b := range []string{"mysql", "postgres"} {
		t.Run(b, func(t *testing.T) {
			dsn := freshDSN(t, b)
			tgt, err := ParseDSN(dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := OpenReadOnly(ctx, tgt); !errors.Is(err, ErrNoLog) {
				t.Fatalf("empty database: %v, want ErrNoLog", err)
			}
			// Nothing was created: a read-write Open still finds no table
			// and creates it now.
			w := mustOpen(t, dsn)
			if !w.tableExists(ctx) {
				t.Fatal("no table after Open")
			}
		})
	}
}

// TestSQLiteReadOnlyWALIsNeverSkipped: in a directory that cannot be written, a log whose
// newest events are still in audit.db-wal is read through its -wal and -shm
// files (immutable would miss those events), and without audit.db-shm it is
// refused with ErrWALUnreadable rather than read short. Run as a user who
// cannot write the directory (this test re-executes itself as nobody when
// run as root) or on a read-only mount; see also the CLI's bind-mount test.
func TestSQLiteReadOnlyWALIsNeverSkipped(t *testing.T) {
	src := filepath.Join(t.TempDir(), "audit.db")
	s := mustOpen(t, src)
	appendN(t, s, 3)
	// Copy the files while the store is open: its events are in the WAL,
	// as on a node that crashed or was imaged while certrescue ran.
	crashed := t.TempDir()
	for _, suf := range []string{"", "-wal", "-shm"} {
		copyFile(t, src+suf, filepath.Join(crashed, "audit.db"+suf))
	}
	noShm := t.TempDir()
	for _, suf := range []string{"", "-wal"} {
		copyFile(t, src+suf, filepath.Join(noShm, "audit.db"+suf))
	}
	s.Close()
	clean := t.TempDir()
	copyFile(t, src, filepath.Join(clean, "audit.db"))
	if fi, err := os.Stat(filepath.Join(crashed, "audit.db-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("the copy has no WAL content to test with: %v %v", fi, err)
	}
	cases := []struct {
		name, dir string
		want      string
	}{
		{"a log closed cleanly is opened immutable", clean, "access=read-only, immutable (its directory cannot be written) events=3 ok=true"},
		{"events in the WAL are read through the -shm file", crashed, "access=read-only, through its -wal and -shm files events=3 ok=true"},
		{"a WAL without its -shm file is refused, not skipped", noShm, ErrWALUnreadable.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := listDir(t, tc.dir)
			out := readAsUnprivileged(t, tc.dir)
			if !strings.Contains(out, tc.want) {
				t.Errorf("read-only helper said %q, want %q", out, tc.want)
			}
			if after := listDir(t, tc.dir); after != before {
				t.Errorf("the directory changed:\n before %s\n after  %s", before, after)
			}
		})
	}
}

const readOnlyHelper = "read-only"

// readOnlyHelperMain opens the SQLite log CERTRESCUE_AUDIT_HELPER_DSN
// read-only and verifies it, printing how it was opened and what it found.
func readOnlyHelperMain() int {
	tgt, err := ParseDSN(os.Getenv(helperEnv + "_DSN"))
	if err == nil {
		var s *Store
		if s, err = OpenReadOnly(context.Background(), tgt); err == nil {
			defer s.Close()
			var rep Report
			if rep, err = s.Verify(context.Background(), nil); err == nil {
				fmt.Printf("access=%s events=%d ok=%v\n", s.Access(), rep.Events, rep.OK())
				return 0
			}
		}
	}
	fmt.Printf("error: %v\n", err)
	return 1
}

// readAsUnprivileged runs readOnlyHelperMain on dir/audit.db as a user who
// cannot write dir: nobody when the test runs as root (root writes any
// directory whatever its mode), else this user, with the directory 0500.
func readAsUnprivileged(t *testing.T, dir string) string {
	t.Helper()
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+readOnlyHelper, helperEnv+"_DSN="+filepath.Join(dir, "audit.db"))
	if os.Getuid() == 0 {
		const nobody = 65534
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range append(entries, nil) {
			p := dir
			if e != nil {
				p = filepath.Join(dir, e.Name())
			}
			if err := os.Chown(p, nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		// t.TempDir's parent is 0700: let nobody through to dir.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700) //nolint:errcheck // so t.TempDir can remove it
	out, _ := cmd.CombinedOutput()
	return strings.TrimSpace(string(out))
}

// listDir names dir's files with their sizes.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%d ", e.Name(), fi.Size())
	}
	return b.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
