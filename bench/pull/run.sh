#!/usr/bin/env bash
# The pull benchmark. It serves generated repositories from timmd-testhub on 127.0.0.1, once
# with a per-connection throttle that emulates a CDN and once without. Against that Hub it
# times cold pulls by timmd (a new daemon and an empty cache for each run) and by curl,
# aria2c and the @huggingface/hub npm client, runs interleaved. It also measures the SHA-256
# throughput of timmd's Hasher against openssl and the daemon's peak resident memory. The
# results are spliced into docs/benchmarks.md between its "results" markers.
#
# Usage: bench/pull/run.sh [options]
#   --size-mib N        size of the large file (default 2048)
#   --runs N            runs of every peer in every setting (default 3)
#   --throttle-mb N     per-connection limit of the throttled Hub, in MB/s (10^6 bytes/s, default 40)
#   --connections N     timmd's download.connections_per_file, also given to the second aria2c (default 8)
#   --repo-large-mib N  size of the large file of the many-files repository (default 256)
#   --small-files N     number of small JSON files in that repository (default 20)
#   --build DIR         release build with timmd, timmctl, timmd-testhub and bench_hash_throughput
#                       (default build/release, built by scripts/build.sh with the bench on)
#   --doc FILE          Markdown file to splice the results into (default docs/benchmarks.md);
#                       --doc none writes only the results directory
#   --results DIR       raw times, daemon logs and summary.md (default BUILD/bench/pull/results)
#   --work DIR          scratch directory, removed at the end (default a new one under /tmp)
# Peers come from bench/pull/install-peers.sh. Disk use peaks near 3 times --size-mib.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here=$root/bench/pull
size_mib=2048
runs=3
throttle_mb=40
connections=8
repo_large_mib=256
small_files=20
build=$root/build/release
doc=$root/docs/benchmarks.md
results=""
work=""

