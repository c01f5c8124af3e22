package backup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/nodefs"
)

// damaged backs up nodeTree, then changes three credentials: what a restore
// must put back.
func damaged(t *testing.T) (root string, info *Info, backedUp map[string]string) {
	t.Helper()
	root = nodeTree(t)
	info, err := Create(Options{Root: root, Dir: filepath.Join(root, DefaultDir), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	backedUp = snapshot(t, filepath.Join(root, "etc"))
	for _, p := range []string{"etc/kubernetes/pki/ca.crt", "etc/kubernetes/pki/ca.key", "etc/kubernetes/admin.conf"} {
		if err := os.WriteFile(filepath.Join(root, p), []byte("renewed "+p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root, info, backedUp
}

// crash is what a test's hook panics with to stop a restore as SIGKILL would:
// nothing after the hook runs, no deferred cleanup of a committed set.
type crash struct{}

func restoreUntilCrash(t *testing.T, archive string, o RestoreOptions) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crash); !ok {
				panic(r)
			}
		}
	}()
	_, err := Restore(archive, o)
	t.Fatalf("the restore did not crash: %v", err)
}

// TestARestoreKilledAfterItsFirstRenameIsFinishedByTheNextRun: the journal
// says committing once the files are staged; a crash after one of three
// renames leaves the journal, and the next restore finishes the
// transaction before doing anything else, reporting it.
func TestARestoreKilledAfterItsFirstRenameIsFinishedByTheNextRun(t *testing.T) {
	root, info, backedUp := damaged(t)
	renames := 0
	restoreUntilCrash(t, info.Path, RestoreOptions{Root: root, Now: testNow, afterRename: func(string) {
		if renames++; renames == 1 {
			panic(crash{})
		}
	}})
	n := nodefs.New(root)
	pending := n.Pending(TxnDir)
	if len(pending) != 1 || pending[0].State != nodefs.TxnCommitting || !strings.HasPrefix(pending[0].ID, "restore-") {
		t.Fatalf("after the crash the journal says %+v, want one restore committing", pending)
	}
	if got := snapshot(t, filepath.Join(root, "etc")); maps.Equal(got, backedUp) {
		t.Fatal("the crash came after every rename: the test proves nothing")
	}

	res, err := Restore(info.Path, RestoreOptions{Root: root, Now: testNow.Add(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recovered) != 1 || res.Recovered[0].Outcome != nodefs.TxnFinished || len(res.Recovered[0].Files) != 3 {
		t.Errorf("recovered %+v, want the crashed restore's three files finished", res.Recovered)
	}
	if len(res.Written) != 0 {
		t.Errorf("the second restore wrote %v: the journal had finished everything", res.Written)
	}
	sameSnapshot(t, "/etc", snapshot(t, filepath.Join(root, "etc")), backedUp)
	if p := n.Pending(TxnDir); len(p) != 0 {
		t.Errorf("journals left: %+v", p)
	}
	assertNoTemps(t, root)
}

// TestAnAuditFailureBeforeTheCommitChangesNothing: BeforeCommit (the audit
// intent) gets every path about to change and, failing, abandons the set.
func TestAnAuditFailureBeforeTheCommitChangesNothing(t *testing.T) {
	root, info, _ := damaged(t)
	before := snapshot(t, filepath.Join(root, "etc"))
	var got []string
	var undo *Info
	audit := errors.New("audit store unreachable")
	_, err := Restore(info.Path, RestoreOptions{Root: root, Now: testNow, Undo: &UndoOptions{Dir: filepath.Join(root, DefaultDir), Now: testNow},
		BeforeCommit: func(u *Info, changes []string) error { got, undo = changes, u; return audit }})
	if !errors.Is(err, audit) {
		t.Fatalf("Restore = %v, want the audit error", err)
	}
	want := []string{"/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"}
	if !slices.Equal(got, want) || undo == nil {
		t.Errorf("BeforeCommit got %v (undo %v), want %v and the undo archive", got, undo, want)
	}
	sameSnapshot(t, "/etc", snapshot(t, filepath.Join(root, "etc")), before)
	if p := nodefs.New(root).Pending(TxnDir); len(p) != 0 {
		t.Errorf("journals left: %+v", p)
	}
	assertNoTemps(t, root)
}

// TestACancelledRestoreChangesNothing: SIGINT before the first rename.
func TestACancelledRestoreChangesNothing(t *testing.T) {
	root, info, _ := damaged(t)
	before := snapshot(t, filepath.Join(root, "etc"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Restore(info.Path, RestoreOptions{Root: root, Now: testNow, Context: ctx}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Restore = %v, want it cancelled", err)
	}
	sameSnapshot(t, "/etc", snapshot(t, filepath.Join(root, "etc")), before)
	assertNoTemps(t, root)
}

func TestTxnIDsAreJournalNames(t *testing.T) {
	for _, id := range []string{"certrescue-backup-20260102T030405Z", "my backup (copy)", strings.Repeat("x", 300), "../../etc"} {
		got := txnID(id, testNow)
		if strings.Trim(got, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || strings.Contains(got, "/") || len(got) > 200 {
			t.Errorf("txnID(%q) = %q", id, got)
		}
	}
}

func assertNoTemps(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && (nodefs.IsTemp(d.Name()) || strings.HasPrefix(d.Name(), ".certrescue-restore-")) {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

// TestHelperRestoreProcess is not a test: TestARestoreKilledAtEachStepIsFinished
// runs the test binary again with it selected, and the restore it runs kills
// itself with SIGKILL where CERTRESCUE_KILL_AT says: in the audit intent
// (before the commit) or after the Nth rename.
func TestHelperRestoreProcess(t *testing.T) {
	root, archive := os.Getenv("CERTRESCUE_HELPER_ROOT"), os.Getenv("CERTRESCUE_HELPER_ARCHIVE")
	if root == "" {
		t.Skip("run by TestARestoreKilledAtEachStepIsFinished")
	}
	killAt := os.Getenv("CERTRESCUE_KILL_AT")
	renames := 0
	kill := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	Restore(archive, RestoreOptions{Root: root, Now: testNow,
		BeforeCommit: func(*Info, []string) error {
			if killAt == "intent" {
				kill()
			}
			return nil
		},
		afterRename: func(string) {
			if renames++; killAt == fmt.Sprintf("renamed %d", renames) {
				kill()
			}
		}})
	os.Exit(3) // the kill point was never reached
}

// TestARestoreKilledAtEachStepIsFinished kills a real restore process with
// SIGKILL in the audit intent and after each of its three renames, then
// restores again: the killed run's transaction is abandoned (nothing had
// changed) or finished (the rest renamed), never left half-done, and the
// node ends as the backup holds it with no journal or temporary file left.
func TestARestoreKilledAtEachStepIsFinished(t *testing.T) {
	for _, tt := range []struct {
		at      string
		outcome string
	}{
		{"intent", nodefs.TxnAbandoned},
		{"renamed 1", nodefs.TxnFinished},
		{"renamed 2", nodefs.TxnFinished},
		{"renamed 3", nodefs.TxnFinished},
	} {
		t.Run(tt.at, func(t *testing.T) {
			root, info, backedUp := damaged(t)
			damagedState := snapshot(t, filepath.Join(root, "etc"))
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRestoreProcess$")
			cmd.Env = append(os.Environ(), "CERTRESCUE_HELPER_ROOT="+root, "CERTRESCUE_HELPER_ARCHIVE="+info.Path, "CERTRESCUE_KILL_AT="+tt.at)
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper was not killed: %v", err)
			}
			pending := nodefs.New(root).Pending(TxnDir)
			if len(pending) != 1 {
				t.Fatalf("after the kill: journals %+v, want one", pending)
			}
			if tt.outcome == nodefs.TxnAbandoned {
				// Nothing changed but the staged files beside their targets.
				now := snapshot(t, filepath.Join(root, "etc"))
				maps.DeleteFunc(now, func(rel, _ string) bool { return nodefs.IsTemp(filepath.Base(rel)) })
				sameSnapshot(t, "/etc killed before the commit", now, damagedState)
			}

			res, err := Restore(info.Path, RestoreOptions{Root: root, Now: testNow.Add(1)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Recovered) != 1 || res.Recovered[0].Outcome != tt.outcome {
				t.Errorf("recovered %+v, want the killed restore %s", res.Recovered, tt.outcome)
			}
			sameSnapshot(t, "/etc after the rerun", snapshot(t, filepath.Join(root, "etc")), backedUp)
			if p := nodefs.New(root).Pending(TxnDir); len(p) != 0 {
				t.Errorf("journals left: %+v", p)
			}
			assertNoTemps(t, root)
		})
	}
}
