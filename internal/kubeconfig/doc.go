// Package kubeconfig reads kubeconfig files with client-go's clientcmd codec and
// says, for the context in use, where the client certificate, the client key and
// the cluster CA come from: embedded (*-data) or a file reference, and their bytes.
//
// Inputs: a kubeconfig path (Load), or its bytes, its directory and a function
// that reads referenced files (Parse, which is how callers working under --root
// read /var/lib/kubelet/pki/... on a mounted node). Outputs: a Kubeconfig with
// the parsed clientcmd Config (for writers), the selected context, cluster and
// user names, the server URL and three Materials.
//
// It does not verify anything (package evaluation does), does not contact the
// server, and does not write (a separate file of this package will). It reads
// through clientcmd/api and clientcmd/api/latest only, not the whole clientcmd
// package, so linking it does not pull client-go's REST client and its init cost
// into every certrescue start.
package kubeconfig
