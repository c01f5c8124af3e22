//go:build unix

package inventory

import "syscall"

// syscallNonblock opens without blocking, so a FIFO swapped in after the
// Stat check cannot hang a scan.
const syscallNonblock = syscall.O_NONBLOCK
