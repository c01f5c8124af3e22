package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/certrescue/certrescue/internal/clock"
	"github.com/certrescue/certrescue/internal/inventory"
)

// apiClient is how gates reach the API server: its local base URL and the
// TLS configuration of the client ForNode chose for its gate.
type apiClient struct {
	base    string
	tls     func() (*tls.Config, error)
	who     string
	caPaths []string
	client  *cred
}

// LeaseProbe passes when the component's leader Lease is held by a process
// other than the one that held it when Prepare ran (the restarted one), as
// read from the API server with client-go. A controller-manager or scheduler
// answering /healthz is not yet doing its work: it must hold the lease.
type LeaseProbe struct {
	Namespace, Name string
	Base            string
	TLS             func() (*tls.Config, error)
	Clock           clock.Clock // the wall clock; clock.Real when nil
	// Node is this node's hostname: a lease whose holder is NODE_* and was
	// the holder before the restart belonged to the process the restart
	// stopped, and is released (as the process itself would on a graceful
	// stop) so that the new one need not wait out the lease duration. A
	// lease held by another node is never touched. "" releases nothing.
	Node string

	mu     sync.Mutex
	before string    // holder when Prepare ran
	since  time.Time // when Prepare ran
}

// client is a coordination/v1 REST client that knows nothing but Lease: not
// client-go's clientset, whose scheme package registers every API group at
// the start of every certrescue command (see secrets.NewClient).
func (p *LeaseProbe) client() (rest.Interface, error) {
	cfg, err := p.TLS()
	if err != nil {
		return nil, err
	}
	s := runtime.NewScheme()
	gv := coordinationv1.SchemeGroupVersion
	s.AddKnownTypes(gv, &coordinationv1.Lease{})
	metav1.AddToGroupVersion(s, gv)
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, Proxy: nil}
	return rest.RESTClientFor(&rest.Config{Host: p.Base, APIPath: "/apis", Transport: tr, Timeout: 5 * time.Second,
		UserAgent: "certrescue-lease-gate", ContentConfig: rest.ContentConfig{GroupVersion: &gv,
			NegotiatedSerializer: serializer.NewCodecFactory(s).WithoutConversion()}})
}

func (p *LeaseProbe) holder(ctx context.Context) (string, time.Time, error) {
	c, err := p.client()
	if err != nil {
		return "", time.Time{}, err
	}
	var l coordinationv1.Lease
	if err := c.Get().Namespace(p.Namespace).Resource("leases").Name(p.Name).Do(ctx).Into(&l); err != nil {
		return "", time.Time{}, fmt.Errorf("lease %s/%s: %w", p.Namespace, p.Name, err)
	}
	var renewed time.Time
	if l.Spec.RenewTime != nil {
		renewed = l.Spec.RenewTime.Time
	}
	if l.Spec.HolderIdentity == nil {
		return "", renewed, nil
	}
	return *l.Spec.HolderIdentity, renewed, nil
}

// Prepare notes who holds the lease now (nobody, if the API server cannot
// say: then any holder that renewed it since passes).
func (p *LeaseProbe) Prepare(ctx context.Context) {
	c := p.Clock
	if c == nil {
		c = clock.Real{}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, _, _ := p.holder(ctx)
	p.mu.Lock()
	p.before, p.since = h, c.Now()
	p.mu.Unlock()
}

// Release clears the lease the restarted process held, as client-go's
// ReleaseOnCancel does on a graceful stop: no holder, a one-second duration.
// The update carries the resourceVersion read, so a lease changed meanwhile
// (the new process took it) is left alone.
func (p *LeaseProbe) Release(ctx context.Context) string {
	p.mu.Lock()
	before := p.before
	p.mu.Unlock()
	if p.Node == "" || before == "" || !strings.HasPrefix(before, p.Node+"_") {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := p.client()
	if err != nil {
		return ""
	}
	var l coordinationv1.Lease
	if err := c.Get().Namespace(p.Namespace).Resource("leases").Name(p.Name).Do(ctx).Into(&l); err != nil {
		return ""
	}
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != before {
		return "" // released already, or taken by the new process
	}
	c2 := p.Clock
	if c2 == nil {
		c2 = clock.Real{}
	}
	now := metav1.NewMicroTime(c2.Now())
	one := int32(1)
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.AcquireTime, l.Spec.RenewTime = nil, &one, &now, &now
	l.APIVersion, l.Kind = coordinationv1.SchemeGroupVersion.String(), "Lease"
	if err := c.Put().Namespace(p.Namespace).Resource("leases").Name(p.Name).Body(&l).Do(ctx).Error(); err != nil {
		return fmt.Sprintf("could not release lease %s/%s of the stopped process %s: %v", p.Namespace, p.Name, before, err)
	}
	return fmt.Sprintf("released lease %s/%s of the stopped process %s", p.Namespace, p.Name, before)
}

// Check passes once a new holder holds the lease, or, when another node's
// process held it before the restart, while that one still does.
func (p *LeaseProbe) Check(ctx context.Context) error {
	h, renewed, err := p.holder(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	before, since := p.before, p.since
	p.mu.Unlock()
	switch {
	case h == "":
		return fmt.Errorf("lease %s/%s has no holder yet", p.Namespace, p.Name)
	case before != "" && h == before && p.Node != "" && !strings.HasPrefix(before, p.Node+"_"):
		// Another node's process led before the restart and still does (an
		// HA control plane): the restarted one is a standby, as it should be.
		return nil
	case before != "" && h == before:
		return fmt.Errorf("lease %s/%s is still held by %s, the process before the restart", p.Namespace, p.Name, h)
	case before == "" && !since.IsZero() && renewed.Before(since.Add(-time.Second)):
		return fmt.Errorf("lease %s/%s held by %s, last renewed %s, before the restart", p.Namespace, p.Name, h, renewed.UTC().Format(time.RFC3339))
	}
	return nil
}

// lease adds the leader lease gate of a controller-manager or scheduler that
// runs with leader election (kubeadm's --leader-elect=true, the default).
func (d *deriver) lease(c inventory.Component) {
	if strings.TrimSpace(c.Flags["leader-elect"]) == "false" {
		d.note(c.Name, "--leader-elect=false in %s: no leader lease to wait for", from(c))
		return
	}
	if d.api == nil {
		d.note(c.Name, "no gate reaches the API server: its leader lease is not checked")
		return
	}
	ns := firstNonEmpty(c.Flags["leader-elect-resource-namespace"], "kube-system")
	name := firstNonEmpty(c.Flags["leader-elect-resource-name"], c.Name)
	host := d.o.Hostname
	if host == "" {
		host, _ = os.Hostname() // what the component puts before "_" in its holder identity
	}
	p := &LeaseProbe{Namespace: ns, Name: name, Base: d.api.base, TLS: d.api.tls, Node: host}
	api := d.api
	d.gates[c.Name] = append(d.gates[c.Name], Gate{Component: c.Name, Name: fmt.Sprintf("%s holds its leader lease %s/%s (read from %s %s)", c.Name, ns, name, api.base, api.who),
		Timeout: d.o.Timeout, Probe: p, Prepare: p.Prepare, Restarted: p.Release, Ready: func() error { return d.f.ready(api.caPaths, api.client, "") }})
}
