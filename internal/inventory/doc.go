// Package inventory finds every certificate, key and kubeconfig of a node and
// reads them, offline, under a root directory (the node's filesystem, "/" on
// the node itself, a mount point or a test's temporary directory).
//
// Sources say what to read: the kubeadm layout (Kubeadm), the kubelet's PKI
// directory, the certificate flags of static pod manifests and systemd units
// (Manifests, Systemd: a unit's drop-ins applied, $VAR expanded from its
// Environment= and EnvironmentFile= files as systemd does), the k3s and RKE2
// server TLS directories (Rancher), the
// usual places of binary installs and the k3s/RKE2 agent (BinaryInstall), an
// inventory file naming anything else (File) and directories of PEM files (Dir).
// NodeSources builds them from a command's flags and ScanNode scans them:
// check, renew, rescue and the exporter all go through it.
// Scan runs the sources, merges what several of them name (the same file found
// by the kubeadm layout and by a manifest flag, or by two paths that resolve
// to it inside the node, is one Item), then reads and
// parses every file once, in parallel over a bounded worker pool.
// Reader.RancherServers says which k3s and RKE2 servers the node runs and what
// their configuration (config.yaml, config.yaml.d, the unit's flags) says, for
// the health gates and the restarter. Every read goes through package nodefs,
// the one view of the node's disk, except an inventory file given by a
// relative path, which is the operator's own file on this machine.
//
// Inputs: a Reader (the root) and Sources. Outputs: Items, each with its
// expectations (role, the CA that should sign it, the usages it needs, the SANs
// it must carry) and its contents (parsed certificates, the public half of its
// private key, the key file's mode, kubeconfig facts) or Problems (malformed,
// unreadable). A bad file is a Problem on its Item, never an error of Scan.
// Private keys are parsed to validate them and dropped: an Item keeps only the
// public half.
//
// It does not judge (package evaluation turns Items into findings), does not
// touch the network (package endpoint does) and never writes.
package inventory
