#!/usr/bin/env bash
# Puts the pinned Jaeger (an OTLP receiver with a query API) at .tools/bin/jaeger (git-ignored)
# for the opt-in Jaeger tracing test (`npm run test:jaeger`, not part of `npm test`), which
# sends the gateway's spans to it and reads them back. The binary
# is built once per machine into a cache outside the checkout ($MCPGATE_TOOLS_CACHE, default
# ~/.cache/mcpgate-tools) and linked in, so a fresh clone (CI) reuses it. Jaeger's go.mod has
# replace directives, so `go install pkg@version` cannot build it; a scratch module that
# requires it as a tool can. The first build downloads its modules from the Go module proxy
# and took 56 minutes on a loaded two-core machine (docs/testing.md), hence opt-in.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=v1.75.0
bin_dir="$root/.tools/bin"
target="$bin_dir/jaeger"
cache="${MCPGATE_TOOLS_CACHE:-$HOME/.cache/mcpgate-tools}"
built="$cache/jaeger-$version"

if [ ! -x "$built" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "install-jaeger: Jaeger $version is not built and Go is missing; install Go 1.24+ (the Jaeger tracing test needs it)" >&2
    exit 1
  fi
  echo "install-jaeger: building Jaeger $version from the Go module proxy (up to an hour the first time)"
  mkdir -p "$cache"
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  (
    cd "$scratch"
    go mod init mcpgate-jaeger-build >/dev/null 2>&1
    GOFLAGS=-mod=mod go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version"
    GOFLAGS="-trimpath -buildvcs=false" go build -o "$built.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
  )
  mv "$built.tmp" "$built"
  echo "install-jaeger: built $built"
fi
mkdir -p "$bin_dir"
if [ "$(readlink "$target" 2>/dev/null)" != "$built" ]; then
  ln -sf "$built" "$target"
  echo "install-jaeger: linked $target"
fi
