// Package txn proves that state-changing commands are transactions: killed
// with SIGKILL at every point of their rename phase (each rename widened with
// strace's fault injection), the next command finishes or abandons what was
// left, no certificate is left beside a key of another generation, no
// temporary file stays, and every change that landed has its audit event.
package txn
