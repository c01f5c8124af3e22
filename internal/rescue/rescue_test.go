package rescue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/facts"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/restart"
)

func TestRescueRenewsThenRestartsInOrderWithAGateAfterEach(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	root := node(t, true)
	rec := &recorder{}
	var events []Event
	rep, err := Run(context.Background(), options(root, rec, &events))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != ResultOK || len(rep.Due) != 13 {
		t.Errorf("result %q, %d due", rep.Result, len(rep.Due))
	}
	if !slices.Equal(rec.calls, layout.RestartOrder) {
		t.Errorf("restarts %v, want %v", rec.calls, layout.RestartOrder)
	}
	if err := allRenewed(root); err != nil {
		t.Error(err)
	}
	// Each restart is followed by its gate before the next restart.
	var order []string
	actions := map[facts.Action]int{}
	for _, e := range events {
		if e.Status == EventOK && (e.Step == "restart" || e.Step == "gate") && e.Action == "" {
			order = append(order, e.Step+" "+e.Component)
		}
		if e.Action != "" {
			actions[e.Action]++
		}
	}
	want := []string{"restart etcd", "gate etcd", "restart kube-apiserver", "gate kube-apiserver",
		"restart kube-controller-manager", "gate kube-controller-manager", "restart kube-scheduler", "gate kube-scheduler", "restart kubelet", "gate kubelet"}
	if !slices.Equal(order, want) {
		t.Errorf("steps:\n%v\nwant:\n%v", order, want)
	}
	if actions[facts.ActionRenew] != 13 || actions[facts.ActionBackup] != 1 || actions[facts.ActionRestart] != 5 || actions[facts.ActionDeploy] == 0 {
		t.Errorf("audit events %v", actions)
	}
	for _, p := range []string{layout.PKIDir + "/apiserver.key", "/etc/kubernetes/admin.conf", StateDir + "/rescue.journal", StateDir + "/rescue.lock"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v under umask 000, want 0600 (%v)", p, fi.Mode().Perm(), err)
		}
	}

	// A second rescue finds nothing to do.
	rep, err = Run(context.Background(), options(root, &recorder{}, nil))
	if err != nil || rep.Result != ResultNothingToDo {
		t.Errorf("second run: %q, %v", rep.Result, err)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	root := node(t, true)
	before := files(t, root)
	o := options(root, &recorder{}, nil)
	o.DryRun = true
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultDryRun || rep.Plan == nil || len(rep.Plan.Items) != 13 {
		t.Fatalf("dry run: %+v, %v", rep, err)
	}
	if after := files(t, root); !mapsEqual(before, after) {
		t.Error("the dry run changed files")
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/certrescue")); err == nil {
		t.Error("the dry run created certrescue's state directory")
	}
}

func TestRestartNoneRenewsAndSaysWhatToRestart(t *testing.T) {
	root := node(t, true)
	var events []Event
	o := options(root, nil, &events)
	o.Restarter, o.Manual = restart.NoneRestarter{}, true
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultManualRestart {
		t.Fatalf("%q, %v", rep.Result, err)
	}
	var skipped []string
	for _, e := range events {
		if e.Step == "restart" && e.Status == EventSkip {
			skipped = append(skipped, e.Component)
		}
	}
	if !slices.Equal(skipped, layout.RestartOrder) {
		t.Errorf("to restart by hand: %v", skipped)
	}
}

func TestAFailedGateRollsBackEveryFileByteForByte(t *testing.T) {
	root := node(t, false) // healthy, so that the rolled-back node is healthy again
	before := files(t, root)
	rec := &recorder{}
	var events []Event
	o := options(root, rec, &events)
	o.All = true
	o.BeforeDeploy = breakAPIServerSANs(t, root)
	rep, err := Run(context.Background(), o)
	if err == nil || rep.Result != ResultRolledBack {
		t.Fatalf("result %q, err %v; want rolled-back", rep.Result, err)
	}
	if !strings.Contains(err.Error(), "health gate of kube-apiserver failed") || !strings.Contains(err.Error(), "not valid for 10.0.0.1") {
		t.Errorf("the error does not say what failed: %v", err)
	}
	identicalToBackup(t, root, rep.Backup.Path)
	if after := files(t, root); !mapsEqual(before, after) {
		t.Error("files differ from before the rescue")
	}
	// etcd and the API server were restarted, rolled back, restarted again.
	want := []string{"etcd", "kube-apiserver", "etcd", "kube-apiserver"}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("restarts %v, want %v", rec.calls, want)
	}
	var healthyAgain int
	for _, e := range events {
		if e.Step == "gate" && e.Status == EventOK {
			healthyAgain++
		}
	}
	if healthyAgain != 3 { // etcd; then etcd and the API server after the rollback
		t.Errorf("%d gates passed, want 3", healthyAgain)
	}
}

