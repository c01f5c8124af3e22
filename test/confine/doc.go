// Package confine proves that with --root every command stays inside the
// node's disk: symlinks that point out of it (absolute targets and ".."
// climbs, at the pki directory, a certificate, a file a kubeconfig references,
// the backup and audit directories) resolve inside the root, and no file of
// this machine outside the root changes in bytes, mode or mtime.
package confine
