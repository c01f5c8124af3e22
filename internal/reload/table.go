package reload

import "time"

// Measured are the versions the table was measured on (the testbed's).
var Measured = struct{ Kubernetes, Etcd string }{Kubernetes: "v1.37.2", Etcd: "v3.6.16"}

// Use says how a component takes up a renewed credential.
type Use string

// Uses.
const (
	// Reloads: the component watches the files and uses the new ones within
	// Entry.Within, for every connection (kube-apiserver's dynamic serving
	// certificate, CA bundles and front-proxy client certificate).
	Reloads Use = "reloads"
	// PerConnection: the files are read again for each new TLS handshake:
	// every new connection presents or serves the new credential at once;
	// connections already open keep the one they were opened with (its
	// validity is checked only at the handshake).
	PerConnection Use = "per-connection"
	// Restart: read once at start; only a restart takes up the new one.
	Restart Use = "restart"
)

// Proofs: how the gate of a reloaded credential proves the component uses it.
const (
	// ProofServed: a fresh TLS connection to the component's port is served
	// the certificate now on disk.
	ProofServed = "served"
	// ProofPeer: the peer the component presents the client certificate to
	// (etcd, the API server's front-proxy authenticator, the kubelet)
	// accepts a fresh connection presenting the file now on disk, and the
	// component's own gates pass.
	ProofPeer = "peer"
	// ProofGates: the component's own gates pass with clients of the renewed
	// chain (a CA bundle).
	ProofGates = "gates"
)

// Kubeconfig kinds, for the kubeconfig flags.
const (
	Embedded = "embedded" // client-certificate-data / client-key-data
	Files    = "files"    // client-certificate / client-key paths
)

// Entry is one row of the table.
type Entry struct {
	Component  string
	What       string   // the credential, for people: "serving certificate"
	Flags      []string // the flags that name its files, without dashes
	Kubeconfig string   // for kubeconfig flags: Embedded or Files; "" otherwise
	Use        Use
	// Within is the longest the component took, measured, to use a new
	// file (Reloads, PerConnection: a new connection after the write); the
	// reload gate waits this long, with a margin, before it restarts the
	// component instead.
	Within time.Duration
	Proof  string // ProofServed, ProofPeer or ProofGates; "" for Restart
	Test   string // the test in test/reload that measures it
	Note   string
}

// Table is what was measured. A (component, flag) pair absent from it is a
// restart: not measured means not assumed.
var Table = []Entry{
	{Component: "kube-apiserver", What: "serving certificate", Flags: []string{"tls-cert-file", "tls-private-key-file"},
		Use: Reloads, Within: 3 * time.Second, Proof: ProofServed, Test: "TestReloadTable/kube-apiserver_serving",
		Note: "dynamic serving content: a file watch, and a re-read every minute"},
	{Component: "kube-apiserver", What: "client CA", Flags: []string{"client-ca-file"},
		Use: Reloads, Within: 3 * time.Second, Proof: ProofGates, Test: "TestReloadTable/kube-apiserver_client_CA",
		Note: "a client certificate of a CA added to the bundle is accepted without a restart"},
	{Component: "kube-apiserver", What: "requestheader CA", Flags: []string{"requestheader-client-ca-file"},
		Use: Reloads, Within: 3 * time.Second, Proof: ProofGates, Test: "TestReloadTable/kube-apiserver_requestheader_CA"},
	{Component: "kube-apiserver", What: "front-proxy client certificate", Flags: []string{"proxy-client-cert-file", "proxy-client-key-file"},
		Use: Reloads, Within: 3 * time.Second, Proof: ProofPeer, Test: "TestReloadTable/kube-apiserver_front-proxy_client",
		Note: "presented to aggregated API servers; seen by a recording aggregated API server"},
	{Component: "kube-apiserver", What: "kubelet client certificate", Flags: []string{"kubelet-client-certificate", "kubelet-client-key"},
		Use: PerConnection, Within: 3 * time.Second, Proof: ProofPeer, Test: "TestReloadTable/kube-apiserver_kubelet_client",
		Note: "client-go with files: read at each new connection (cached 1s); open connections are closed within 5 minutes of a change"},
	{Component: "kube-apiserver", What: "etcd client certificate", Flags: []string{"etcd-certfile", "etcd-keyfile"},
		Use: PerConnection, Within: 3 * time.Second, Proof: ProofPeer, Test: "TestReloadTable/kube-apiserver_etcd_client",
		Note: "etcd's client TLS reads the files at each handshake; the gRPC connection stays open until it breaks"},
	{Component: "etcd", What: "server certificate", Flags: []string{"cert-file", "key-file"},
		Use: PerConnection, Within: 3 * time.Second, Proof: ProofServed, Test: "TestReloadTable/etcd_server"},
	{Component: "etcd", What: "peer certificate", Flags: []string{"peer-cert-file", "peer-key-file"},
		Use: PerConnection, Within: 3 * time.Second, Proof: ProofServed, Test: "TestReloadTable/etcd_peer"},
	{Component: "kube-controller-manager", What: "kubeconfig, embedded data", Flags: kubeconfigFlags, Kubeconfig: Embedded,
		Use: Restart, Test: "TestReloadTable/kube-controller-manager_kubeconfig_embedded",
		Note: "a new connection still presents the certificate read at start"},
	{Component: "kube-controller-manager", What: "kubeconfig, file references", Flags: kubeconfigFlags, Kubeconfig: Files,
		Use: PerConnection, Within: 3 * time.Second, Proof: ProofPeer, Test: "TestReloadTable/kube-controller-manager_kubeconfig_files"},
	{Component: "kube-controller-manager", What: "serving certificate", Flags: []string{"tls-cert-file", "tls-private-key-file"},
		Use: Reloads, Within: 3 * time.Second, Proof: ProofServed, Test: "TestReloadTable/kube-controller-manager_serving"},
	{Component: "kube-scheduler", What: "kubeconfig, embedded data", Flags: kubeconfigFlags, Kubeconfig: Embedded,
		Use: Restart, Test: "TestReloadTable/kube-scheduler_kubeconfig_embedded"},
	{Component: "kube-scheduler", What: "kubeconfig, file references", Flags: kubeconfigFlags, Kubeconfig: Files,
		Use: PerConnection, Within: 3 * time.Second, Proof: ProofPeer, Test: "TestReloadTable/kube-scheduler_kubeconfig_files"},
	{Component: "kube-scheduler", What: "serving certificate", Flags: []string{"tls-cert-file", "tls-private-key-file"},
		Use: Reloads, Within: 3 * time.Second, Proof: ProofServed, Test: "TestReloadTable/kube-scheduler_serving"},
}

var kubeconfigFlags = []string{"kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig"}

// Lookup finds the entry of a component's flag; kind is the kubeconfig's
// (Embedded or Files) for kubeconfig flags, "" otherwise.
func Lookup(component, flag, kind string) (Entry, bool) {
	for _, e := range Table {
		if e.Component != component || e.Kubeconfig != kind {
			continue
		}
		for _, f := range e.Flags {
			if f == flag {
				return e, true
			}
		}
	}
	return Entry{}, false
}
