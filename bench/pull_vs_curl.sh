#!/usr/bin/env bash
# Times a cold `timmctl pull` of one large file from the local test Hub against `curl -o` of
# the same file (following the Hub's redirect to its CDN listener), each followed by nothing
# else: timmd verifies the SHA-256 itself, curl's copy is checked with sha256sum afterwards and
# that time is reported separately. Runs are interleaved; the medians are printed.
#
# Usage: bench/pull_vs_curl.sh [SIZE_MIB] [RUNS]     (defaults: 1024 MiB, 3 runs)
# Needs a release build: scripts/build.sh release timmd timmctl timmd-testhub
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
size_mib=${1:-1024}
runs=${2:-3}
bin="$root/build/release"
work=$(mktemp -d /tmp/timmd-bench.XXXXXX)
hub_pid=""
cleanup() {
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/repos/bench/big"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$work/repos/bench/big/model.safetensors"
"$bin/tests/hubserver/timmd-testhub" --repos "$work/repos" --ready-file "$work/hub.json" \
  --threads 2 2>"$work/hub.log" >/dev/null &
hub_pid=$!
for _ in $(seq 600); do [[ -s $work/hub.json ]] && break; sleep 0.1; done
endpoint=$(sed -n 's/.*"api": *"\([^"]*\)".*/\1/p' "$work/hub.json")
url="$endpoint/bench/big/resolve/main/model.safetensors"

now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

: >"$work/timmd.times"
: >"$work/curl.times"
: >"$work/sha.times"
for run in $(seq "$runs"); do
  rm -rf "$work/cache" "$work/out.bin"
  "$bin/daemon/timmd" --endpoint "$endpoint" --cache-dir "$work/cache" --socket "$work/timmd.sock" \
    --log-level warn 2>>"$work/timmd.log" &
  daemon_pid=$!
  for _ in $(seq 100); do TIMMD_SOCKET="$work/timmd.sock" "$bin/client/timmctl" status >/dev/null 2>&1 && break; sleep 0.1; done
  start=$(now)
  TIMMD_SOCKET="$work/timmd.sock" "$bin/client/timmctl" pull bench/big >/dev/null
  end=$(now)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/timmd.times"
  kill "$daemon_pid"
  wait "$daemon_pid" || true

  sync
  start=$(now)
  curl -sS -L -o "$work/out.bin" "$url"
  end=$(now)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/curl.times"
  start=$(now)
  sha256sum "$work/out.bin" >/dev/null
  end=$(now)
  awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/sha.times"
done

timmd_s=$(median <"$work/timmd.times")
curl_s=$(median <"$work/curl.times")
sha_s=$(median <"$work/sha.times")
echo "file: $size_mib MiB, $runs interleaved runs, medians"
echo "timmctl pull (download + SHA-256 verify + publish): $timmd_s s"
echo "curl -o (download only):                            $curl_s s"
echo "sha256sum of curl's file:                           $sha_s s"
awk -v t="$timmd_s" -v c="$curl_s" -v h="$sha_s" 'BEGIN {printf "ratio timmd / curl: %.2f\nratio timmd / (curl + sha256sum): %.2f\n", t / c, t / (c + h)}'
