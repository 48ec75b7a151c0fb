#!/bin/sh
# Runs one libFuzzer target for a bounded time on a scratch copy of its seed folders, so the
# repository's corpus is never modified. Crash reproducers land in the current directory.
# Usage: run_fuzzer.sh FUZZER_BINARY SECONDS SEED_DIR...
set -eu
binary=$1
seconds=$2
shift 2

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for seeds in "$@"; do
  find "$seeds" -maxdepth 1 -type f ! -name '*.json' ! -name '*.md' -exec cp {} "$work"/ \;
done

# -rss_limit_mb and -malloc_limit_mb bound memory: a parser that allocates from an untrusted
# size fails here. -timeout catches inputs that make a parser loop.
exec "$binary" "$work" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -malloc_limit_mb=1024 -print_final_stats=1
