#!/usr/bin/env bash
# Runs every test: a warnings-as-errors build with the whole CTest suite, the same suite built
# with AddressSanitizer and UndefinedBehaviorSanitizer, and a bounded libFuzzer run of each
# checkpoint parser (clang, TIMMD_FUZZ_SECONDS per target, default 30).
#
# Usage: scripts/run-tests.sh   (installs the Debian packages first when run as root)
# Build trees: build/ci, build/asan and build/fuzz. TIMMD_JOBS sets the build parallelism (default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# Paths relative to the checkout, so ccache hits survive a clone into another folder.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
if [[ $(id -u) -eq 0 && ${TIMMD_SKIP_DEPS:-0} != 1 ]]; then
  "$root/packaging/install-deps.sh"
fi
jobs=${TIMMD_JOBS:-2}

run_suite() {
  local name=$1
  shift
  local build_dir="$root/build/$name"
  echo "== build $name"
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTIMMD_WERROR=ON "$@"
  cmake --build "$build_dir" -j "$jobs"
  echo "== test $name"
  ctest --test-dir "$build_dir" --output-on-failure --timeout 1200
}

run_suite ci
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite asan -DTIMMD_SANITIZE=ON

# The Debian package: built, inspected, installed, run against the test Hub, removed. It
# installs into this machine, so it runs only as root (CI's throwaway machines).
if [[ $(id -u) -eq 0 ]]; then
  echo "== package"
  "$root/scripts/test-package.sh" "$root/build/package"
fi

echo "== build fuzz"
CXX=clang++-16 cmake -S "$root" -B "$root/build/fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTIMMD_FUZZ=ON -DTIMMD_SANITIZE=ON -DTIMMD_FUZZ_SECONDS="${TIMMD_FUZZ_SECONDS:-30}"
cmake --build "$root/build/fuzz" -j "$jobs" --target fuzz_safetensors_header fuzz_pickle fuzz_zip fuzz_npy_header fuzz_remap_request
echo "== test fuzz"
ctest --test-dir "$root/build/fuzz" --output-on-failure -L fuzz
