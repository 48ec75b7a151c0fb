#!/usr/bin/env bash
# Install every Debian package that building, testing and running the demo need.
# Idempotent: apt-get skips packages that are already installed.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-dev
  libcurl4-openssl-dev libssl-dev
  nlohmann-json3-dev libsqlite3-dev sqlite3
  doctest-dev libspdlog-dev libfmt-dev libcli11-dev
  zlib1g-dev libsystemd-dev
  clang-16 libclang-rt-16-dev
  curl openssl procps psmisc
  python3 python3-numpy python3-torch
  # scripts/test-package.sh: cpack's dpkg-shlibdeps, systemd-analyze and systemd-socket-activate,
  # the maintainer scripts' tools, man and lexgrog for the man pages.
  dpkg-dev file systemd init-system-helpers adduser man-db groff-base
)

if [[ $(id -u) -ne 0 ]]; then
  sudo_cmd=(sudo)
else
  sudo_cmd=()
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${packages[@]}"
