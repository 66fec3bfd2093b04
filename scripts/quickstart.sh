#!/usr/bin/env bash
# The quickstart in one command: installs everything this project needs (npm packages, the
# pinned OPA CLI), builds the gateway and the example policy, then starts the development
# IdP (http://127.0.0.1:8081, Okta-shaped) and the gateway on examples/quickstart
# (http://127.0.0.1:8080/mcp). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "==> installing what is missing: npm packages, the pinned OPA CLI (first time takes a few minutes)"
bash scripts/setup.sh
echo "==> building mcpgate and the example policy"
npm run build
node bin/mcpgate.js policy build

state=examples/quickstart/.state
mkdir -p "$state"
echo "==> starting the development IdP on http://127.0.0.1:8081 (quickstart only)"
node bin/mcpgate.js dev-idp --port 8081 --profile okta --audience http://127.0.0.1:8080/mcp \
  --state-dir "$state" &
idp=$!
trap 'kill "$idp" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 50); do
  node -e "fetch('http://127.0.0.1:8081/oauth2/aus_dev/.well-known/openid-configuration').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  kill -0 "$idp" 2>/dev/null || { echo "the dev IdP did not start" >&2; exit 1; }
  sleep 0.2
done
echo "==> starting mcpgate on examples/quickstart (decisions: $state/decisions.log)"
node bin/mcpgate.js start --config examples/quickstart/mcpgate.yaml
