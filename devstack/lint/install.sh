#!/usr/bin/env bash
# Installs Supabase's own database linter as well as ours: splinter's queries ship inside the
# Postgres Language Server's CLI (npm @postgres-language-server/cli, pinned; its binary comes in
# the platform's package from the same registry), whose `dblint` runs them against a database.
# Into .local/postgres-language-server; quick when there.
set -euo pipefail

version=0.25.5
root="$(cd "$(dirname "$0")/../.." && pwd)"
prefix="$root/.local/postgres-language-server"
package="$prefix/node_modules/@postgres-language-server/cli/package.json"

if [ -f "$package" ] && grep -q "\"version\": \"$version\"" "$package" \
  && "$prefix/node_modules/.bin/postgres-language-server" --version >/dev/null 2>&1; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "error: splinter (postgres-language-server) is installed with npm, which is missing" >&2
  echo "  fix: make system (installs Debian's nodejs and npm), then run this again" >&2
  exit 1
fi
echo "installing @postgres-language-server/cli $version into .local/postgres-language-server (splinter)"
npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
  "@postgres-language-server/cli@$version"
"$prefix/node_modules/.bin/postgres-language-server" --version >/dev/null
