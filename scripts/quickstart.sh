#!/usr/bin/env bash
# The quickstart in one command: installs everything this project needs (npm packages, the
# pinned OPA CLI), builds the gateway and the example policy, then starts the gateway on
# examples/quickstart (http://127.0.0.1:8080/mcp). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "==> installing npm packages"
# npm install (not npm ci): it installs exactly the lock's versions, but unlike npm ci it
# accepts a lock without the non-Linux optional bindings of unrs-resolver (a jest
# dependency) that this environment's registry does not serve.
npm install --no-audit --no-fund
echo "==> installing the OPA CLI (pinned; first time takes a few minutes)"
bash scripts/install-opa.sh
echo "==> building mcpgate and the example policy"
npm run build
node bin/mcpgate.js policy build
echo "==> starting mcpgate on examples/quickstart (decisions: examples/quickstart/.state/decisions.log)"
exec node bin/mcpgate.js start --config examples/quickstart/mcpgate.yaml
