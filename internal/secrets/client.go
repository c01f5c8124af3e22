package secrets

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
)

// NewClient returns the REST client Source reads Secrets and ConfigMaps
// with: core/v1 only, decoding with a scheme that knows nothing but Secret,
// SecretList, ConfigMap, ConfigMapList and the meta/v1 types (options,
// Status, watch events).
//
// It stands in for client-go's clientset on purpose: importing the clientset
// links k8s.io/client-go/kubernetes/scheme, whose package init registers
// every API group of Kubernetes, and that init runs at the start of every
// certrescue command, also the ones that never talk to a cluster. The scheme
// here is built when the exporter asks for a client, not before.
//
// cfg is not modified; its ContentType (protobuf or JSON), QPS, Burst,
// TLS settings and credentials are kept.
func NewClient(cfg *rest.Config) (rest.Interface, error) {
	c := rest.CopyConfig(cfg)
	gv := corev1.SchemeGroupVersion
	c.GroupVersion = &gv
	c.APIPath = "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(coreScheme()).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(c)
}

// coreScheme registers the four core/v1 kinds Source lists and watches, and
// what the API server sends beside them: metav1.Status on errors,
// WatchEvent framing, list and watch options.
func coreScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	gv := corev1.SchemeGroupVersion
	s.AddKnownTypes(gv, &corev1.Secret{}, &corev1.SecretList{}, &corev1.ConfigMap{}, &corev1.ConfigMapList{})
	metav1.AddToGroupVersion(s, gv)
	return s
}
