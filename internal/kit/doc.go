// Package kit is the offline rescue kit (the field guide's step 1): the conf/
// templates every kit carries (ca-config.json with a "kubernetes" profile,
// ca-csr.json, apiserver-csr.json) and verification of a built kit against its
// SHA256SUMS, as a directory or as the .tar.gz that `make kit` writes.
//
// Building is scripts/kit.sh (cross-compiling is the go tool's job); this
// package only reads. Verify never extracts anything: a tarball is hashed as a
// stream, and entries that would land outside the kit are reported as errors.
package kit
