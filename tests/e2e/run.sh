#!/usr/bin/env bash
# Runs the web UI's browser tests: installs playwright-core from
# tests/e2e/package-lock.json into WORKDIR (npm ci, once per lock change),
# then runs them with node's test runner against headless /usr/bin/chromium.
#   tests/e2e/run.sh WORKDIR      (ctest passes build/e2e)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${1:?usage: tests/e2e/run.sh WORKDIR}"
mkdir -p "$work"
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" ||
   [ ! -d "$work/node_modules/playwright-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work/"
  (cd "$work" && npm ci --no-audit --no-fund --loglevel=error)
fi
[ -x /usr/bin/chromium ] || { echo "run.sh: /usr/bin/chromium missing: run scripts/install-deps" >&2; exit 1; }
export ZONEMESH_E2E_MODULES="$work/node_modules"
exec node --test --test-reporter=spec "$here/web_ui.test.mjs"
