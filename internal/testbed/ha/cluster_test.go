package ha

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/fleet"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/nodefs"
)

// TestAnHAControlPlaneAndItsPregate starts the testbed and asks the
// pre-gate of the real cluster: open with three members, closed with one
// etcd member stopped (quorum, none to spare), down with two stopped; closed
// when haproxy has no ready API server behind it. Leader election: one
// holder for each lease.
func TestAnHAControlPlaneAndItsPregate(t *testing.T) {
	c := Start(t, Options{})
	first := c.Nodes[0]
	etcdTLS, err := fleet.ClientTLS(nodefs.New(first.Root), layout.PKIDir+"/etcd/ca.crt", layout.PKIDir+"/etcd/healthcheck-client.crt", layout.PKIDir+"/etcd/healthcheck-client.key")
	if err != nil {
		t.Fatal(err)
	}
	ask := func() *fleet.PregateResult {
		t.Helper()
		r, err := fleet.Pregate(context.Background(), fleet.PregateOptions{Endpoints: []string{"https://" + first.Addr + ":2379"},
			Etcd: &fleet.EtcdClient{HTTP: c.HTTPClient(etcdTLS, 5*time.Second)}, LB: c.VIPURL(), LBHTTP: c.HTTPClient(c.ClientTLS, 5*time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	until := func(what string, want fleet.Verdict, reason fleet.Reason) *fleet.PregateResult {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r := ask()
			has := reason == ""
			for _, p := range r.Problems {
				has = has || p.Reason == reason
			}
			if r.Verdict == want && has {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: verdict %s, problems %+v; want %s with %s", what, r.Verdict, r.Problems, want, reason)
			}
			time.Sleep(time.Second)
		}
	}
	r := until("three healthy members", fleet.Open, "")
	if r.Voting != 3 || r.Healthy != 3 || r.Quorum != 2 || r.Spare != 1 || r.Leader == "" || len(r.Members) != 3 || !r.LB.Ready {
		t.Fatalf("%+v", r)
	}
	names := map[string]bool{}
	for _, m := range r.Members {
		names[m.Name] = true
		if len(m.PeerURLs) != 1 || !strings.HasPrefix(m.PeerURLs[0], "https://10.77.0.1") {
			t.Errorf("member %s peer URLs %v: want its own address over TLS", m.Name, m.PeerURLs)
		}
	}
	if !names["cp1"] || !names["cp2"] || !names["cp3"] {
		t.Errorf("members %v", names)
	}
	for _, lease := range []string{"kube-controller-manager", "kube-scheduler"} {
		out, err := first.Kubectl(context.Background(), c.Bin("kubectl"), "super-admin.conf", "-n", "kube-system", "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}")
		if err != nil || !strings.HasPrefix(out, "cp") {
			t.Errorf("lease %s: holder %q (%v)", lease, out, err)
		}
	}

	// The leader hands its leadership off; a follower has nothing to do.
	var leader, follower *Node
	for _, m := range r.Members {
		for _, n := range c.Nodes {
			if n.Name == m.Name && m.ID == r.Leader {
				leader = n
			} else if n.Name == m.Name {
				follower = n
			}
		}
	}
	ec := &fleet.EtcdClient{HTTP: c.HTTPClient(etcdTLS, 5*time.Second)}
	h, err := fleet.Handoff(context.Background(), ec, "https://"+follower.Addr+":2379", clock.Real{}, time.Minute)
	if err != nil || h.Moved {
		t.Fatalf("handoff on a follower: %+v %v", h, err)
	}
	h, err = fleet.Handoff(context.Background(), ec, "https://"+leader.Addr+":2379", clock.Real{}, time.Minute)
	if err != nil || !h.Moved || h.Self != leader.Name || h.To == leader.Name || h.To == "" {
		t.Fatalf("handoff on the leader %s: %+v %v", leader.Name, h, err)
	}
	after := until("after the handoff", fleet.Open, "")
	for _, m := range after.Members {
		if m.ID == after.Leader && m.Name != h.To {
			t.Errorf("the members name %s the leader after the handoff to %s", m.Name, h.To)
		}
	}

	if _, err := c.Nodes[2].Sup.Ctl("stop", "etcd"); err != nil {
		t.Fatal(err)
	}
	r = until("cp3's etcd stopped", fleet.Closed, fleet.ReasonEtcdNoSpare)
	if r.Healthy != 2 || r.Spare != 0 {
		t.Errorf("%+v", r)
	}
	if _, err := c.Nodes[1].Sup.Ctl("stop", "etcd"); err != nil {
		t.Fatal(err)
	}
	until("cp2's and cp3's etcd stopped", fleet.Down, fleet.ReasonEtcdNoQuorum)
	for _, n := range c.Nodes[1:] {
		if _, err := n.Sup.Ctl("start", "etcd"); err != nil {
			t.Fatal(err)
		}
	}
	until("every member back", fleet.Open, "")

	for _, n := range c.Nodes {
		if _, err := n.Sup.Ctl("stop", "kube-apiserver"); err != nil {
			t.Fatal(err)
		}
	}
	r = until("no API server behind the VIP", fleet.Closed, fleet.ReasonLBNotReady)
	if r.LB.Ready || r.Healthy != 3 {
		t.Errorf("%+v", r.LB)
	}
	for _, n := range c.Nodes {
		if _, err := n.Sup.Ctl("start", "kube-apiserver"); err != nil {
			t.Fatal(err)
		}
	}
	until("the API servers back", fleet.Open, "")
	t.Logf("FIGURE HA testbed RSS after the test: %.0f MiB", float64(c.RSS())/(1<<20))
}
