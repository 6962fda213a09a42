#!/usr/bin/env bash
# Installs the Firebase CLI (npm firebase-tools, pinned) into .local/firebase-tools for the
# Firebase Auth emulator, and a Node.js 20 into .local/node when the system's is older (Debian
# 12 ships 18; firebase-tools needs 20+). Quick when both are there.
set -euo pipefail

version=15.34.2
node_version=20.20.2
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="$root/.local/firebase-tools"
package="$prefix/node_modules/firebase-tools/package.json"
private_node="$root/.local/node"

node_is_recent() {
  node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)' 2>/dev/null
}

need_npm() {
  if ! command -v npm >/dev/null; then
    echo "error: the Firebase Auth emulator is installed with npm, which is missing" >&2
    echo "  fix: make system (installs Debian's nodejs and npm), then run this again" >&2
    exit 1
  fi
}

# The emulator's launcher (devstack/firebase/emulator.py) puts .local/node/bin first on PATH.
if ! node_is_recent && ! "$private_node/bin/node" --version 2>/dev/null | grep -qx "v$node_version"; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "error: firebase-tools needs Node.js 20+; install it for $(uname -m), then run this again" >&2; exit 1 ;;
  esac
  need_npm
  echo "installing Node.js $node_version into .local/node (the system's is older than 20)"
  # The npm registry carries Node.js builds as packages: no download from elsewhere.
  npm install --prefix "$private_node" --no-audit --no-fund --loglevel=error \
    "node-linux-$arch@$node_version"
  mkdir -p "$private_node/bin"
  ln -sf "../node_modules/node-linux-$arch/bin/node" "$private_node/bin/node"
  "$private_node/bin/node" --version >/dev/null
fi

if [ -f "$package" ] && grep -q "\"version\": \"$version\"" "$package"; then
  exit 0
fi
need_npm
echo "installing firebase-tools $version into .local/firebase-tools (the Auth emulator)"
# Install scripts only build native modules the Auth emulator does not use (re2 for Hosting).
npm install --prefix "$prefix" --no-audit --no-fund --ignore-scripts --loglevel=error \
  "firebase-tools@$version"