usage() {
  sed -n '/^# Usage/,/^# Peers/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --size-mib) size_mib=$2 ;;
    --runs) runs=$2 ;;
    --throttle-mb) throttle_mb=$2 ;;
    --connections) connections=$2 ;;
    --repo-large-mib) repo_large_mib=$2 ;;
    --small-files) small_files=$2 ;;
    --build) build=$(cd "$2" && pwd) ;;
    --doc) doc=$2 ;;
    --results) results=$2 ;;
    --work) work=$2 ;;
    *) usage ;;
  esac
  [[ $# -ge 2 ]] || usage
  shift 2
done
for number in "$size_mib" "$runs" "$throttle_mb" "$connections" "$repo_large_mib" "$small_files"; do
  [[ $number =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: '$number' is not a positive integer" >&2; exit 2; }
done
results=${results:-$build/bench/pull/results}
timmd=$build/daemon/timmd
timmctl=$build/client/timmctl
testhub=$build/tests/hubserver/timmd-testhub
hash_bench=$build/bench/pull/bench_hash_throughput
hfjs=$here/hfjs
for tool in "$timmd" "$timmctl" "$testhub" "$hash_bench"; do
  [[ -x $tool ]] || {
    echo "run.sh: $tool is missing; build it with" >&2
    echo "  TIMMD_CMAKE_ARGS=-DTIMMD_BUILD_BENCH=ON scripts/build.sh release timmd timmctl timmd-testhub bench_hash_throughput" >&2
    exit 1
  }
done
for tool in curl aria2c openssl node sha256sum; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing; run bench/pull/install-peers.sh" >&2; exit 1; }
done
[[ -d $hfjs/node_modules/@huggingface/hub ]] || { echo "run.sh: run bench/pull/install-peers.sh for @huggingface/hub" >&2; exit 1; }

mkdir -p "$results"
rm -f "$results"/*.tsv "$results"/*.log "$results"/*.json "$results"/summary.md
work=${work:-$(mktemp -d /tmp/timmd-bench-pull.XXXXXX)}
mkdir -p "$work"
hub_pid=""
daemon_pid=""
cleanup() {
  [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The switch that turns hashing off exists only in builds that have it.
skip_verify=no
if "$timmd" --help 2>&1 | grep -- --debug-skip-verify >/dev/null; then
  skip_verify=yes
fi

# Machine and tree, for the report.
{
  echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit	$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "dirty	$(git -C "$root" status --short 2>/dev/null | wc -l)"
  echo "nproc	$(nproc)"
  echo "cpu	$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "memory	$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel	$(uname -r)"
  echo "filesystem	$(df -T "$work" | awk 'NR == 2 {print $2}')"
  echo "loadavg_before	$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "size_mib	$size_mib"
  echo "runs	$runs"
  echo "throttle_mb	$throttle_mb"
  echo "connections	$connections"
  echo "repo_large_mib	$repo_large_mib"
  echo "small_files	$small_files"
  echo "skip_verify	$skip_verify"
  echo "curl	$(curl --version | head -1 | cut -d' ' -f1-2)"
  echo "aria2c	$(aria2c --version | head -1)"
  echo "openssl	$(openssl version)"
  echo "node	$(node --version)"
  echo "hfjs	$(node -p 'require(process.argv[1]).version' "$hfjs/node_modules/@huggingface/hub/package.json")"
} >"$results/machine.tsv"

echo "== generating the repositories in $work ($(df -h --output=avail "$work" | tail -1 | tr -d ' ') free)"
repos=$work/repos
mkdir -p "$repos/bench/big" "$repos/bench/mixed"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$repos/bench/big/model.safetensors"
head -c "$((repo_large_mib * 1024 * 1024))" /dev/urandom >"$repos/bench/mixed/model.safetensors"
for i in $(seq "$small_files"); do
  # Config-like JSON of 2-8 KiB: a list of numbered entries, padded to a size that varies by file.
  target=$((2048 + (i * 977) % 6144))
  {
    printf '{"architecture": "bench", "index": %d, "labels": [' "$i"
    awk -v n="$target" 'BEGIN { s = ""; for (k = 0; length(s) < n; ++k) s = s (k ? ", " : "") "\"label_" k "\""; printf "%s", s }'
    printf ']}\n'
  } >"$repos/bench/mixed/config_$(printf '%02d' "$i").json"
done
big_sha=$(sha256sum "$repos/bench/big/model.safetensors" | cut -d' ' -f1)
(cd "$repos/bench/mixed" && sha256sum -- *) | sort -k2 >"$work/mixed.sha256"
mixed_files=$(cd "$repos/bench/mixed" && ls)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
# One row per run: setting, scenario, peer, run, wall s, sha256sum s, daemon VmHWM KiB,
# daemon CPU s, verify phase s (from timmctl's state lines).
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results/runs.tsv"; }
printf 'setting\tscenario\tpeer\trun\twall_s\tsha256sum_s\tvmhwm_kib\tdaemon_cpu_s\tverify_s\n' >"$results/runs.tsv"

start_hub() {
  local throttle_bytes=$1
  rm -f "$work/hub.json"
  "$testhub" --repos "$repos" --ready-file "$work/hub.json" --throttle "$throttle_bytes" \
    >/dev/null 2>>"$results/hub.log" &
  hub_pid=$!
  for _ in $(seq 1200); do [[ -s $work/hub.json ]] && break; sleep 0.1; done
  [[ -s $work/hub.json ]] || { echo "run.sh: timmd-testhub did not start; see $results/hub.log" >&2; exit 1; }
  endpoint=$(sed -n 's/.*"api": *"\([^"]*\)".*/\1/p' "$work/hub.json")
}
stop_hub() {
  kill "$hub_pid" && wait "$hub_pid" 2>/dev/null || true
  hub_pid=""
}

# Starts a daemon on an empty cache; extra arguments go to timmd.
start_daemon() {
  rm -rf "$work/cache" "$work/timmd.sock"
  printf '{"download": {"connections_per_file": %d}}\n' "$connections" >"$work/timmd.json"
  "$timmd" --config "$work/timmd.json" --endpoint "$endpoint" --cache-dir "$work/cache" \
    --socket "$work/timmd.sock" --log-level info "$@" 2>>"$daemon_log" &
  daemon_pid=$!
  for _ in $(seq 100); do "$timmctl" --socket "$work/timmd.sock" status >/dev/null 2>&1 && break; sleep 0.1; done
}
# Reads the daemon's peak resident memory (KiB) and CPU time (s) into daemon_hwm and
# daemon_cpu, then stops it and removes its cache.
stop_daemon() {
  daemon_hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$daemon_pid/status")
  daemon_cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$daemon_pid/stat")
  kill "$daemon_pid" && wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
  rm -rf "$work/cache"
}

# Times `timmctl pull` on a fresh daemon. timmctl prints a line when a file changes state, so
# the time from the first "verifying" line to the end is the verify phase. It can be short by
# the interval between the daemon's progress events (up to 200 ms, as timmctl's code notes).
timmd_run() {
  local setting=$1 scenario=$2 peer=$3 run=$4 repo=$5 pull_args=$6
  shift 6
  daemon_log=$results/timmd-$setting-$scenario-$peer-$run.log
  start_daemon "$@"
  local start end verifying verify_s=""
  start=$(now)
  # timmctl writes its state lines to stderr and the result to stdout, which a pipe would buffer
  # to the end without stdbuf.
  # shellcheck disable=SC2086  # pull_args is a list of words on purpose
  stdbuf -oL "$timmctl" --socket "$work/timmd.sock" pull "$repo" $pull_args 2>&1 |
    while IFS= read -r line; do echo "$(now) $line"; done >"$work/pull.out"
  end=$(now)
  verifying=$(awk '$2 == "verifying" {print $1; exit}' "$work/pull.out")
  if [[ -n $verifying ]]; then
    verify_s=$(elapsed "$verifying" "$end")
  fi
  stop_daemon
  record "$setting" "$scenario" "$peer" "$run" "$(elapsed "$start" "$end")" "" "$daemon_hwm" "$daemon_cpu" "$verify_s"
}

# Times a command that downloads into $work/out, then sha256sum of what it wrote, checked
# against the expected digests.
peer_run() {
  local setting=$1 scenario=$2 peer=$3 run=$4 expected=$5
  shift 5
  rm -rf "$work/out"
  mkdir -p "$work/out"
  local start end sha_start sha_end
  start=$(now)
  "$@" >>"$results/peers.log" 2>&1 || { echo "run.sh: $peer failed; see $results/peers.log" >&2; exit 1; }
  end=$(now)
  sha_start=$(now)
  (cd "$work/out" && sha256sum -- *) | sort -k2 >"$work/got.sha256"
  sha_end=$(now)
  cmp -s "$work/got.sha256" "$expected" || { echo "run.sh: the SHA-256 of what $peer downloaded does not match the source file" >&2; exit 1; }
  rm -rf "$work/out"
  record "$setting" "$scenario" "$peer" "$run" "$(elapsed "$start" "$end")" "$(elapsed "$sha_start" "$sha_end")" "" "" ""
}

large_peer() {
  local setting=$1 peer=$2 run=$3
  local url=$endpoint/bench/big/resolve/main/model.safetensors
  local aria=(aria2c --quiet=true --allow-overwrite=true --auto-file-renaming=false -d "$work/out" -o model.safetensors)
  case $peer in
    timmd) timmd_run "$setting" large timmd "$run" bench/big "" ;;
    timmd-skip-verify) timmd_run "$setting" large timmd-skip-verify "$run" bench/big "" --debug-skip-verify ;;
    curl) peer_run "$setting" large curl "$run" "$work/big.sha256" curl -sS -L -o "$work/out/model.safetensors" "$url" ;;
    curl-null)
      local start end
      start=$(now)
      curl -sS -L -o /dev/null "$url"
      end=$(now)
      record "$setting" large curl-null "$run" "$(elapsed "$start" "$end")" "" "" "" ""
      ;;
    aria2c-16) peer_run "$setting" large aria2c-16 "$run" "$work/big.sha256" "${aria[@]}" -x 16 -s 16 "$url" ;;
    aria2c-n) peer_run "$setting" large aria2c-n "$run" "$work/big.sha256" "${aria[@]}" -x "$connections" -s "$connections" "$url" ;;
    hfjs) peer_run "$setting" large hfjs "$run" "$work/big.sha256" \
      node "$hfjs/download.mjs" "$endpoint" bench/big model.safetensors "$work/out/model.safetensors" ;;
  esac
}

