package lease

import (
	"context"
	"errors"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// Leases is the part of client-go's typed Leases client this package uses
// (k8s.io/client-go/kubernetes/typed/coordination/v1's LeaseInterface has
// these methods with these signatures, so that client fits too).
type Leases interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error)
	Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error)
	Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error)
}

// LeasesGetter gives the Leases of a namespace.
type LeasesGetter interface {
	Leases(namespace string) Leases
}

// Credentials are what Client connects with: the API server's URL, the CA
// that verifies it, and a client certificate and key (PEM). The caller reads
// them (from a kubeconfig, through the node's view of the disk under
// --root): Client reads no file.
type Credentials struct {
	Server         string
	CA, Cert, Key  []byte
	RequestTimeout time.Duration // each request's bound; 10 s when 0
}

// Client makes a typed Leases client (coordination/v1 Lease objects) on
// client-go's REST client, with a scheme that knows coordination.k8s.io/v1
// only. Not the generated clientset's: it imports
// k8s.io/client-go/kubernetes/scheme, which links and registers every API
// group of Kubernetes at the start of every certrescue command (measured
// here: 23 MB more binary, 10 ms more init), and client-go's generic gentype
// client links managed fields and OpenAPI (4.5 MB); secrets.NewClient does
// the same for core/v1. Its methods have the generated LeaseInterface's
// signatures, so that client fits Options.Client too.
func Client(c Credentials) (LeasesGetter, error) {
	if c.Server == "" {
		return nil, errors.New("no API server URL")
	}
	if len(c.Cert) == 0 || len(c.Key) == 0 {
		return nil, errors.New("no client certificate and key")
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	s := runtime.NewScheme()
	gv := coordinationv1.SchemeGroupVersion
	s.AddKnownTypes(gv, &coordinationv1.Lease{}, &coordinationv1.LeaseList{})
	metav1.AddToGroupVersion(s, gv)
	cfg := &rest.Config{
		Host:               c.Server,
		APIPath:            "/apis",
		TLSClientConfig:    rest.TLSClientConfig{CAData: c.CA, CertData: c.Cert, KeyData: c.Key},
		Timeout:            c.RequestTimeout,
		UserAgent:          "certrescue-renew-auto",
		ContentConfig:      rest.ContentConfig{GroupVersion: &gv, NegotiatedSerializer: serializer.NewCodecFactory(s).WithoutConversion()},
		DisableCompression: true,
	}
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return getter{rc: rc, codec: runtime.NewParameterCodec(s)}, nil
}

type getter struct {
	rc    rest.Interface
	codec runtime.ParameterCodec
}

func (g getter) Leases(namespace string) Leases { return leases{g, namespace} }

// leases is the typed Leases client on client-go's REST client.
type leases struct {
	getter
	ns string
}

func (l leases) Get(ctx context.Context, name string, opts metav1.GetOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.rc.Get().Namespace(l.ns).Resource("leases").Name(name).VersionedParams(&opts, l.codec).Do(ctx).Into(out)
	return out, err
}

func (l leases) Create(ctx context.Context, lease *coordinationv1.Lease, opts metav1.CreateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.rc.Post().Namespace(l.ns).Resource("leases").VersionedParams(&opts, l.codec).Body(lease).Do(ctx).Into(out)
	return out, err
}

func (l leases) Update(ctx context.Context, lease *coordinationv1.Lease, opts metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	err := l.rc.Put().Namespace(l.ns).Resource("leases").Name(lease.Name).VersionedParams(&opts, l.codec).Body(lease).Do(ctx).Into(out)
	return out, err
}
