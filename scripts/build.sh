#!/usr/bin/env bash
# Configures and builds timmd into build/NAME with ccache.
# Usage: scripts/build.sh NAME [TARGET...]   (no target: everything)
# Extra CMake arguments come from TIMMD_CMAKE_ARGS; TIMMD_JOBS sets the parallelism (default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Paths relative to the checkout, so ccache hits survive a clone into another folder.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
name=${1:?usage: scripts/build.sh NAME [TARGET...]}
shift
build_dir="$root/build/$name"

# shellcheck disable=SC2086  # TIMMD_CMAKE_ARGS is a list of words on purpose
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${TIMMD_CMAKE_ARGS:-} >/dev/null
if [[ $# -gt 0 ]]; then
  cmake --build "$build_dir" -j "${TIMMD_JOBS:-2}" --target "$@"
else
  cmake --build "$build_dir" -j "${TIMMD_JOBS:-2}"
fi
