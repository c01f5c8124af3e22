package kubelet

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/testbed"
)

// TestHollowKubeletsRegisterUnderTheirOwnNodeIdentity starts three workers;
// each registers its Node with its own system:node certificate and goes
// Ready, and the Node authorizer with NodeRestriction holds each to its own
// Node.
func TestHollowKubeletsRegisterUnderTheirOwnNodeIdentity(t *testing.T) {
	p := newPlane(t)
	start := time.Now()
	ws := p.workers(t, 3, testbed.KubeletOptions{})
	for _, w := range ws {
		took := p.waitNode(t, w.Name, "Ready", 4*time.Minute, readyAfter(start))
		fmt.Printf("FIGURE hollow-kubelet-ready node=%s seconds=%.1f (since the kubelets started: %.1f)\n", w.Name, took.Seconds(), time.Since(start).Seconds())
	}
	w1 := ws[0]
	out, err := w1.Sup.Exec(p.kctl, "--kubeconfig", testbed.KubeletConf, "--cache-dir", t.TempDir(), "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
	if err != nil || !strings.Contains(out, "system:node:"+w1.Name+" ") || !strings.Contains(out, "system:nodes") {
		t.Fatalf("%s's kubelet.conf is %q (%v), want system:node:%s in system:nodes", w1.Name, out, err, w1.Name)
	}
	out, err = w1.Sup.Exec(p.kctl, "--kubeconfig", testbed.KubeletConf, "--cache-dir", t.TempDir(), "label", "node", ws[1].Name, "certrescue-test=1")
	if err == nil || !strings.Contains(out, "forbidden") {
		t.Fatalf("%s labelled %s's Node (%v): %s; the Node authorizer and NodeRestriction should forbid it", w1.Name, ws[1].Name, err, out)
	}
}
