package kubelet

import (
	"context"
	"fmt"
	"time"

	certv1 "k8s.io/api/certificates/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	"github.com/certrescue/certrescue/internal/kubeconfig"
)

// API is what certrescue asks the API server about kubelets: Nodes (core/v1)
// and CertificateSigningRequests (certificates.k8s.io/v1).
//
// Like secrets.NewClient it is built on client-go's REST client with a scheme
// of only these kinds rather than the clientset, whose scheme package
// registers every API group at the start of every certrescue command.
type API struct {
	core, certs, coord rest.Interface
}

// RESTConfig is a client configuration from a kubeconfig's server, CA and
// client certificate (server overrides the kubeconfig's when set: a
// controlPlaneEndpoint DNS name the node cannot resolve).
func RESTConfig(kc *kubeconfig.Kubeconfig, server string) (*rest.Config, error) {
	if server == "" {
		server = kc.Server
	}
	if server == "" {
		return nil, fmt.Errorf("kubeconfig %s: no server", kc.Path)
	}
	for what, m := range map[string]kubeconfig.Material{"client-certificate": kc.ClientCert, "client-key": kc.ClientKey, "certificate-authority": kc.CA} {
		if m.Err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %s: %w", kc.Path, what, m.Err)
		}
	}
	if !kc.ClientCert.Present() || !kc.ClientKey.Present() {
		return nil, fmt.Errorf("kubeconfig %s: user %q has no client certificate and key", kc.Path, kc.User)
	}
	return &rest.Config{Host: server, Timeout: 10 * time.Second, TLSClientConfig: rest.TLSClientConfig{
		CAData: kc.CA.Data, CertData: kc.ClientCert.Data, KeyData: kc.ClientKey.Data, Insecure: kc.InsecureSkipTLSVerify}}, nil
}

// NewAPI makes the client. cfg is not modified.
func NewAPI(cfg *rest.Config) (*API, error) {
	scheme := runtime.NewScheme()
	core, certs := corev1.SchemeGroupVersion, certv1.SchemeGroupVersion
	scheme.AddKnownTypes(core, &corev1.Node{}, &corev1.NodeList{})
	metav1.AddToGroupVersion(scheme, core)
	scheme.AddKnownTypes(certs, &certv1.CertificateSigningRequest{}, &certv1.CertificateSigningRequestList{})
	metav1.AddToGroupVersion(scheme, certs)
	coord := coordv1.SchemeGroupVersion
	scheme.AddKnownTypes(coord, &coordv1.Lease{})
	metav1.AddToGroupVersion(scheme, coord)
	codecs := serializer.NewCodecFactory(scheme).WithoutConversion()
	mk := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		c := rest.CopyConfig(cfg)
		c.GroupVersion, c.APIPath, c.NegotiatedSerializer = &gv, apiPath, codecs
		c.ContentType = runtime.ContentTypeJSON
		if c.UserAgent == "" {
			c.UserAgent = "certrescue"
		}
		return rest.RESTClientFor(c)
	}
	a := &API{}
	var err error
	if a.core, err = mk(core, "/api"); err != nil {
		return nil, err
	}
	if a.certs, err = mk(certs, "/apis"); err != nil {
		return nil, err
	}
	if a.coord, err = mk(coord, "/apis"); err != nil {
		return nil, err
	}
	return a, nil
}

// Node reads a Node.
func (a *API) Node(ctx context.Context, name string) (*corev1.Node, error) {
	n := &corev1.Node{}
	if err := a.core.Get().Resource("nodes").Name(name).Do(ctx).Into(n); err != nil {
		return nil, fmt.Errorf("get node %s: %w", name, err)
	}
	return n, nil
}

// NodeLease reads a node's heartbeat Lease (kube-node-lease/NAME), which
// its kubelet renews every few seconds.
func (a *API) NodeLease(ctx context.Context, name string) (*coordv1.Lease, error) {
	l := &coordv1.Lease{}
	if err := a.coord.Get().Namespace("kube-node-lease").Resource("leases").Name(name).Do(ctx).Into(l); err != nil {
		return nil, fmt.Errorf("get lease kube-node-lease/%s: %w", name, err)
	}
	return l, nil
}

// CSRs lists the CertificateSigningRequests.
func (a *API) CSRs(ctx context.Context) ([]certv1.CertificateSigningRequest, error) {
	l := &certv1.CertificateSigningRequestList{}
	if err := a.certs.Get().Resource("certificatesigningrequests").Do(ctx).Into(l); err != nil {
		return nil, fmt.Errorf("list certificate signing requests: %w", err)
	}
	return l.Items, nil
}

// Decide records an Approved or Denied condition on csr (its approval
// subresource), with reason and message.
func (a *API) Decide(ctx context.Context, csr *certv1.CertificateSigningRequest, approve bool, reason, message string, now time.Time) error {
	c := csr.DeepCopy()
	typ := certv1.CertificateDenied
	if approve {
		typ = certv1.CertificateApproved
	}
	c.Status.Conditions = append(c.Status.Conditions, certv1.CertificateSigningRequestCondition{
		Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)})
	out := &certv1.CertificateSigningRequest{}
	if err := a.certs.Put().Resource("certificatesigningrequests").Name(c.Name).SubResource("approval").Body(c).Do(ctx).Into(out); err != nil {
		return fmt.Errorf("%s certificate signing request %s: %w", map[bool]string{true: "approve", false: "deny"}[approve], c.Name, err)
	}
	return nil
}

// ReadyCondition is a Node's Ready condition (nil when it has none).
func ReadyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
