#!/usr/bin/env bash
# The quickstart in one command: installs what is missing (the pinned Node.js, the npm
# packages, the pinned OPA CLI), builds the gateway and the example policy, then starts the
# development IdP (http://127.0.0.1:8081, Okta-shaped) and the gateway on
# examples/quickstart (http://127.0.0.1:8080/mcp), and runs until it is told to stop.
#
# Usage: scripts/quickstart.sh [--no-build]
#   --no-build  start at once with what the last run installed and built
#
# SIGINT (Ctrl-C), SIGTERM or SIGHUP to this script, or to `npm run quickstart` (which
# execs it), stops everything it started: the dev IdP, the gateway and the gateway's
# upstream servers, so ports 8080 and 8081 are free again when it has exited.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=true
for arg in "$@"; do
  case "$arg" in
    --no-build) build=false ;;
    *)
      echo "quickstart: unknown option $arg (usage: scripts/quickstart.sh [--no-build])" >&2
      exit 2
      ;;
  esac
done

# Everything below runs on the pinned Node.js (installed first when missing, also with
# --no-build), the IdP and the gateway included.
. scripts/use-node.sh

state=examples/quickstart/.state
idp_port=8081
gateway_port=8080

# True when something accepts connections on the loopback port.
port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
for port in "$idp_port" "$gateway_port"; do
  if port_in_use "$port"; then
    echo "quickstart: port $port is in use: is another quickstart (or gateway) still running? Stop it, then run this again." >&2
    exit 1
  fi
done

if [ "$build" = true ]; then
  echo "==> installing what is missing: npm packages, the pinned OPA CLI (first time takes a few minutes)"
  bash scripts/setup.sh
  echo "==> building mcpgate and the example policy"
  npm run build
  node bin/mcpgate.js policy build
fi

idp=""
gateway=""
sleeper=""
stopping=false

# Stops what this script started, politely (SIGTERM: the gateway ends its sessions, stops
# its upstream servers and writes the rest of the decision log), then by force after 20 s.
stop_children() {
  if [ "$stopping" = true ]; then return 0; fi
  stopping=true
  if [ -n "$sleeper" ]; then kill "$sleeper" 2>/dev/null || true; fi
  local pids=() pid alive waited=0
  for pid in $gateway $idp; do
    if kill -0 "$pid" 2>/dev/null; then pids+=("$pid"); fi
  done
  if [ "${#pids[@]}" -eq 0 ]; then return 0; fi
  echo "==> stopping the gateway and the dev IdP"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  while :; do
    alive=()
    for pid in "${pids[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi
    done
    if [ "${#alive[@]}" -eq 0 ]; then return 0; fi
    if [ "$waited" -ge 200 ]; then
      echo "quickstart: still running after 20 s, killing: ${alive[*]}" >&2
      kill -KILL "${alive[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# On a signal: stop everything, then end by that same signal, as callers expect (npm then
# ends quietly by it too). The exit is for a signal this shell cannot take (ignored since
# it started, as under nohup).
on_signal() {
  trap - INT TERM HUP EXIT
  stop_children
  kill -s "$1" $$
  exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP
trap stop_children EXIT

# Under `npm run quickstart` this script's parent is npm. npm passes SIGINT and SIGTERM on,
# but a SIGHUP ends npm alone: then this script sees its parent gone and stops too.
parent=""
if [ -n "${npm_lifecycle_event:-}" ]; then parent=$PPID; fi

# Waits until `url` answers, while `pid` runs; fails naming `what` if it exits first.
wait_until_up() {
  local url=$1 pid=$2 what=$3
  for _ in $(seq 1 300); do
    node -e "fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" "$url" && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "quickstart: $what did not start (its log is above)" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "quickstart: $what did not answer $url within a minute" >&2
  exit 1
}

mkdir -p "$state"
echo "==> starting the development IdP on http://127.0.0.1:$idp_port (quickstart only)"
node bin/mcpgate.js dev-idp --port "$idp_port" --profile okta \
  --audience "http://127.0.0.1:$gateway_port/mcp" --state-dir "$state" &
idp=$!
wait_until_up "http://127.0.0.1:$idp_port/oauth2/aus_dev/.well-known/openid-configuration" "$idp" "the dev IdP"

echo "==> starting mcpgate on examples/quickstart (decisions: $state/decisions.log)"
node bin/mcpgate.js start --config examples/quickstart/mcpgate.yaml &
gateway=$!
wait_until_up "http://127.0.0.1:$gateway_port/healthz" "$gateway" "mcpgate"

cat <<RECIPE
==> mcpgate is ready on http://127.0.0.1:$gateway_port/mcp
    In a second terminal, in $(pwd):

    # The pinned Node.js the quickstart runs on, first on PATH:
    export PATH="$(pwd)/.tools/node/bin:\$PATH"

    # A user's access token, for MCP clients (the README's Inspector calls use it):
    TOKEN=\$(node bin/mcpgate.js dev-token --user alice --groups engineering)

    # An admin token, for \`mcpgate sessions\`: the policy admits the mcpgate.admin role.
    ADMIN_TOKEN=\$(node bin/mcpgate.js dev-token --user admin --roles mcpgate.admin)
    node bin/mcpgate.js sessions list --token "\$ADMIN_TOKEN"

    # The console (approvals, sessions, decisions): sign in as carol, any password.
    http://127.0.0.1:$gateway_port/console

    Ctrl-C stops the quickstart.
RECIPE

# Until a signal comes, one of the two ends, or (under npm) npm is gone.
while kill -0 "$idp" 2>/dev/null && kill -0 "$gateway" 2>/dev/null; do
  if [ -n "$parent" ] && ! kill -0 "$parent" 2>/dev/null; then
    echo "==> npm has gone away (SIGHUP?)"
    on_signal HUP 129
  fi
  sleep 0.5 &
  sleeper=$!
  wait "$sleeper" || true
  sleeper=""
done
for pid in "$gateway" "$idp"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    status=0
    wait "$pid" || status=$?
    name="the dev IdP"
    [ "$pid" = "$gateway" ] && name="mcpgate"
    echo "quickstart: $name exited (status $status); stopping the rest" >&2
    exit "$status"
  fi
done
