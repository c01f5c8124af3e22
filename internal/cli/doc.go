// Package cli is certrescue's command layer: cobra commands that parse flags,
// call the library packages and print. It is the only package that prints, reads
// the wall clock or maps errors to exit codes.
//
// Commands register themselves with register() from their own files, so adding a
// command never edits root.go.
package cli
