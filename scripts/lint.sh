#!/usr/bin/env bash
# Builds golangci-lint from the Go module proxy (pinned in test/tools/lint, a
# module of its own, so none of it enters the product's go.mod), cached per
# version under ${CERTRESCUE_TESTBED_CACHE:-$HOME/.cache/certrescue-testbed}/
# like the testbed's peers, then runs it with .golangci.yml over the tree.
# Usage: scripts/lint.sh [golangci-lint run flags]...
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${CERTRESCUE_TESTBED_CACHE:-$HOME/.cache/certrescue-testbed}
version=$(cd "$top/test/tools/lint" && GOFLAGS=-mod=mod go list -m -f '{{.Version}}' github.com/golangci/golangci-lint/v2)
dir="$cache/golangci-lint-$version/bin"
if [ ! -x "$dir/golangci-lint" ]; then
  echo "lint: building golangci-lint $version (first time on this machine)" >&2
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  (cd "$top/test/tools/lint" && CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$dir.tmp" \
    go install -trimpath -ldflags=-s github.com/golangci/golangci-lint/v2/cmd/golangci-lint) >&2
  mkdir -p "$dir" && mv "$dir.tmp/golangci-lint" "$dir/" && rmdir "$dir.tmp"
fi
cd "$top"
exec "$dir/golangci-lint" run --config "$top/.golangci.yml" "$@" ./...
