// Package secrets feeds the exporter with the certificates of a cluster's
// kubernetes.io/tls Secrets and of its ConfigMap CA bundles, read with
// client-go informers.
//
// Secrets are listed and watched with the server-side field selector
// type=kubernetes.io/tls, so Secrets of other types (Helm releases, service
// account tokens, ...) never leave the API server: the exporter's memory does
// not grow with them. Every object is stripped as it arrives (an informer
// TransformFunc) to the public facts of its certificates and its findings;
// the private key in tls.key is parsed only to compare it with the
// certificate and is then dropped, never stored or logged.
//
// It does not use client-go's clientset: NewClient builds a core/v1 REST client
// whose scheme knows only Secrets and ConfigMaps, so that linking this package
// does not run the clientset's package init (every API group registered) at
// the start of every certrescue command.
//
// Inputs: a core/v1 REST client (NewClient), a namespace (all by default), a ConfigMap label
// selector and key names. Outputs: Objects in an exporter.Store, one per
// Secret or ConfigMap, updated and removed as the API server reports changes,
// so a deleted Secret leaves no stale series. It never writes to the cluster.
package secrets
