#!/usr/bin/env bash
# Installs the Python MCP SDK (mcp 2.3.0 and its dependencies, pinned in
# test/python/requirements.txt) into a virtual environment at .tools/python-mcp (git-ignored),
# for the Python client test (test/e2e/python-client.test.ts). Reuses the venv while it was
# made from the same requirements file; otherwise makes it again.
# Needs python3 >= 3.11 (exception groups are built in from 3.11) with the venv module; without it, says so and exits 0 (setup goes on,
# and the Python client test fails naming what is missing).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/test/python/requirements.txt"
venv="$root/.tools/python-mcp"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "install-python-client: $python is not on PATH; the Python client test needs Python >= 3.11 (set PYTHON to another interpreter)" >&2
  exit 0
fi
if ! "$python" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  echo "install-python-client: $("$python" --version 2>&1) is older than 3.11 or lacks the venv module; the Python client test needs Python >= 3.11 with venv" >&2
  exit 0
fi

wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
echo "install-python-client: making .tools/python-mcp with $(grep -E '^mcp==' "$requirements") ($("$python" --version 2>&1))"
rm -rf "$venv"
"$python" -m venv "$venv"
# The file pins every package the client needs (a pip freeze), so pip resolves nothing
# (--no-deps); `pip check` then confirms the set is complete and consistent.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps -r "$requirements"
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null
# Written last: a venv whose install failed halfway is made again on the next run.
echo "$wanted" > "$stamp"
echo "install-python-client: installed $venv"
