package health

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/certrescue/certrescue/internal/inventory"
	"github.com/certrescue/certrescue/internal/layout"
	"github.com/certrescue/certrescue/internal/reload"
	"github.com/certrescue/certrescue/internal/testpki"
)

func TestServedGateSaysWhetherTheRenewedCertificateIsTakenUp(t *testing.T) {
	tr := testpki.KubeadmTree(t, t.TempDir(), testpki.TreeOptions{AdvertiseAddress: "127.0.0.1", Manifests: true})
	etcd := tr.Leaves["etcd-server"]
	ln := listen(t)
	tlsServerOn(t, ln, etcd.Cert, etcd.Key, nil, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	comps := []inventory.Component{{Name: layout.Etcd, Flags: map[string]string{
		"cert-file": layout.PKIDir + "/etcd/server.crt", "key-file": layout.PKIDir + "/etcd/server.key",
		"listen-client-urls": "https://" + ln.Addr().String()}}}
	e, _ := reload.Lookup(layout.Etcd, "cert-file", "")
	g, ok, err := ReloadGate(comps, reload.Take{Component: layout.Etcd, Flag: "cert-file", Entry: e}, Options{Root: tr.Root, Clock: epochClock})
	if err != nil || !ok {
		t.Fatalf("gate: %v %v", ok, err)
	}
	if err := g.Probe.Check(context.Background()); err != nil {
		t.Fatalf("serving the file on disk: %v", err)
	}
	renewed := testpki.MustLeaf(t, tr.CAs["etcd-ca"], testpki.WithTemplate(testpki.TemplateFrom(etcd.Cert)), testpki.WithKey(etcd.Key))
	testpki.WriteCert(t, tr.Path(layout.PKIDir+"/etcd/server.crt"), renewed.Cert)
	if err := g.Probe.Check(context.Background()); !errors.Is(err, ErrNotTakenUp) {
		t.Fatalf("serving the old certificate: err = %v, want ErrNotTakenUp", err)
	}
	if g.Timeout != e.Within+8e9 {
		t.Errorf("timeout %s, want the table's %s plus 8s", g.Timeout, e.Within)
	}
}

func TestLeaseGateWaitsForANewHolder(t *testing.T) {
	var holder atomic.Value
	holder.Store("node_old")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/namespaces/kube-system/leases/kube-scheduler") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"holderIdentity":"` + holder.Load().(string) + `","renewTime":"2030-01-01T00:00:00.000000Z"}}`))
	}))
	t.Cleanup(srv.Close)
	p := &LeaseProbe{Namespace: "kube-system", Name: "kube-scheduler", Base: srv.URL, TLS: func() (*tls.Config, error) { return nil, nil }, Clock: epochClock}
	p.Prepare(context.Background())
	if err := p.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "still held by node_old") {
		t.Fatalf("before the new process took it: err = %v", err)
	}
	holder.Store("node_new")
	if err := p.Check(context.Background()); err != nil {
		t.Fatalf("held by the new process: %v", err)
	}
}

func TestLeaseGateReleasesOnlyThisNodesStoppedHolder(t *testing.T) {
	for _, tt := range []struct {
		name, holder string
		released     bool
	}{
		{"the stopped process of this node", "node1_abc", true},
		{"another node's process", "node2_abc", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var put atomic.Value
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.Method == http.MethodPut {
					b, _ := io.ReadAll(r.Body)
					put.Store(string(b))
					w.Write(b)
					return
				}
				w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"kube-controller-manager","namespace":"kube-system","resourceVersion":"7"},"spec":{"holderIdentity":"` + tt.holder + `","leaseDurationSeconds":15}}`))
			}))
			t.Cleanup(srv.Close)
			p := &LeaseProbe{Namespace: "kube-system", Name: "kube-controller-manager", Base: srv.URL, Node: "node1",
				TLS: func() (*tls.Config, error) { return nil, nil }, Clock: epochClock}
			p.Prepare(context.Background())
			note := p.Release(context.Background())
			body, _ := put.Load().(string)
			switch {
			case tt.released && (!strings.Contains(note, "released lease kube-system/kube-controller-manager") || strings.Contains(body, "holderIdentity") || !strings.Contains(body, `"resourceVersion":"7"`)):
				t.Errorf("note %q, put %s: want the holder cleared, with the resourceVersion read", note, body)
			case !tt.released && (note != "" || body != ""):
				t.Errorf("another node's lease was touched: %q %s", note, body)
			}
		})
	}
}

// On an HA control plane another node's process may hold the lease before
// the restart and keep it: the restarted process is a standby, and the gate
// passes. This node's own stopped holder still has to be replaced.
func TestLeaseGatePassesWhileAnotherNodeLeads(t *testing.T) {
	var holder atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"holderIdentity":"` + holder.Load().(string) + `","renewTime":"2030-01-01T00:00:00.000000Z"}}`))
	}))
	t.Cleanup(srv.Close)
	probe := func(before string) *LeaseProbe {
		holder.Store(before)
		p := &LeaseProbe{Namespace: "kube-system", Name: "kube-controller-manager", Base: srv.URL, Node: "cp2",
			TLS: func() (*tls.Config, error) { return nil, nil }, Clock: epochClock}
		p.Prepare(context.Background())
		return p
	}
	if err := probe("cp3_abc").Check(context.Background()); err != nil {
		t.Errorf("cp3 led before cp2's restart and still does: %v", err)
	}
	if err := probe("cp2_abc").Check(context.Background()); err == nil || !strings.Contains(err.Error(), "still held by cp2_abc") {
		t.Errorf("cp2's own stopped process still holds it: err = %v, want still held", err)
	}
}
