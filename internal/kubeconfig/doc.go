// Package kubeconfig reads kubeconfig files with client-go's clientcmd codec and
// says, for the context in use, where the client certificate, the client key and
// the cluster CA come from: embedded (*-data) or a file reference, and their bytes.
//
// It also makes kubeconfigs (write.go): UpdateClientCredentials puts a new
// client certificate (and key) into a kubeconfig the way it already stores
// them (embedded data stays embedded, file references stay references and come
// back as CredentialFiles), Encode serialises one as clientcmd.Write does, and
// Build makes a new one as kubeadm writes them.
//
// Inputs: a kubeconfig path (Load), or its bytes, its directory and a function
// that reads referenced files (Parse, which is how callers working under --root
// read /var/lib/kubelet/pki/... on a mounted node). Outputs: a Kubeconfig with
// the parsed clientcmd Config, the selected context, cluster and user names,
// the server URL and three Materials; and the bytes of kubeconfigs and the
// credential files they reference, for the caller to write.
//
// It does not verify anything (package evaluation does), does not contact the
// server, and writes no file: it returns bytes, and callers write them with
// the one atomic writer (package nodefs, through renewal and deploy). The only
// file IO is Load's reads. It reads
// through clientcmd/api and clientcmd/api/latest only, not the whole clientcmd
// package, so linking it does not pull client-go's REST client and its init cost
// into every certrescue start.
package kubeconfig
