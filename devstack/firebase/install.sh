#!/usr/bin/env bash
# Installs the Firebase CLI (npm firebase-tools, pinned) into .local/firebase-tools for the
# Firebase Auth emulator; quick when that version is already there.
set -euo pipefail

version=15.34.2
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="$root/.local/firebase-tools"
package="$prefix/node_modules/firebase-tools/package.json"

if [ -f "$package" ] && grep -q "\"version\": \"$version\"" "$package"; then
  exit 0
fi
if ! command -v npm >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)'; then
  echo "error: the Firebase Auth emulator needs Node.js 20 or newer with npm (firebase-tools $version)" >&2
  echo "  fix: install Node.js 20+ (e.g. from nodejs.org or NodeSource), then run this again" >&2
  exit 1
fi
echo "installing firebase-tools $version into .local/firebase-tools (the Auth emulator)"
# Install scripts only build native modules the Auth emulator does not use (re2 for Hosting).
npm install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "firebase-tools@$version"
