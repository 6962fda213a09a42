#!/usr/bin/env bash
# Installs the official JavaScript clients the tests drive, exactly as tests/js/package-lock.json
# pins them, into .local/js-clients. Quick when that lock file is already installed. Node.js
# comes from devstack/firebase/install.sh (run first by `make install`): the system's, or
# .local/node when the system's is too old.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="$root/.local/js-clients"
stamp="$prefix/.installed-lock"
if cmp -s "$root/tests/js/package-lock.json" "$stamp"; then
  exit 0
fi
echo "installing the JavaScript clients of tests/js/package-lock.json into .local/js-clients"
mkdir -p "$prefix"
cp "$root/tests/js/package.json" "$root/tests/js/package-lock.json" "$prefix/"
PATH="$root/.local/node/bin:$PATH" npm ci --prefix "$prefix" --no-audit --no-fund --loglevel=error
cp "$root/tests/js/package-lock.json" "$stamp"
