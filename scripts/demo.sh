#!/usr/bin/env bash
# The main job on a machine without internet access: build timmd, serve the demo timm
# repository from a local Hub-compatible server on 127.0.0.1, start the daemon, pull the model
# twice (the second pull is served from the cache), list the cache, and open the model for a
# 10-class, 224-pixel fine-tune: the tensors a training job maps, remapped as timm would.
#
# Usage: scripts/demo.sh            (installs the Debian packages first when run as root)
# Everything runs in a temporary directory that is removed at the end.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -eq 0 && ${TIMMD_SKIP_DEPS:-0} != 1 ]]; then
  echo "== installing the Debian packages the build needs (packaging/install-deps.sh)"
  "$root/packaging/install-deps.sh" >/dev/null
fi
echo "== building timmd, timmctl and the test Hub into build/release (about 20 minutes on 2 cores the first time)"
"$root/scripts/build.sh" release timmd timmctl timmd-testhub

bin="$root/build/release"
work=$(mktemp -d /tmp/timmd-demo.XXXXXX)
hub_pid=""
daemon_pid=""
cleanup() {
  [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [[ -n $hub_pid ]] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== starting a local Hub with the demo repository timm/test_vit.r160_in1k"
"$bin/tests/hubserver/timmd-testhub" --repos "$root/tests/data/timm/demo-repo" \
  --ready-file "$work/hub.json" 2>"$work/hub.log" >/dev/null &
hub_pid=$!
for _ in $(seq 100); do [[ -s $work/hub.json ]] && break; sleep 0.1; done
endpoint=$(sed -n 's/.*"api": *"\([^"]*\)".*/\1/p' "$work/hub.json")
echo "   Hub endpoint: $endpoint"

echo "== starting timmd (cache $work/cache, socket $work/timmd.sock)"
"$bin/daemon/timmd" --endpoint "$endpoint" --cache-dir "$work/cache" --socket "$work/timmd.sock" \
  2>"$work/timmd.log" &
daemon_pid=$!
export TIMMD_SOCKET="$work/timmd.sock"
for _ in $(seq 100); do "$bin/client/timmctl" status >/dev/null 2>&1 && break; sleep 0.1; done

echo "== timmctl pull timm/test_vit.r160_in1k"
"$bin/client/timmctl" pull timm/test_vit.r160_in1k

echo "== timmctl pull again: answered from the cache"
"$bin/client/timmctl" pull timm/test_vit.r160_in1k

echo "== timmctl list"
"$bin/client/timmctl" list

echo "== the weights as they sit in the cache: timmctl inspect <blob> (first lines)"
# The listings go to files first: with pipefail, `| head` fails the script whenever head exits
# before timmctl has written everything (SIGPIPE).
weights_blob=$(find "$work/cache/blobs" -type f -size +100k -print -quit)
"$bin/client/timmctl" inspect "$weights_blob" >"$work/inspect.txt"
head -n 12 "$work/inspect.txt"

echo "== verifying the cached blobs with sha256sum"
(cd "$work/cache/blobs/sha256" && for blob in */*; do
  echo "$(basename "$blob")  $blob" | sha256sum --check --quiet && echo "   $(basename "$blob") OK"
done)

echo "== timmctl open test_vit.r160_in1k --num-classes 10 --img-size 224: the state dict timm would load"
echo "   (classifier dropped, position embedding resized from 10x10 to 14x14), served from the cache"
"$bin/client/timmctl" open test_vit.r160_in1k --num-classes 10 --img-size 224 >"$work/open.txt"
head -n 16 "$work/open.txt"

echo "== the same open again: answered from memory, no bytes written"
"$bin/client/timmctl" --json open test_vit.r160_in1k --num-classes 10 --img-size 224 |
  sed -n 's/.*"prepared": *"\([^"]*\)".*/   prepared: \1/p'

echo "== timmctl export ... --in-chans 1 -o greyscale.safetensors, then inspect it"
"$bin/client/timmctl" export test_vit.r160_in1k --in-chans 1 -o "$work/greyscale.safetensors" 2>/dev/null
"$bin/client/timmctl" inspect "$work/greyscale.safetensors" | grep -E 'safetensors|patch_embed'

echo "== daemon log"
sed 's/^/   /' "$work/timmd.log"
