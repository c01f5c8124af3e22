// Package atomicfile writes keys, certificates and kubeconfigs so that a reader
// sees either the old file or the whole new one, never a torn write, and a crash
// leaves no half-written key behind.
//
// A write goes to a temporary file in the target's directory, is fsynced, gets its
// mode set explicitly (so the umask never loosens a key), is renamed over the
// target, and the directory is fsynced so the rename itself is durable.
//
// WriteSet writes a group of files all-or-nothing with respect to refusals: every
// target is checked for existence (unless Force) before the first byte is written,
// so a refused command changes nothing on disk.
package atomicfile
