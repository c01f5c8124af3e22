// Package backup snapshots a node's Kubernetes credentials into one
// compressed archive, lists and verifies such archives, and restores them.
//
// What a backup holds: node paths or globs (by default /etc/kubernetes/pki,
// /etc/kubernetes/*.conf, /etc/kubernetes/manifests and /var/lib/kubelet/pki)
// and exact files. PathsFor gives the exact files a renewal plan needs backed
// up, whatever the layout: every file it replaces and every file it relies on
// (CA certificates and keys, kept keys, files kubeconfigs reference); PathsOf
// gives every file an inventory names. Every read goes through package nodefs,
// the one view of the node's disk: symlinks resolve inside the root, a link is
// kept as a link and the file it leads to is taken as well.
//
// An archive is a gzip-compressed tar file whose first member, manifest.json,
// lists every entry: node path, type (file, dir, symlink), mode, uid, gid, size,
// sha256 and symlink target, and which requested paths were absent. Archives
// are written atomically, 0600, into a 0700 directory (default
// /var/lib/certrescue/backups under the node root), and are re-read and
// verified before Create returns. Manifest.Lacks says which files an archive
// could not bring back.
//
// Restore trusts nothing in an archive. It reads the whole archive into memory
// (capped), verifies every checksum and every entry before writing a byte, and
// refuses: paths that are relative, unclean or contain "..", entries whose path
// runs through a symlink of the archive, hard links, devices, FIFOs, setuid and
// setgid bits, duplicate or unlisted members.
//
// A restore writes only what backups are made of. Credentials (from the node
// as it is now, never from the archive) are DefaultPaths, every file the
// node's inventory names (certificates, keys, kubeconfigs and the files they
// reference, CA certificates and the keys beside them), each also with its
// symlinks resolved inside the node, and what the operator confirms
// (Credentials.Allow, RestoreOptions.AllowManifest). Every other entry is
// refused, and so, whatever is confirmed: certrescue's own state (StateDir:
// the audit store and its -wal/-shm files, journals, locks, backups),
// database files (SQLite by content or name: restoring a live database file
// by file corrupts it, and no credential is one, so they are refused rather
// than checked), symlinks a later renew would follow elsewhere (resolved as
// the node will be after the restore: outside the credentials, into the
// state, from one credential to another's file, into their own directory),
// and types the node cannot take in place (a file where it has a symlink,
// which a write would follow). Every refusal is listed in one *RefusedError
// before anything is written.
//
// Writes go through nodefs, so nothing can land outside the root. The files
// are one nodefs WriteSet journaled in TxnDir (the transaction named by the
// archive and the caller's clock): each staged beside its target with its
// mode and made durable, BeforeCommit (the audit intent) passed, then renamed
// into place; a crash is finished or abandoned by the next Restore, which
// recovers every unfinished transaction of TxnDir before it starts. Owners,
// the modes of unchanged files, and symlinks (created under a temporary name,
// renamed over the old path) follow the commit; they are idempotent, so a
// rerun completes them (a symlink's owner is not restored). With Undo,
// Restore first writes an undo archive (certrescue-undo-...) of every file and
// symlink it is about to overwrite, so a restore can be undone; Resolve's
// "latest" never picks one. Create leaves StateDir out of every backup.
//
// Inputs: a node root, node paths or globs, a backups directory and "now" from
// the caller. Outputs: archive files and Manifest values. It does not decide
// when to back up (packages rescue and cli do) and never prints; archives hold
// private keys, so callers must never print archive contents.
package backup
