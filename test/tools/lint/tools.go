//go:build tools

// Package lint pins golangci-lint, built from the Go module proxy by
// scripts/lint.sh, in a module of its own so none of its dependencies enters
// the product's go.mod.
package lint

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
