// Package nodefs is the one view of a node's disk. Every read, stat, listing,
// write, chmod, chown, rename and removal of a node path goes through an FS.
//
// A node path is absolute, as on the node (/etc/kubernetes/pki/ca.crt). The
// node's filesystem is mounted at a root: "/" on the node itself, a mount
// point or a test's temporary directory otherwise. Symlinks resolve inside the
// root, as a chroot would resolve them: an absolute target is a node path,
// and ".." never climbs above the root. Resolution is done here, step by step,
// so callers learn the node path a link leads to; every operation is then
// carried out through an os.Root opened on the root directory, so the kernel
// refuses an escape even if a link is swapped between the two.
//
// WriteSet is certrescue's one atomic writer: every file staged as a
// temporary file beside its target with its exact mode (whatever the umask),
// made durable, then renamed over its target, and each directory fsynced.
// Temporary files carry a name the tool recognises (IsTemp) so a later run
// removes what a crash left (CleanTemps).
//
// A WriteSet with a Txn is a journaled transaction: a journal (JSON, in a
// directory locked with flock(2) while the transaction runs) lists every
// target before anything is staged and says "committing" once all are
// durable, so after a crash Recover finishes the renames or abandons the
// staged files, never leaving a certificate and its key from different
// generations; Pending says what Recover would do.
//
// HostPath and HostResolved map a node path onto this machine for the few
// parts that open paths themselves (the audit database). Close releases the
// root and the cached directory descriptors.
//
// Inputs: node paths. Outputs: file contents, file info, node paths. It parses
// nothing but its own journals and never logs: error messages name node paths
// (and the root, when it cannot be opened: ErrRoot).
package nodefs
