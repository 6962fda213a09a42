#!/usr/bin/env bash
# Installs the Debian packages carebase needs, only those missing; quick when all are there.
set -euo pipefail

packages=(
  postgresql-15 postgresql-client-15 postgresql-15-pgtap postgresql-15-cron
  postgresql-15-wal2json                  # Realtime's Postgres Changes (devstack/realtime)
  libtap-parser-sourcehandler-pgtap-perl  # pg_prove
  hey                                     # HTTP load for bench/
  curl jq                                 # the README's five-minute tour
  python3-venv
  fonts-noto-core                         # the PDFs' fonts: Latin, Devanagari, Gurmukhi
)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A Python that already has venv (pyenv, a custom build) does not need Debian's python3-venv.
if [[ " ${missing[*]} " == *" python3-venv "* ]] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
# npm installs the Firebase Auth emulator; a Node.js that brings its own npm (NodeSource) is kept.
command -v npm >/dev/null || missing+=(nodejs npm)
read -r -a missing <<<"${missing[*]}"
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
# Debian's postgresql-common would create and start a default cluster on :5432; carebase runs its own.
$sudo mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/carebase.conf >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
