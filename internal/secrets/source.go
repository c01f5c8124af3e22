package secrets

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/certrescue/certrescue/internal/exporter"
)

// TLSFieldSelector keeps Secrets of other types on the API server.
const TLSFieldSelector = "type=" + string(corev1.SecretTypeTLS)

// DefaultConfigMapKeys are the ConfigMap keys read as CA bundles: the
// kube-root-ca.crt ConfigMap's, and the field guide's ca-bundle.crt.
var DefaultConfigMapKeys = []string{"ca.crt", "ca-bundle.crt", "ca-bundle.pem"}

// Source IDs in x509_source_up and friends.
var (
	SecretsID    = exporter.SourceID{Kind: "kube-secret", Name: "secrets"}
	ConfigMapsID = exporter.SourceID{Kind: "kube-configmap", Name: "configmaps"}
)

// Source watches TLS Secrets and, when ConfigMaps is set, ConfigMap CA
// bundles, and keeps the Store up to date.
type Source struct {
	// Client is a core/v1 REST client, as NewClient makes (the clientset's
	// CoreV1().RESTClient() works too).
	Client    rest.Interface
	Namespace string // "" watches every namespace
	// ConfigMaps enables the ConfigMap source; ConfigMapSelector (a label
	// selector, evaluated by the API server) limits which are listed, and
	// ConfigMapKeys which keys are read (DefaultConfigMapKeys when empty).
	ConfigMaps        bool
	ConfigMapSelector string
	ConfigMapKeys     []string
	Store             *exporter.Store
	// OnError receives watch errors (the command layer logs them).
	OnError func(source string, err error)

	syncedOnce sync.Once
	synced     chan struct{}
}

// Synced is closed once every informer has processed its first list.
func (s *Source) Synced() <-chan struct{} {
	s.syncedOnce.Do(func() { s.synced = make(chan struct{}) })
	return s.synced
}

// slim is what an informer keeps of a Secret or ConfigMap: its identity and
// the exporter object made from its data, never the data itself.
type slim struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	obj exporter.Object
}

// DeepCopyObject shares obj, which is never modified after it is made.
func (s *slim) DeepCopyObject() runtime.Object {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

func meta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}
}

// Run starts the informers and blocks until ctx is done. Each source is up
// once its first list has been processed.
func (s *Source) Run(ctx context.Context) error {
	if s.Client == nil || s.Store == nil {
		return fmt.Errorf("secrets: no client or store")
	}
	keys := s.ConfigMapKeys
	if len(keys) == 0 {
		keys = DefaultConfigMapKeys
	}
	rc := s.Client
	secretLW := cache.NewFilteredListWatchFromClient(rc, "secrets", s.Namespace, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.ParseSelectorOrDie(TLSFieldSelector).String()
	})
	informers := []struct {
		id  exporter.SourceID
		inf cache.SharedIndexInformer
	}{{SecretsID, s.informer(SecretsID, secretLW, &corev1.Secret{}, func(obj any) any {
		sec, ok := obj.(*corev1.Secret)
		if !ok {
			return obj
		}
		return &slim{ObjectMeta: meta(sec.ObjectMeta), obj: SecretObject(sec.Namespace, sec.Name, sec.Data)}
	})}}
	if s.ConfigMaps {
		cmLW := cache.NewFilteredListWatchFromClient(rc, "configmaps", s.Namespace, func(o *metav1.ListOptions) {
			o.LabelSelector = s.ConfigMapSelector
		})
		informers = append(informers, struct {
			id  exporter.SourceID
			inf cache.SharedIndexInformer
		}{ConfigMapsID, s.informer(ConfigMapsID, cmLW, &corev1.ConfigMap{}, func(obj any) any {
			cm, ok := obj.(*corev1.ConfigMap)
			if !ok {
				return obj
			}
			return &slim{ObjectMeta: meta(cm.ObjectMeta), obj: ConfigMapObject(cm.Namespace, cm.Name, cm.Data, keys)}
		})})
	}
	for _, i := range informers {
		s.Store.Register(i.id)
		go i.inf.RunWithContext(ctx)
	}
	s.Synced()
	synced := s.synced
	var wg sync.WaitGroup
	for _, i := range informers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cache.WaitForCacheSync(ctx.Done(), i.inf.HasSynced) {
				s.Store.SetUp(i.id, true)
			}
		}()
	}
	go func() {
		wg.Wait()
		if ctx.Err() == nil {
			close(synced)
		}
	}()
	<-ctx.Done()
	return nil
}

func (s *Source) informer(id exporter.SourceID, lw cache.ListerWatcher, example runtime.Object, strip func(any) any) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(lw, example, resyncNever, cache.Indexers{})
	_ = inf.SetTransform(func(obj any) (any, error) { return strip(obj), nil })
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		s.Store.AddError(id, "watch")
		if s.OnError != nil {
			s.OnError(id.Name, err)
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
	})
	key := func(obj any) (string, *slim) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		sl, _ := obj.(*slim)
		if sl == nil {
			return "", nil
		}
		return sl.Namespace + "/" + sl.Name, sl
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if k, sl := key(obj); sl != nil {
				s.Store.Upsert(id, k, sl.obj)
			}
		},
		UpdateFunc: func(_, obj any) {
			if k, sl := key(obj); sl != nil {
				s.Store.Upsert(id, k, sl.obj)
			}
		},
		DeleteFunc: func(obj any) {
			if k, sl := key(obj); sl != nil {
				s.Store.Delete(id, k)
			}
		},
	})
	return inf
}

// resyncNever documents that the informers never resync: an unchanged
// object's series do not need refreshing, expiry is computed at scrape time.
const resyncNever = time.Duration(0)
