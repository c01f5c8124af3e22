// Package deploy writes a renewal plan's files onto the node in two phases:
// every file is first staged next to its target (temporary name, content,
// explicit mode, the old file's owner, fsync), and only when all are staged are
// they renamed over their targets one after another, each directory fsynced.
// A failure while staging removes the staged files and changes nothing; the
// rename phase is a handful of renames, and a crash inside it is what the
// rescue journal and the backup exist for (package rescue rolls back).
//
// Keys are written 0600 whatever the umask; no file is ever half-written.
// Inputs: the node root and renewal.Files (node paths). Outputs: the sha256 of
// every file written, for the journal. It never prints.
package deploy