func TestAFailedRestartRollsBack(t *testing.T) {
	for _, tt := range []struct {
		name     string
		failOnce bool
		want     string
	}{
		{"and restarts on the old credentials", true, ResultRolledBack},
		{"and says so when the component still does not come back", false, ResultFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := node(t, true)
			before := files(t, root)
			rec := &recorder{fail: map[string]error{layout.KubeScheduler: errors.New("exit status 1: unit not found")}, failOnce: tt.failOnce}
			o := options(root, rec, nil)
			o.Gates = nil // the expired originals could not pass a gate after the rollback
			rep, err := Run(context.Background(), o)
			if err == nil || rep.Result != tt.want || !strings.Contains(err.Error(), "restart kube-scheduler: exit status 1: unit not found") {
				t.Fatalf("result %q, err %v", rep.Result, err)
			}
			if after := files(t, root); !mapsEqual(before, after) {
				t.Error("files differ from before the rescue")
			}
			want := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
			if !slices.Equal(rec.calls, want) {
				t.Errorf("restarts %v", rec.calls)
			}
		})
	}
}

func TestASecondConcurrentRescueIsRefused(t *testing.T) {
	root := node(t, true)
	before := files(t, root)
	l, err := takeLock(filepath.Join(root, StateDir, "rescue.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.release()
	_, err = Run(context.Background(), options(root, &recorder{}, nil))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "process") {
		t.Fatalf("err = %v, want ErrLocked naming the holder", err)
	}
	if after := files(t, root); !mapsEqual(before, after) {
		t.Error("the refused rescue changed files")
	}
}

func TestJournalIgnoresATornLastLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j")
	os.WriteFile(p, []byte(`{"run":"a","step":"begin"}`+"\n"+`{"run":"a","step":"backup","status":"done","backup":"/b"}`+"\n"+`{"run":"a","st`), 0o600)
	recs, err := lastRun(p)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	os.WriteFile(p, []byte(`{"run":"a","step":"begin"}`+"\nnot json\n"+`{"run":"a","step":"end"}`+"\n"), 0o600)
	if _, err := lastRun(p); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a damaged middle line: err = %v", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// downOnce is a component that fell over while the broken credentials were
// live: its first probe fails, later ones pass.
type downOnce struct{ calls *int }

func (d downOnce) Check(context.Context) error {
	*d.calls++
	if *d.calls == 1 {
		return errors.New("connection refused")
	}
	return nil
}

func TestARollbackRestartsAComponentThatFellOver(t *testing.T) {
	root := node(t, false)
	rec := &recorder{}
	o := options(root, rec, nil)
	o.All = true
	o.BeforeDeploy = breakAPIServerSANs(t, root)
	calls := 0
	o.Gates[layout.KubeScheduler][0].Probe = downOnce{&calls}
	rep, err := Run(context.Background(), o)
	if err == nil || rep.Result != ResultRolledBack {
		t.Fatalf("result %q, err %v", rep.Result, err)
	}
	want := []string{"etcd", "kube-apiserver", "etcd", "kube-apiserver", "kube-scheduler"}
	if !slices.Equal(rec.calls, want) {
		t.Errorf("restarts %v, want %v", rec.calls, want)
	}
}

// TestDiskFullDuringTheBackupTouchesNothing backs up onto a 64 KiB tmpfs the
// kernel fills for real (mounting needs root): the rescue stops before
// changing anything.
func TestDiskFullDuringTheBackupTouchesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	root := node(t, true)
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	// Fill most of it, so the archive of the node cannot fit.
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 56<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	before := files(t, root)
	rec := &recorder{}
	o := options(root, rec, nil)
	o.BackupDir = filepath.Join(mnt, "backups")
	rep, err := Run(context.Background(), o)
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("err = %v, want a disk-full error saying nothing was changed", err)
	}
	if rep.Backup != nil || len(rec.calls) != 0 {
		t.Errorf("backup %v, restarts %v after a failed backup", rep.Backup, rec.calls)
	}
	if after := files(t, root); !mapsEqual(before, after) {
		t.Error("the node changed although the backup failed")
	}
	if des, _ := os.ReadDir(filepath.Join(mnt, "backups")); len(des) != 0 {
		t.Errorf("%d files left in the backups directory", len(des))
	}
	// The journal records the run as abandoned: a rerun starts afresh.
	recs, _ := lastRun(filepath.Join(root, StateDir, "rescue.journal"))
	if st := summarise(recs); !st.ended {
		t.Error("the failed run is not closed in the journal")
	}
}
