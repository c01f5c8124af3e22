// Package atomicfile writes an operator's own files (gencert's output, an
// alerts file, a kit) on this machine, atomically and with explicit modes. It
// is a thin front of nodefs's one atomic writer on the host filesystem; node
// paths under --root are written with nodefs.FS directly. Its mode constants
// (KeyMode, CertMode, DirMode) are the modes certrescue writes everywhere.
package atomicfile
