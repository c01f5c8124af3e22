// Package certmanager tests `certrescue cert-manager manifests` against
// cert-manager's own CustomResourceDefinitions (github.com/cert-manager/
// cert-manager v1.21.2's deploy/crds, fetched from the Go module proxy when
// the test runs, never committed) installed on the testbed's real
// kube-apiserver: the generated ClusterIssuer, its ServiceAccount, Role and
// RoleBinding and the Certificates are created for real, so the CRDs'
// OpenAPI schemas validate them, and broken ones are rejected.
//
// cert-manager's controller is not run: it cannot be built here (its binary
// is a Go module of its own, cmd/controller, that the proxy does not serve),
// so no test sees a certificate issued through the ClusterIssuer.
package certmanager
