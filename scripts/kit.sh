#!/usr/bin/env bash
# Builds the offline rescue kit: dist/certrescue-kit-VERSION.tar.gz with static
# (CGO_ENABLED=0) certrescue binaries for linux/amd64 and linux/arm64, the conf/
# templates, the Ansible collection (ansible/, from deploy/ansible) and SHA256SUMS.
# Verify it with `certrescue kit verify`. KIT_ARCHS overrides the architectures
# (default "amd64 arm64").
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-$(git -C "$top" describe --tags --always --dirty 2>/dev/null || echo devel)}
name=certrescue-kit-$version
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
kit="$stage/$name"
mkdir -p "$kit/bin" "$kit/conf"
for arch in ${KIT_ARCHS:-amd64 arm64}; do
  (cd "$top" && CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X github.com/certrescue/certrescue/internal/cli.Version=$version" \
    -o "$kit/bin/certrescue-linux-$arch" ./cmd/certrescue)
done
cp "$top"/internal/kit/conf/*.json "$kit/conf/"
cp "$top/README.md" "$kit/README.md"
# The collection, without what a run leaves behind (reports, retry files,
# Python's bytecode of the action plugins).
(cd "$top/deploy" && find ansible -type f ! -name '*.retry' ! -name '*.pyc' ! -path '*/reports/*' ! -path '*/__pycache__/*' | LC_ALL=C sort | \
  while read -r f; do mkdir -p "$kit/$(dirname "$f")" && cp "$f" "$kit/$f"; done)
(cd "$kit" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
out=${KIT_OUT:-$top/dist}
mkdir -p "$out"
tar -C "$stage" --owner=0 --group=0 --numeric-owner -czf "$out/$name.tar.gz" "$name"
echo "$out/$name.tar.gz"
