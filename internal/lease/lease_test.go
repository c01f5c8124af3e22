package lease

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/testbed"
	"github.com/certrescue/certrescue/internal/testpki"
)

// These tests run against the testbed's real etcd and kube-apiserver: the
// Lease's optimistic concurrency is the API server's.

func credentials(t *testing.T, api *testbed.APIServer, user string) Credentials {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(api.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if user != "certrescue-test-admin" {
		api.UserKubeconfig(t, user)
	}
	return Credentials{Server: api.URL, CA: read("ca.crt"), Cert: read("user-" + user + ".crt"), Key: read("user-" + user + ".key"), RequestTimeout: 30 * time.Second}
}

func client(t *testing.T, c Credentials) Options {
	t.Helper()
	cl, err := Client(c)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Client: cl, Namespace: "kube-system", Name: "certrescue-renew", Duration: 10 * time.Minute}
}

func TestTwoNodesTakeTheLeaseInTurn(t *testing.T) {
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	base := client(t, credentials(t, api, "certrescue-test-admin"))
	base.Clock = fake
	a, b := base, base
	a.Holder, b.Holder = "cp-1", "cp-2"

	ha, err := Acquire(ctx, a)
	if err != nil {
		t.Fatalf("cp-1 takes a new Lease: %v", err)
	}
	if !ha.Until().Equal(fake.Now().Add(10 * time.Minute)) {
		t.Errorf("held until %s", ha.Until())
	}
	_, err = Acquire(ctx, b)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "cp-1" || !held.Until.Equal(ha.Until()) {
		t.Fatalf("cp-2 while cp-1 holds it: %v, want a HeldError naming cp-1 until %s", err, ha.Until())
	}
	if _, err := Acquire(ctx, a); err != nil {
		t.Errorf("cp-1 takes its own Lease again: %v", err)
	}

	// cp-1 died holding it: once its duration has run out, cp-2 takes over.
	fake.Advance(10*time.Minute + time.Second)
	hb, err := Acquire(ctx, b)
	if err != nil {
		t.Fatalf("cp-2 after cp-1's Lease ran out: %v", err)
	}
	l, err := base.Client.Leases("kube-system").Get(ctx, "certrescue-renew", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *l.Spec.HolderIdentity != "cp-2" || *l.Spec.LeaseTransitions != 1 || *l.Spec.LeaseDurationSeconds != 600 ||
		!l.Spec.AcquireTime.Time.Equal(fake.Now()) {
		t.Errorf("Lease after the takeover: %+v", l.Spec)
	}
	// cp-1's late release leaves cp-2's Lease alone.
	if err := ha.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, a); !errors.As(err, &held) || held.Holder != "cp-2" {
		t.Fatalf("cp-1 after its stale release: %v, want held by cp-2", err)
	}
	if err := hb.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, a); err != nil {
		t.Errorf("cp-1 after cp-2 released it: %v", err)
	}
}

func TestARaceHasOneWinner(t *testing.T) {
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	fake := clock.NewFake(time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
	for round := range 3 {
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			o := client(t, credentials(t, api, "certrescue-test-admin"))
			o.Clock, o.Holder = fake, "cp-"+string(rune('a'+i))
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = Acquire(context.Background(), o)
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			var held *HeldError
			switch {
			case err == nil:
				won++
			case !errors.As(err, &held):
				t.Errorf("round %d, cp-%c: %v, want a HeldError", round, 'a'+i, err)
			}
		}
		if won != 1 {
			t.Errorf("round %d: %d holders at once, want 1 (%v)", round, won, errs)
		}
		fake.Advance(11 * time.Minute) // the winner's Lease runs out
	}
}

func TestAnAPIServerThatDoesNotAnswerIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ca := testpki.MustCA(t)
	leaf := testpki.MustLeaf(t, ca)
	o := client(t, Credentials{Server: "https://" + addr, CA: testpki.CertPEM(ca.Cert), Cert: testpki.CertPEM(leaf.Cert), Key: testpki.KeyPEM(t, leaf.Key), RequestTimeout: 5 * time.Second})
	o.Clock, o.Holder = clock.NewFake(time.Now()), "cp-1"
	_, err = Acquire(context.Background(), o)
	var un *UnreachableError
	if !errors.As(err, &un) {
		t.Errorf("closed port: %v, want an UnreachableError", err)
	}
}

func TestCredentialsTheAPIServerRefusesAreUnreachableButForbiddenIsAnError(t *testing.T) {
	api := testbed.StartAPIServer(t, testbed.APIServerOptions{})
	ctx := context.Background()
	fake := clock.NewFake(time.Now())

	// A client certificate of another CA: 401.
	other := testpki.MustCA(t)
	leaf := testpki.MustLeaf(t, other, testpki.WithValidity(time.Now().Add(-time.Hour), time.Now().Add(time.Hour)))
	c := credentials(t, api, "certrescue-test-admin")
	c.Cert, c.Key = testpki.CertPEM(leaf.Cert), testpki.KeyPEM(t, leaf.Key)
	o := client(t, c)
	o.Clock, o.Holder = fake, "cp-1"
	var un *UnreachableError
	if _, err := Acquire(ctx, o); !errors.As(err, &un) {
		t.Errorf("a certificate of another CA: %v, want an UnreachableError", err)
	}

	// A user RBAC gives nothing: 403, the API answered.
	o = client(t, credentials(t, api, "nobody"))
	o.Clock, o.Holder = fake, "cp-1"
	_, err := Acquire(ctx, o)
	if err == nil || errors.As(err, &un) {
		t.Errorf("a user without rights: %v, want a plain error", err)
	}
}