mixed_peer() {
  local setting=$1 peer=$2 run=$3
  case $peer in
    timmd) timmd_run "$setting" repo timmd "$run" bench/mixed --all ;;
    curl-loop)
      # shellcheck disable=SC2016  # expanded by the inner shell
      peer_run "$setting" repo curl-loop "$run" "$work/mixed.sha256" bash -c '
        for file in $2; do curl -sS -L -o "$3/$file" "$1/bench/mixed/resolve/main/$file" || exit 1; done' \
        curl-loop "$endpoint" "$mixed_files" "$work/out" ;;
    aria2c-input)
      for file in $mixed_files; do
        printf '%s\n  out=%s\n' "$endpoint/bench/mixed/resolve/main/$file" "$file"
      done >"$work/aria2c-input.txt"
      peer_run "$setting" repo aria2c-input "$run" "$work/mixed.sha256" aria2c --quiet=true --allow-overwrite=true \
        --auto-file-renaming=false -d "$work/out" -i "$work/aria2c-input.txt" -j 4 -x "$connections" -s "$connections" ;;
  esac
}

echo "$big_sha  model.safetensors" >"$work/big.sha256"
large_peers=(timmd curl aria2c-16 aria2c-n hfjs)
[[ $skip_verify == yes ]] && large_peers+=(timmd-skip-verify)
mixed_peers=(timmd curl-loop aria2c-input)

