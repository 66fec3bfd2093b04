#!/usr/bin/env bash
# Installs what this checkout needs, and only what is missing, so `npm test` and
# `npm run quickstart` work as the first command on a fresh clone:
#   - the pinned Node.js (scripts/install-node.sh into .tools/node), on which the rest runs;
#   - the npm packages of package-lock.json (`npm install` when node_modules does not match);
#   - the pinned OPA CLI (scripts/install-opa.sh: a matching opa on PATH, or go install);
#   - with --redis, redis-server for the session-store and replica tests (apt-get, as root,
#     when it is missing);
#   - with --browser, Debian's chromium for the console test (apt-get, as root, when it is
#     missing; playwright-core drives it, and no browser is downloaded);
#   - with --clients, the real MCP clients of the conformance and Python client tests: the
#     conformance suite on its own Node 22 (scripts/install-conformance.sh) and the Python
#     MCP SDK in a venv when python3 >= 3.11 is there (scripts/install-python-client.sh);
#   - with --observability, Prometheus (apt-get: Debian's prometheus, with promtool) for the
#     metrics test;
#   - with --jaeger, Jaeger built from the Go module proxy into .tools/bin for the opt-in
#     Jaeger tracing test (scripts/install-jaeger.sh; most of an hour on a fresh machine,
#     then reused from ~/.cache): `npm run test:jaeger` asks for it, `npm test` does not.
# Each step that cannot be done says what to install by hand.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export npm_config_update_notifier=false

with_redis=false
with_clients=false
with_browser=false
with_observability=false
with_jaeger=false
for arg in "$@"; do
  case "$arg" in
    --redis) with_redis=true ;;
    --clients) with_clients=true ;;
    --browser) with_browser=true ;;
    --observability) with_observability=true ;;
    --jaeger) with_jaeger=true ;;
    *)
      echo "setup: unknown option $arg (usage: scripts/setup.sh [--redis] [--clients] [--browser] [--observability] [--jaeger])" >&2
      exit 2
      ;;
  esac
done

# npm install and its packages' install scripts run on the pinned Node.js too.
. scripts/use-node.sh

if ! node scripts/npm-packages-current.mjs; then
  # npm install (not npm ci): it installs exactly the lock's versions, but unlike npm ci it
  # accepts a lock without the non-Linux optional bindings of unrs-resolver (a jest
  # dependency) that this environment's registry does not serve.
  npm install --no-audit --no-fund
fi

bash scripts/install-opa.sh

# Installs a Debian package when setup runs as root where apt-get is; returns 1 anywhere
# else (or when the install fails), and the caller says what to install by hand.
apt_install() {
  local package="$1" why="$2"
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then return 1; fi
  echo "setup: installing $package with apt-get ($why)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "$package" >/dev/null
}

if [ "$with_redis" = true ]; then
  # The tests look for REDIS_SERVER, then redis-server on PATH (test/support/redis.ts).
  if [ -n "${REDIS_SERVER:-}" ]; then
    [ -x "$REDIS_SERVER" ] || {
      echo "setup: REDIS_SERVER=$REDIS_SERVER is not an executable file" >&2
      exit 1
    }
  elif ! command -v redis-server >/dev/null 2>&1; then
    if ! apt_install redis-server 'the session-store tests start their own'; then
      echo "setup: redis-server is missing; the session-store and replica tests need it." >&2
      echo "       Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
      echo "       or set REDIS_SERVER to its path, then run the command again." >&2
      exit 1
    fi
  fi
fi

if [ "$with_browser" = true ]; then
  # The console test looks for CHROMIUM, then /usr/bin/chromium (test/e2e/console.test.ts).
  if [ -n "${CHROMIUM:-}" ]; then
    [ -x "$CHROMIUM" ] || {
      echo "setup: CHROMIUM=$CHROMIUM is not an executable file" >&2
      exit 1
    }
  elif [ ! -x /usr/bin/chromium ]; then
    if ! apt_install chromium 'the console test drives it'; then
      echo "setup: chromium is missing; the console test needs it." >&2
      echo "       Install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM to a" >&2
      echo "       Chromium or Chrome binary, then run the command again." >&2
      exit 1
    fi
  fi
fi

if [ "$with_clients" = true ]; then
  bash scripts/install-conformance.sh
  bash scripts/install-python-client.sh
fi

if [ "$with_observability" = true ]; then
  # The metrics test looks for PROMETHEUS and PROMTOOL, then both on PATH.
  if [ -z "${PROMETHEUS:-}" ] && ! command -v prometheus >/dev/null 2>&1; then
    if ! apt_install prometheus 'the metrics test scrapes the gateway with it'; then
      echo "setup: prometheus is missing; the metrics test needs it." >&2
      echo "       Install it (Debian/Ubuntu: sudo apt-get install prometheus) or set PROMETHEUS and PROMTOOL," >&2
      echo "       then run the command again." >&2
      exit 1
    fi
    # Only its binaries are used: the packaged service is not needed.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
  fi
fi

if [ "$with_jaeger" = true ]; then
  bash scripts/install-jaeger.sh
fi
