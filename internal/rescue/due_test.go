package rescue

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
	"time"

	"github.com/certrescue/certrescue/internal/renewal"
	"github.com/certrescue/certrescue/internal/testpki"
)

// lastThird is a Due rule for the tests: less than a third of the lifetime
// left (internal/due's default, spelled out here so rescue's tests do not
// depend on it).
func lastThird(c *x509.Certificate, now time.Time) bool {
	life := c.NotAfter.Sub(c.NotBefore)
	return !now.Before(c.NotAfter.Add(-life/3)) || now.Before(c.NotBefore)
}

func TestADueRuleRenewsOnlyWhatItFindsDue(t *testing.T) {
	root := node(t, false)
	// The apiserver certificate has 60 of its 360 days left: due by a third
	// of its lifetime, not by the default 30 days.
	testpki.AgeKubeadmTree(t, root, epoch.Add(-300*24*time.Hour), epoch.Add(60*24*time.Hour), testpki.AgeOnly("apiserver"))
	o := options(root, &recorder{}, nil)
	if due, err := Check(o); err != nil || len(due) != 0 {
		t.Fatalf("Check with the 30-day rule: %d due, %v; want none", len(due), err)
	}
	o.Due, o.DueRule = lastThird, "with less than a third of its lifetime left"
	before := files(t, root)
	due, err := Check(o)
	if err != nil || len(due) != 1 || due[0].Role.Name != "apiserver" {
		t.Fatalf("Check: %v, %v; want apiserver only", names(due), err)
	}
	if after := files(t, root); !mapsEqual(before, after) {
		t.Error("Check changed files")
	}

	rec := &recorder{}
	var events []Event
	o = options(root, rec, &events)
	o.Due, o.DueRule = lastThird, "with less than a third of its lifetime left"
	rep, err := Run(context.Background(), o)
	if err != nil || rep.Result != ResultOK {
		t.Fatalf("Run: %q, %v", rep.Result, err)
	}
	if got := names(rep.Due); !slices.Equal(got, []string{"apiserver"}) {
		t.Errorf("due %v, want [apiserver]", got)
	}
	if len(rep.Plan.Items) != 1 || !slices.Equal(rec.calls, []string{"kube-apiserver"}) {
		t.Errorf("renewed %d items, restarted %v; want apiserver and kube-apiserver only", len(rep.Plan.Items), rec.calls)
	}
	for _, e := range events {
		if e.Step == "check" && e.Status == EventOK && e.Detail != "1 due (expired, or with less than a third of its lifetime left)" {
			t.Errorf("check step says %q", e.Detail)
		}
	}
	after := files(t, root)
	for p := range before {
		if before[p] != after[p] && p != "/etc/kubernetes/pki/apiserver.crt" {
			t.Errorf("%s changed: only the apiserver certificate should", p)
		}
	}
	if due, err := Check(o); err != nil || len(due) != 0 {
		t.Errorf("after the run: %v due, %v", names(due), err)
	}
}

func names(cs []renewal.Current) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Role.Name)
	}
	return out
}
