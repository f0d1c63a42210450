#!/bin/sh
# install-test-clients.sh - the clients that the tests of `r1 serve` drive
# (tests/server/*.sh): Node.js with npm (Debian's `nodejs npm` when npm is
# missing) and the npm packages pinned in tests/server/js/package-lock.json
# (the official `openai` client, `jose`, and `playwright-core` driving
# Debian's chromium for the web page), installed with `npm ci` when node_modules
# is missing or older than the lock file. Idempotent and quiet when there is
# nothing to do. Uses sudo when not root.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JS="$ROOT/tests/server/js"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
    echo "install-test-clients: installing nodejs npm"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

# node:test and the global fetch need Node.js 18 or later.
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 18 ]; then
    echo "install-test-clients: Node.js $(node --version) is too old; the server tests need 18 or later" >&2
    exit 1
fi

if [ ! -d "$JS/node_modules" ] || [ -n "$(find "$JS/package-lock.json" -newer "$JS/node_modules")" ]; then
    echo "install-test-clients: npm ci in tests/server/js"
    (cd "$JS" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$JS/node_modules"
fi
