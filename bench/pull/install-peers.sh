#!/usr/bin/env bash
# Installs the download tools that bench/pull/run.sh compares timmd with: aria2c, curl and
# openssl from Debian, node and npm from Debian unless a node is already installed, and the
# @huggingface/hub version pinned in bench/pull/hfjs/package-lock.json into
# bench/pull/hfjs/node_modules. Run as root on Debian 12.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
packages=(aria2 curl openssl coreutils)
# A node from another source (NodeSource ships npm inside its nodejs package) is kept as is.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
npm ci --prefix "$here/hfjs" --no-audit --no-fund
