//go:build !unix

package inventory

const syscallNonblock = 0
