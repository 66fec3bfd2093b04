# Sourced from the checkout's root (`. scripts/use-node.sh`) by every npm script and by the
# shell scripts: installs the pinned Node.js when it is missing (scripts/install-node.sh),
# then puts .tools/node/bin first on PATH. npm runs each script in one `sh -c`, so
# everything after it there runs on the pinned Node.js: `node`, the tools started by name
# (tsc, jest, eslint, prettier: `#!/usr/bin/env node`), a nested `npm run` (npm itself is
# a `node` script) and the children they spawn with process.execPath.
bash scripts/install-node.sh || return 1
PATH="$PWD/.tools/node/bin:$PATH"
export PATH
