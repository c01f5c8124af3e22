// Package kubelet rescues a node's kubelet credentials the way the kubelet
// itself keeps them, so that its own rotation takes over afterwards.
//
// The kubelet's certificate store (client-go's certificate file store) is a
// directory, /var/lib/kubelet/pki, of dated files PREFIX-YYYY-MM-DD-HH-MM-SS.pem
// each holding a certificate and its key, and PREFIX-current.pem, a symbolic
// link to the one in use (PREFIX is kubelet-client or kubelet-server). The
// kubelet switches it by making PREFIX-updated.pem point at the new file and
// renaming that link over PREFIX-current.pem. Store.Install does the same,
// through the node's one view of its disk (nodefs): the dated file written
// atomically (0600), the -updated link, one rename(2), the directory
// fsynced. The current link therefore always names a complete pair, the old
// one or the new one, whatever moment a crash or SIGKILL picks.
//
// Inspect reads the store's state (what the current link names, whether it is
// a link at all, the dated files, the newest), from which the check reasons
// for a stuck rotation come. PointAtStore rewrites a kubelet.conf whose
// client credential is embedded or names another file so that it names the
// current link (the init node's kubelet.conf, which kubeadm writes with an
// embedded certificate that never rotates). NodeCSR makes the certificate
// request (CN=system:node:NAME, O=system:nodes) from the node's existing key,
// for a CA elsewhere to sign; CheckClient verifies what comes back before it
// is installed. Serving decides whether a kubelet-serving CSR may be approved:
// its requestor is the node and its names are the Node's addresses.
//
// Inputs: a nodefs.FS, node paths, PEM bytes, a time (the caller's clock).
// Outputs: node files written through nodefs.WriteSet, Symlink and Rename;
// errors naming the node path. It never prints and never reads the wall clock.
package kubelet
