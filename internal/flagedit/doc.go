// Package flagedit changes the value of one command-line flag in the text of
// the file a component is started from: a static pod manifest (YAML or JSON:
// "- --flag=value", "--flag=value" inside a flow list), a systemd unit's
// ExecStart (with "\" continuations) or an environment file's variable
// ("ARGS=\"--flag=value ...\""). Everything else in the file stays byte for
// byte, so the change is a one-line diff an operator can read and undo.
//
// Set refuses, changing nothing, when the flag is not in the text with the
// value expected, or is there more than once (not counting comment lines):
// a file that names the flag twice says two things, and which one the
// component reads depends on a parser this package does not repeat. The
// caller reads and writes the file (through nodefs, a rescue's transaction);
// this package does no IO.
package flagedit
