#!/usr/bin/env bash
# Builds the pinned Jaeger (an OTLP receiver with a query API) into .tools/bin/jaeger
# (git-ignored) unless it is there: the tracing test sends the gateway's spans to it and
# reads them back. Jaeger's go.mod has replace directives, so `go install pkg@version` cannot
# build it; a scratch module that requires it as a tool can. The first build downloads
# its modules from the Go module proxy and takes several minutes; later runs reuse the binary.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=v1.75.0
bin_dir="$root/.tools/bin"
target="$bin_dir/jaeger"
stamp="$target.version"

if [ -x "$target" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-jaeger: Jaeger $version is not built and Go is missing; install Go 1.24+ (the tracing test needs it)" >&2
  exit 1
fi
echo "install-jaeger: building Jaeger $version from the Go module proxy (several minutes the first time)"
mkdir -p "$bin_dir"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
go mod init mcpgate-jaeger-build >/dev/null 2>&1
GOFLAGS=-mod=mod go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$version"
GOFLAGS="-trimpath -buildvcs=false" go build -o "$target.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
mv "$target.tmp" "$target"
echo "$version" > "$stamp"
echo "install-jaeger: installed $target"
