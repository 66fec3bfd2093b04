#!/usr/bin/env bash
# Installs the pinned OPA CLI into .tools/bin (git-ignored) unless a suitable one exists.
# "Suitable" means exactly the pinned version, so policy builds are reproducible: an opa on
# PATH with that version is linked in; otherwise `go install` builds it from the Go module
# proxy. Everything in mcpgate finds opa through .tools/bin/opa (or $MCPGATE_OPA).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(tr -d '[:space:]' < "$root/scripts/opa-version")"
bin_dir="$root/.tools/bin"
target="$bin_dir/opa"

# Reads the whole output first: with pipefail, `opa version | head -n1` can fail at random
# when head closes the pipe before opa has finished writing (SIGPIPE).
has_version() {
  local out
  out="$("$1" version 2>/dev/null)" || return 1
  [ "${out%%$'\n'*}" = "Version: ${version#v}" ]
}

if [ -x "$target" ] && has_version "$target"; then
  exit 0
fi
mkdir -p "$bin_dir"
if command -v opa >/dev/null 2>&1 && has_version "$(command -v opa)"; then
  ln -sf "$(command -v opa)" "$target"
  echo "install-opa: using $(command -v opa) (OPA $version)"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "install-opa: OPA $version is not installed and Go is missing; install Go 1.24+ or put opa $version on PATH" >&2
  exit 1
fi
echo "install-opa: building OPA $version with go install (takes a few minutes the first time)"
GOBIN="$bin_dir" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/open-policy-agent/opa@$version"
has_version "$target" || { echo "install-opa: $target does not report version $version" >&2; exit 1; }
echo "install-opa: installed $target"
