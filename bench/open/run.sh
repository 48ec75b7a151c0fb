#!/usr/bin/env bash
# The whole `open` benchmark. It builds timmd, generates the models, serves them from a local
# Hub on 127.0.0.1 and starts timmd. Then it measures warm opens (1 and 32 clients, fresh and
# reused connections, closed loop and paced), torch.load and a direct safetensors read of the
# same weights, and materialising derived blobs of a 346 MB checkpoint against cp.
#
# Usage: bench/open/run.sh BUILD_DIR [RESULTS_DIR]
#   BUILD_DIR is configured (Release, benchmarks and tests on) when it has no CMakeCache.txt,
#   then timmd, timmctl, timmd-testhub and bench_open_latency are built in it with
#   JOBS (default 1) parallel jobs.
#   RESULTS_DIR (default BUILD_DIR/bench/open/results) receives one JSON file per measurement
#   and summary.md.
# Environment: OPENS_1 (timed opens with 1 client, default 2000), OPENS_32 (timed opens per
# client with 32 clients, default 200), MATERIALIZE_RUNS (default 5), WORK_DIR (scratch
# directory on the file system to measure, default a new directory under /tmp).
# Python steps run with /usr/bin/python3, which needs numpy and torch.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [RESULTS_DIR]" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(mkdir -p "$1" && cd "$1" && pwd)
results=${2:-$build/bench/open/results}
python=/usr/bin/python3
jobs=${JOBS:-1}
opens_1=${OPENS_1:-2000}
opens_32=${OPENS_32:-200}
materialize_runs=${MATERIALIZE_RUNS:-5}
small=bench/vit_small_patch16_224.bench
base=bench/vit_base_patch16_224.bench

echo "== building in $build"
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTIMMD_BUILD_BENCH=ON -DTIMMD_BUILD_TESTS=ON
fi
cmake --build "$build" -j"$jobs" --target timmd timmctl timmd-testhub bench_open_latency
timmd=$build/daemon/timmd
timmctl=$build/client/timmctl
testhub=$build/tests/hubserver/timmd-testhub
bench=$build/bench/open/bench_open_latency

mkdir -p "$results"
rm -f "$results"/*.json "$results"/*.tsv "$results"/summary.md
work=${WORK_DIR:-$(mktemp -d /tmp/timmd-bench-open.XXXXXX)}
mkdir -p "$work"
hub_pid=""
daemon_pid=""
cleanup() {
  [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  [[ -z ${WORK_DIR:-} ]] && rm -rf "$work"
}
trap cleanup EXIT

machine_state() {
  "$python" - "$1" <<'EOF'
import json, os, platform, sys
with open("/proc/cpuinfo") as f:
    model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
with open("/proc/meminfo") as f:
    memory_kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
print(json.dumps({"when": sys.argv[1], "nproc": os.cpu_count(), "loadavg": os.getloadavg(), "cpu": model,
                  "memory_gib": round(memory_kb / 2**20, 1), "kernel": platform.release()}))
EOF
}
machine_state before >"$results/machine-before.json"
git -C "$root" rev-parse HEAD >"$results/commit.txt" 2>/dev/null || echo unknown >"$results/commit.txt"
git -C "$root" status --short >"$results/worktree.txt" 2>/dev/null || true

echo "== generating the models in $work"
"$python" "$root/bench/open/make_model.py" --repos "$work/repos" --bin-dir "$work/small" --variant small \
  >"$results/model-small.json"
"$python" "$root/bench/open/make_model.py" --repos "$work/repos" --bin-dir "$work/base" --variant base \
  >"$results/model-base.json"

echo "== starting the local Hub and timmd"
"$testhub" --repos "$work/repos" --ready-file "$work/hub.json" >/dev/null 2>"$work/hub.log" &
hub_pid=$!
for _ in $(seq 100); do [[ -s $work/hub.json ]] && break; sleep 0.1; done
endpoint=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["api"])' "$work/hub.json")
socket=$work/timmd.sock
"$timmd" --endpoint "$endpoint" --cache-dir "$work/cache" --socket "$socket" 2>"$work/timmd.log" &
daemon_pid=$!
for _ in $(seq 100); do "$timmctl" --socket "$socket" status >/dev/null 2>&1 && break; sleep 0.1; done
"$timmctl" --socket "$socket" pull "$small" >/dev/null

# Runs bench_open_latency with a label and records the daemon's CPU time during the run.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon_pid/stat"; }
open_run() {
  local label=$1
  shift
  local before after
  before=$(cpu_ticks)
  "$bench" --socket "$socket" --name "$small" --label "$label" "$@" >"$results/open-$label.json"
  after=$(cpu_ticks)
  printf '%s\t%s\t%s\n' "$label" $((after - before)) "$(getconf CLK_TCK)" >>"$results/daemon-cpu.tsv"
  echo "   $label: $(cut -c1-200 "$results/open-$label.json")"
}

echo "== warm open of $small"
open_run c1-fresh --clients 1 --opens "$opens_1"
open_run c1-reused --clients 1 --opens "$opens_1" --reuse
open_run c32-fresh --clients 32 --opens "$opens_32"
open_run c32-reused --clients 32 --opens "$opens_32" --reuse
open_run c32-fresh-rate100 --clients 32 --opens 40 --rate 100
open_run c32-fresh-rate400 --clients 32 --opens 40 --rate 400
grep -c "resolved $small@main to commit" "$work/timmd.log" >"$results/hub-resolves.txt" || true

echo "== torch.load and direct safetensors reads of the same weights"
"$python" "$root/bench/open/python_load.py" --safetensors "$work/repos/$small/model.safetensors" \
  --bin "$work/small/pytorch_model.bin" >"$results/python.json"
cat "$results/python.json"

kill "$daemon_pid" && wait "$daemon_pid" 2>/dev/null || true
daemon_pid=""

echo "== materialising derived blobs of $base ($materialize_runs runs per filter)"
"$python" "$root/bench/open/materialize.py" --build "$build" --endpoint "$endpoint" --name "$base" \
  --work "$work" --runs "$materialize_runs" >"$results/materialize.json"

machine_state after >"$results/machine-after.json"
"$python" "$root/bench/open/summarize.py" "$results" | tee "$results/summary.md"
