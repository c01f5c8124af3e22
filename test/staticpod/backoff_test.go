package staticpod

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestRescueStaticPodsInBackOff: the certificates expired, and the
// controller-manager's and scheduler's containers keep exiting, so the
// kubelet holds them in its crash-loop back-off and `crictl ps --state
// running` finds no container of theirs. The rescue still restarts them (it
// removes their pod sandboxes, which the kubelet recreates at once) and ends
// ok, every gate passed.
//
// The exits are the test's (crictl stop whenever one runs, until the
// kubelet's back-off holds both): on this kubelet v1.37.2 plane the two keep
// running on expired credentials (their readiness fails, their liveness
// probe on /healthz passes), so they would not crash-loop by themselves
// within a test's time.
func TestRescueStaticPodsInBackOff(t *testing.T) {
	bin := certrescue(t)
	n := startNode(t)
	n.BindAdmins()
	n.ExpireAll()
	looping := []string{"kube-controller-manager", "kube-scheduler"}
	start := time.Now()
	testbed.Eventually(t, "the controller-manager and scheduler in the kubelet's back-off", 4*time.Minute, func() error {
		for _, c := range looping {
			st, err := containerStates(n, c)
			if err != nil {
				return err
			}
			if st.running != "" {
				if out, err := n.CrictlCmd("stop", "--timeout", "0", st.running); err != nil {
					return fmt.Errorf("crictl stop %s: %w: %s", c, err, out)
				}
				return fmt.Errorf("%s ran (attempt %d): stopped it", c, st.attempt)
			}
			if st.attempt < 2 {
				return fmt.Errorf("%s at attempt %d", c, st.attempt)
			}
		}
		return nil
	})
	t.Logf("crash-looping %.1fs after the restart on expired certificates", time.Since(start).Seconds())
	ps, _ := n.CrictlCmd("ps", "-a")
	t.Logf("crictl ps -a before the rescue:\n%s", ps)
	out, err := onNode(n, bin, "rescue", "--restart", "static-pod")
	t.Logf("certrescue rescue --restart static-pod:\n%s", out)
	if err != nil || !strings.Contains(out, "result: ok") {
		t.Fatalf("rescue: %v", err)
	}
	for _, c := range looping {
		if !strings.Contains(out, "restart  "+c) {
			t.Errorf("the rescue did not restart %s", c)
		}
	}
	testbed.Eventually(t, "the API server ready with admin.conf after the rescue", time.Minute, func() error { return n.Ready("admin.conf") })
}

type states struct {
	running string // the running container's ID, if one runs
	attempt int    // the highest attempt the kubelet has made
}

func containerStates(n *testbed.StaticPodNode, c string) (states, error) {
	out, err := n.CrictlCmd("ps", "-a", "--name", "^"+c+"$", "-o", "json")
	if err != nil {
		return states{}, fmt.Errorf("crictl ps -a: %w: %s", err, out)
	}
	var ps struct {
		Containers []struct {
			ID       string `json:"id"`
			State    string `json:"state"`
			Metadata struct {
				Attempt int `json:"attempt"`
			} `json:"metadata"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		return states{}, fmt.Errorf("crictl ps -a -o json: %w", err)
	}
	var st states
	for _, k := range ps.Containers {
		if k.State == "CONTAINER_RUNNING" {
			st.running = k.ID
		}
		st.attempt = max(st.attempt, k.Metadata.Attempt)
	}
	return st, nil
}
