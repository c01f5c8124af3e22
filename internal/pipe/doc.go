// Package pipe finds the processes at the other end of a pipe, on Linux,
// from /proc: which processes hold the read end of the pipe a file is. The
// command layer uses it to see that gencert's stdout is read by cfssljson, as
// in the field guide's `gencert ... | cfssljson -bare NAME`, and then behave
// as cfssl gencert does.
//
// Input: an *os.File (stdout). Output: the other processes holding the pipe
// open for reading, each with its command line. It reads /proc only; it does
// not change anything. Processes it may not look at (another user's, another
// PID namespace's) are simply not seen, so callers must treat "no reader
// found" as "unknown", never as "nobody reads".
package pipe
