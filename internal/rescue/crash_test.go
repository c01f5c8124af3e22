package rescue

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certrescue/certrescue/internal/layout"
)

// TestHelperRescueProcess is not a test: TestKilledAtEveryStepBoundary runs the
// test binary again with it selected, and the rescue it runs kills itself with
// SIGKILL at the step boundary named in CERTRESCUE_KILL_AT.
func TestHelperRescueProcess(t *testing.T) {
	root := os.Getenv("CERTRESCUE_HELPER_ROOT")
	if root == "" {
		t.Skip("run by TestKilledAtEveryStepBoundary")
	}
	killAt := os.Getenv("CERTRESCUE_KILL_AT")
	o := options(root, &recorder{}, nil)
	if os.Getenv("CERTRESCUE_BREAK") == "1" {
		o.All = true
		o.BeforeDeploy = breakAPIServerSANs(t, root)
	}
	o.AfterStep = func(step string) {
		if step == killAt {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
	Run(context.Background(), o)
	os.Exit(3) // the boundary was never reached
}

// TestKilledAtEveryStepBoundary kills a rescue with SIGKILL at each step
// boundary, then reruns it: the rerun completes (every certificate renewed)
// or, for a rescue killed while rolling back, finishes the rollback (every
// file as in the backup). Never a mix of old and new files.
func TestKilledAtEveryStepBoundary(t *testing.T) {
	tests := []struct {
		at       string
		broken   bool // the API server's renewed SANs are broken: the gate fails and the rescue rolls back
		rollBack bool // the rerun finishes a rollback rather than completing
	}{
		{at: "locked"},
		{at: "backed-up"},
		{at: "deploy-started"},
		{at: "renamed " + layout.PKIDir + "/apiserver.crt"}, // the first file
		{at: "renamed /etc/kubernetes/admin.conf"},          // half-way
		{at: "deployed"},
		{at: "restarted etcd"},
		{at: "healthy etcd"},
		{at: "restarted kube-apiserver"},
		{at: "healthy kube-scheduler"},
		{at: "done"},
		{at: "rollback-started", broken: true, rollBack: true},
		{at: "restored", broken: true, rollBack: true},
	}
	for _, tt := range tests {
		t.Run(tt.at, func(t *testing.T) {
			root := node(t, !tt.broken)
			before := files(t, root)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRescueProcess$")
			cmd.Env = append(os.Environ(), "CERTRESCUE_HELPER_ROOT="+root, "CERTRESCUE_KILL_AT="+tt.at)
			if tt.broken {
				cmd.Env = append(cmd.Env, "CERTRESCUE_BREAK=1")
			}
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper was not killed at %q: %v\n%s", tt.at, err, out)
			}

			rec := &recorder{}
			var events []Event
			rep, err := Run(context.Background(), options(root, rec, &events))
			if tt.rollBack {
				if err == nil || rep.Result != ResultRolledBack {
					t.Fatalf("rerun: %q, %v; want the rollback finished", rep.Result, err)
				}
				if after := files(t, root); !mapsEqual(before, after) {
					t.Error("after the finished rollback, files differ from before the rescue")
				}
				return
			}
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			if err := allRenewed(root); err != nil {
				t.Errorf("after the rerun: %v", err)
			}
			if tt.at != "done" && !slices.Equal(rec.calls, layout.RestartOrder) {
				t.Errorf("rerun restarted %v, want %v", rec.calls, layout.RestartOrder)
			}
			matches, _ := filepath.Glob(filepath.Join(root, layout.PKIDir, ".*"))
			if len(matches) > 0 {
				t.Errorf("temporary files left behind: %v", matches)
			}
			for _, e := range events {
				if e.Step == "recover" {
					t.Logf("recover: %s", e.Detail)
				}
			}
			if strings.HasPrefix(tt.at, "renamed") && !strings.Contains(rep.Recovered, "part-way") {
				t.Errorf("recovered = %q, want a rollback of the half deployment", rep.Recovered)
			}
		})
	}
}
