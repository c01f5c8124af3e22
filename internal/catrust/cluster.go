package catrust

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/certrescue/certrescue/internal/pki"
)

// ConfigMapRef is a ConfigMap key of the cluster that holds CA certificates.
type ConfigMapRef struct {
	Namespace, Name, Key string
	// Kubeconfig: the key holds a kubeconfig whose clusters embed the CA
	// (cluster-info); otherwise PEM.
	Kubeconfig bool
}

func (r ConfigMapRef) path() string { return r.Namespace + "/" + r.Name }

// ClusterConfigMaps are the ConfigMaps a CA change must reach: kubeadm's
// kube-public/cluster-info (what joining nodes trust) and the field guide's
// kube-system/kube-apiserver-ca with the primary and backup CA. The API
// server's extension-apiserver-authentication and the controller-manager's
// kube-root-ca.crt in every namespace are rewritten by those components
// from their flags' files when they restart.
var ClusterConfigMaps = []ConfigMapRef{
	{Namespace: "kube-public", Name: "cluster-info", Key: "kubeconfig", Kubeconfig: true},
	{Namespace: "kube-system", Name: "kube-apiserver-ca", Key: "ca-bundle.crt"},
}

// ClusterResult is what UpdateCluster did to one ConfigMap.
type ClusterResult struct {
	Consumer
	Absent  bool // the ConfigMap (or its key) does not exist: nothing to do
	Changed bool
	Err     error
}

// ClusterConsumers reads ClusterConfigMaps through c (a core/v1 REST client:
// secrets.NewClient) and returns those holding a certificate of ids' CAs.
func ClusterConsumers(ctx context.Context, c rest.Interface, ids ...*x509.Certificate) ([]Consumer, error) {
	var out []Consumer
	for _, ref := range ClusterConfigMaps {
		cm, err := getConfigMap(ctx, c, ref)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return out, err
		}
		holds, err := configMapCerts(cm, ref)
		if err != nil {
			continue
		}
		con := Consumer{Kind: KindConfigMap, Path: ref.path(), Field: ref.Key, Holds: holds}
		for _, h := range holds {
			if (Replace{Old: ids}).Matches(h) {
				out = append(out, con)
				break
			}
		}
	}
	return out, nil
}

// UpdateCluster applies r to every ClusterConfigMaps key that holds an Old
// CA, with an update that fails on a concurrent change (resourceVersion).
// Absent ConfigMaps are reported, not created.
func UpdateCluster(ctx context.Context, c rest.Interface, r Replace) []ClusterResult {
	var out []ClusterResult
	for _, ref := range ClusterConfigMaps {
		res := ClusterResult{Consumer: Consumer{Kind: KindConfigMap, Path: ref.path(), Field: ref.Key}}
		cm, err := getConfigMap(ctx, c, ref)
		switch {
		case apierrors.IsNotFound(err):
			res.Absent = true
			out = append(out, res)
			continue
		case err != nil:
			res.Err = err
			out = append(out, res)
			continue
		}
		data, ok := cm.Data[ref.Key]
		if !ok {
			res.Absent = true
			out = append(out, res)
			continue
		}
		var next []byte
		var changed bool
		if ref.Kubeconfig {
			next, changed, err = rebundleKubeconfig([]byte(data), r)
		} else {
			next, changed, err = Rebundle([]byte(data), r)
		}
		if err != nil {
			res.Err = fmt.Errorf("%s key %s: %w", ref.path(), ref.Key, err)
			out = append(out, res)
			continue
		}
		if changed {
			cm.Data[ref.Key] = string(next)
			var updated corev1.ConfigMap
			if err := c.Put().Namespace(ref.Namespace).Resource("configmaps").Name(ref.Name).Body(cm).Do(ctx).Into(&updated); err != nil {
				res.Err = fmt.Errorf("update %s: %w", ref.path(), err)
				out = append(out, res)
				continue
			}
			res.Changed = true
			cm = &updated
		}
		res.Holds, _ = configMapCerts(cm, ref)
		out = append(out, res)
	}
	return out
}

func getConfigMap(ctx context.Context, c rest.Interface, ref ConfigMapRef) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	if err := c.Get().Namespace(ref.Namespace).Resource("configmaps").Name(ref.Name).Do(ctx).Into(&cm); err != nil {
		return nil, err
	}
	return &cm, nil
}

func configMapCerts(cm *corev1.ConfigMap, ref ConfigMapRef) ([]*x509.Certificate, error) {
	data := []byte(cm.Data[ref.Key])
	if ref.Kubeconfig {
		cfg, err := loadKubeconfig(data)
		if err != nil {
			return nil, err
		}
		var out []*x509.Certificate
		for _, name := range sortedKeys(cfg.Clusters) {
			cs, err := pki.ParseCertificatesPEM(cfg.Clusters[name].CertificateAuthorityData)
			if err == nil {
				out = append(out, cs...)
			}
		}
		return out, nil
	}
	return pki.ParseCertificatesPEM(data)
}
