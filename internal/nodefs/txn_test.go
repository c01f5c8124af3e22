package nodefs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2030, 1, 15, 12, 0, 0, 0, time.UTC)

// crashAfter leaves what a journaled WriteSet killed at that point leaves
// (a kill runs no deferred cleanup, so the steps are taken one by one):
// renames < 0, killed while staging; otherwise killed after that many renames.
func crashAfter(t *testing.T, n *FS, puts []Put, renames int) {
	t.Helper()
	ts, err := n.precheck(puts, true)
	must(t, err)
	for i := range ts {
		ts[i].tmp = ts[i].resolved[:strings.LastIndex(ts[i].resolved, "/")+1] + tempName(ts[i].resolved[strings.LastIndex(ts[i].resolved, "/")+1:])
	}
	txn := &Txn{ID: "t1", Command: "renew all", Started: t0, Dir: "/var/lib/certrescue/txn"}
	jp, j, err := n.beginTxn(txn, ts)
	must(t, err)
	r, err := n.osRoot()
	must(t, err)
	for i := range ts {
		must(t, n.stage(r, &ts[i], true))
		must(t, ts[i].file.Close())
	}
	if renames < 0 {
		return
	}
	must(t, n.commitPoint(context.Background(), WriteOptions{}, jp, j))
	for i := 0; i < renames; i++ {
		must(t, r.Rename(rel(ts[i].tmp), rel(ts[i].resolved)))
	}
}

func TestRecoverFinishesACommittingTransactionAndAbandonsAStagingOne(t *testing.T) {
	for _, tc := range []struct {
		name    string
		renames int
		want    string
		newData bool
	}{
		{"killed before the commit point", -1, TxnAbandoned, false},
		{"killed after the first of three renames", 1, TxnFinished, true},
		{"killed after the second of three renames", 2, TxnFinished, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, _ := tree(t)
			n := New(root)
			var puts []Put
			for _, f := range []string{"a.crt", "a.key", "b.conf"} {
				must(t, os.WriteFile(filepath.Join(root, "etc/kubernetes/pki", f), []byte("old "+f), 0o600))
				puts = append(puts, Put{Path: "/etc/kubernetes/pki/" + f, Data: []byte("new " + f), Mode: 0o600})
			}
			crashAfter(t, n, puts, tc.renames)
			if p := n.Pending("/var/lib/certrescue/txn"); len(p) != 1 || p[0].ID != "t1" || p[0].Command != "renew all" {
				t.Fatalf("pending %+v", p)
			}
			rec := New(root).Recover("/var/lib/certrescue/txn")
			if len(rec) != 1 || rec[0].Err != nil || rec[0].Outcome != tc.want {
				t.Fatalf("recovered %+v, want %s", rec, tc.want)
			}
			for _, p := range puts {
				b, _ := os.ReadFile(filepath.Join(root, p.Path))
				if got := strings.HasPrefix(string(b), "new"); got != tc.newData {
					t.Errorf("%s holds %q after recovery", p.Path, b)
				}
			}
			if entries, _ := os.ReadDir(filepath.Join(root, "etc/kubernetes/pki")); len(entries) != 4 { // ca.crt + 3
				t.Errorf("left in pki: %v", entries)
			}
			if p := New(root).Pending("/var/lib/certrescue/txn"); len(p) != 0 {
				t.Errorf("still pending: %+v", p)
			}
		})
	}
}

func TestRecoverWaitsForARunningTransaction(t *testing.T) {
	root, _ := tree(t)
	n := New(root)
	must(t, os.WriteFile(filepath.Join(root, "etc/kubernetes/pki/a.crt"), []byte("old"), 0o600))
	crashAfter(t, n, []Put{{Path: "/etc/kubernetes/pki/a.crt", Data: []byte("new"), Mode: 0o600}}, -1)
	unlock, err := n.LockTxnDir("/var/lib/certrescue/txn") // as a running WriteSet holds it
	must(t, err)
	done := make(chan []Recovered)
	go func() { done <- New(root).Recover("/var/lib/certrescue/txn") }()
	select {
	case r := <-done:
		t.Fatalf("Recover did not wait for the running transaction: %+v", r)
	case <-time.After(200 * time.Millisecond): // it waits on the lock: nothing to measure
	}
	if len(n.Pending("/var/lib/certrescue/txn")) != 1 {
		t.Fatal("the running transaction's journal was touched")
	}
	unlock()
	if r := <-done; len(r) != 1 || r[0].Outcome != TxnAbandoned {
		t.Fatalf("after the lock: %+v", r)
	}
}

func TestAJournalThatPointsElsewhereIsRefused(t *testing.T) {
	root, _ := tree(t)
	dir := filepath.Join(root, "var/lib/certrescue/txn")
	must(t, os.MkdirAll(dir, 0o700))
	for name, body := range map[string]string{
		"temp-elsewhere": `{"version":1,"id":"x","state":"committing","files":[{"path":"/etc/shadow","target":"/etc/shadow","temp":"/tmp/.shadow.certrescue-tmp.00","sha256":"00"}]}`,
		"not-a-temp":     `{"version":1,"id":"y","state":"committing","files":[{"path":"/etc/a","target":"/etc/a","temp":"/etc/passwd","sha256":"00"}]}`,
		"bad-state":      `{"version":1,"id":"z","state":"done","files":[]}`,
		"not-json":       `{`,
	} {
		must(t, os.WriteFile(filepath.Join(dir, journalPrefix+name+journalSuffix), []byte(body), 0o600))
	}
	for _, r := range New(root).Recover("/var/lib/certrescue/txn") {
		if r.Err == nil {
			t.Errorf("%s: recovered (%s), want refused", r.Journal, r.Outcome)
		}
	}
}

func FuzzReadJournal(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"t","command":"renew all","started":"2030-01-15T12:00:00Z","state":"committing","files":[{"path":"/a","target":"/a","temp":"/.a.certrescue-tmp.01","sha256":"00"}]}`))
	f.Add([]byte(`{"state":"staging"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		root := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(root, "txn"), 0o700))
		must(t, os.WriteFile(filepath.Join(root, "txn", journalPrefix+"f"+journalSuffix), data, 0o600))
		n := New(root)
		defer n.Close()
		for _, r := range n.Recover("/txn") {
			_ = r // never panics; whatever it did stays inside root (a temp dir)
		}
	})
}
