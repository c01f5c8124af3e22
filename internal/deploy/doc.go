// Package deploy writes a renewal plan's files onto the node with nodefs's one
// atomic writer, in two phases: every file is first staged next to its target
// (temporary name, content, explicit mode, the old file's owner, fsync), and
// only when all are staged are they renamed over their targets one after
// another, each directory fsynced. A failure while staging removes the staged
// files and changes nothing. With Options.Txn the set is a journaled
// transaction (nodefs.Txn): BeforeCommit (the audit intent) runs once every
// file is staged, and a crash among the renames is finished by the next run's
// recovery; without one, a crash there is what the rescue journal and the
// backup exist for (package rescue rolls back).
//
// Matches tells a rerun after a crash which files already hold their new
// content, and CleanStale removes the temporary files a crashed deploy left
// (nodefs's, and those of earlier versions).
//
// Keys are written 0600 whatever the umask; no file is ever half-written.
// Every path goes through nodefs, so nothing lands outside the root.
// Inputs: the node root and renewal.Files (node paths). Outputs: the sha256 of
// every file written, for the journal. It never prints.
package deploy
