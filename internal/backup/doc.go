// Package backup snapshots a node's Kubernetes credentials (by default
// /etc/kubernetes/pki, /etc/kubernetes/*.conf, /etc/kubernetes/manifests and
// /var/lib/kubelet/pki) into one compressed archive, lists and verifies such
// archives, and restores them.
//
// An archive is a gzip-compressed tar file whose first member, manifest.json,
// lists every entry: node path, type (file, dir, symlink), mode, uid, gid, size,
// sha256 and symlink target. Archives are written atomically, 0600, into a 0700
// directory (default /var/lib/certrescue/backups under the node root), and are
// re-read and verified before Create returns.
//
// Restore trusts nothing in an archive. It reads the whole archive into memory
// (capped), verifies every checksum and every entry before writing a byte, and
// refuses: paths that are relative, unclean or contain "..", entries whose path
// runs through a symlink of the archive, hard links, devices, FIFOs, setuid and
// setgid bits, duplicate or unlisted members. Writes go through an os.Root
// opened on the node root, so nothing can land outside it, and every file is
// written to a temporary name, fsynced and renamed, with mode and owner set.
//
// Inputs: a node root, node paths or globs, a backups directory and "now" from
// the caller. Outputs: archive files and Manifest values. It does not decide
// when to back up (package rescue does) and never prints; archives hold private
// keys, so callers must never print archive contents.
package backup
