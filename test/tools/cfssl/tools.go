//go:build tools

// Package tools pins cfssl and cfssljson v1.6.5, the peers certrescue's
// compatibility tests and benchmarks run against.
package tools

import (
	_ "github.com/cloudflare/cfssl/cmd/cfssl"
	_ "github.com/cloudflare/cfssl/cmd/cfssljson"
)