for setting in throttled unthrottled; do
  if [[ $setting == throttled ]]; then
    start_hub $((throttle_mb * 1000000))
    peers=("${large_peers[@]}")
  else
    start_hub 0
    peers=("${large_peers[@]}" curl-null)
  fi
  echo "== $setting: $endpoint"
  for run in $(seq "$runs"); do
    # Each round starts at a different peer, so no peer always runs right after the same one.
    count=${#peers[@]}
    for k in $(seq 0 $((count - 1))); do
      peer=${peers[$(((k + run - 1) % count))]}
      echo "   large file, run $run: $peer"
      large_peer "$setting" "$peer" "$run"
    done
    count=${#mixed_peers[@]}
    for k in $(seq 0 $((count - 1))); do
      peer=${mixed_peers[$(((k + run - 1) % count))]}
      echo "   repository, run $run: $peer"
      mixed_peer "$setting" "$peer" "$run"
    done
  done
  stop_hub
done

echo "== SHA-256 throughput on the ${size_mib} MiB file"
big=$repos/bench/big/model.safetensors
cat "$big" >/dev/null
"$hash_bench" "$big" "$runs" >"$results/hash-timmd.json"
for run in $(seq "$runs"); do
  start=$(now)
  openssl dgst -sha256 "$big" >/dev/null
  end=$(now)
  printf '%s\t%s\n' "$run" "$(elapsed "$start" "$end")" >>"$results/hash-openssl.tsv"
  start=$(now)
  sha256sum "$big" >/dev/null
  end=$(now)
  printf '%s\t%s\n' "$run" "$(elapsed "$start" "$end")" >>"$results/hash-sha256sum.tsv"
done
echo "loadavg_after	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results/machine.tsv"

/usr/bin/python3 "$here/summarize.py" "$results" >"$results/summary.md"
cat "$results/summary.md"
if [[ $doc != none ]]; then
  /usr/bin/python3 "$here/summarize.py" --splice "$doc" "$results/summary.md"
  echo "== results written to $doc"
fi
