"""Time the first `open` that materialises a derived blob against copying the same file.

For each filter and run, a new daemon with an empty cache directory pulls the model from the
local Hub (untimed), so the derived blob is never in the cache. Then, on the cache's file
system and with the pulled weights blob in the page cache, it times:

* `cat BLOB > /dev/null`, which shows that the blob is in the page cache;
* `cp BLOB COPY`, the baseline the 1.5x target is stated against;
* `cp BLOB COPY && sync COPY`, the same with an fsync, as the daemon fsyncs the derived blob
  before publishing it;
* the first open with the filter, timed by bench_open_latency (client side), and the daemon's
  own "done in X ms" log line for it;
* 50 more opens with the same filter, which the daemon serves from memory (`prepared: memory`).

Each copy is timed --copies times and removed in between, and the run keeps the median. A
global `sync` runs before each timed step so that write-back of the previous step does not
overlap it. Prints one JSON object with every run and the medians per filter.

Run with Debian's /usr/bin/python3:
    /usr/bin/python3 bench/open/materialize.py --build BUILD --endpoint URL --name ORG/NAME --work DIR
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import time

# Filters that force a derived blob. `light` resizes pos_embed and drops the classifier, so
# almost every byte is copied unchanged; `f16` casts every tensor.
FILTERS = {
    "light": {"num_classes": 10, "img_size": 384},
    "f16": {"dtype": "f16"},
}
DONE_LINE = re.compile(r"open of .* done in ([0-9.]+) ms: (\d+) tensors from blob \w+ \((derived|stored weights)")
MATERIALISED_LINE = re.compile(r"materialised derived blob \w+ \((\d+) bytes")


def timed(command, **kwargs):
    """Run `command` and return its wall time in milliseconds; raise when it fails."""
    started = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    return (time.perf_counter() - started) * 1000.0


def wait_for_socket(timmctl, socket, daemon, log_path):
    for _ in range(200):
        if daemon.poll() is not None:
            raise RuntimeError(f"timmd exited with status {daemon.returncode}; see {log_path}")
        status = subprocess.run([timmctl, "--socket", socket, "status"], capture_output=True)
        if status.returncode == 0:
            return
        time.sleep(0.05)
    raise RuntimeError(f"timmd did not accept a status request on {socket} within 10 s; see {log_path}")


def largest_blob(cache):
    blobs = []
    for root, _, files in os.walk(os.path.join(cache, "blobs")):
        for name in files:
            path = os.path.join(root, name)
            blobs.append((os.path.getsize(path), path))
    return max(blobs)[1]


def one_run(args, filter_name, run):
    timmd = os.path.join(args.build, "daemon", "timmd")
    timmctl = os.path.join(args.build, "client", "timmctl")
    bench = os.path.join(args.build, "bench", "open", "bench_open_latency")
    directory = os.path.join(args.work, f"materialize-{filter_name}-{run}")
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    cache = os.path.join(directory, "cache")
    socket = os.path.join(directory, "timmd.sock")
    log_path = os.path.join(directory, "timmd.log")

    with open(log_path, "w") as log:
        daemon = subprocess.Popen([timmd, "--endpoint", args.endpoint, "--cache-dir", cache, "--socket", socket],
                                  stderr=log, stdout=log)
    try:
        wait_for_socket(timmctl, socket, daemon, log_path)
        subprocess.run([timmctl, "--socket", socket, "pull", args.name], check=True, capture_output=True)
        blob = largest_blob(cache)
        copy = os.path.join(cache, "tmp", "bench-copy")

        subprocess.run(["sync"], check=True)
        cat_ms = timed(["sh", "-c", 'cat "$1" > /dev/null', "cat", blob])
        cp_ms = []
        cp_fsync_ms = []
        for _ in range(args.copies):
            subprocess.run(["sync"], check=True)
            cp_ms.append(timed(["cp", blob, copy]))
            os.remove(copy)
            subprocess.run(["sync"], check=True)
            cp_fsync_ms.append(timed(["sh", "-c", 'cp "$1" "$2" && sync "$2"', "cp", blob, copy]))
            os.remove(copy)
        subprocess.run(["sync"], check=True)

        opened = subprocess.run([bench, "--socket", socket, "--name", args.name, "--clients", "1", "--opens", "1",
                                 "--warmup", "0", "--filter", json.dumps(FILTERS[filter_name])],
                                check=True, capture_output=True, text=True)
        first = json.loads(opened.stdout)
        again = subprocess.run([bench, "--socket", socket, "--name", args.name, "--clients", "1", "--opens", "50",
                                "--warmup", "1", "--filter", json.dumps(FILTERS[filter_name])],
                               check=True, capture_output=True, text=True)
        warm = json.loads(again.stdout)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)

    with open(log_path) as log:
        text = log.read()
    done = DONE_LINE.findall(text)
    materialised = MATERIALISED_LINE.findall(text)
    if first["served"]["prepared"] != "now" or not materialised:
        raise RuntimeError(f"the first open in {directory} did not materialise a derived blob: {first['served']}")
    result = {
        "filter": filter_name,
        "run": run,
        "source_bytes": os.path.getsize(blob),
        "derived_bytes": int(materialised[0]),
        "cat_ms": cat_ms,
        "cp_ms": statistics.median(cp_ms),
        "cp_fsync_ms": statistics.median(cp_fsync_ms),
        "cp_ms_each": cp_ms,
        "cp_fsync_ms_each": cp_fsync_ms,
        "open_client_ms": first["latency"]["max_ms"],
        # The first open of this daemon is the one that materialised the blob.
        "open_daemon_ms": float(done[0][0]) if done else None,
        "warm_derived_open_median_ms": warm["latency"]["median_ms"],
    }
    shutil.rmtree(directory, ignore_errors=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", required=True, help="build directory with timmd, timmctl and bench_open_latency")
    parser.add_argument("--endpoint", required=True, help="the local Hub's API URL")
    parser.add_argument("--name", required=True, help="repository to open, ORG/NAME")
    parser.add_argument("--work", required=True, help="scratch directory on the file system to measure")
    parser.add_argument("--runs", type=int, default=5, help="daemons started per filter")
    parser.add_argument("--copies", type=int, default=3, help="cp and cp+fsync timings per run (median used)")
    args = parser.parse_args()

    runs = [one_run(args, name, run) for run in range(args.runs) for name in FILTERS]
    summary = {}
    for name in FILTERS:
        mine = [run for run in runs if run["filter"] == name]
        medians = {key: statistics.median(run[key] for run in mine)
                   for key in ("cat_ms", "cp_ms", "cp_fsync_ms", "open_client_ms", "open_daemon_ms",
                               "warm_derived_open_median_ms")}
        medians["derived_bytes"] = mine[0]["derived_bytes"]
        medians["source_bytes"] = mine[0]["source_bytes"]
        medians["ratio_to_cp"] = medians["open_client_ms"] / medians["cp_ms"]
        medians["ratio_to_cp_fsync"] = medians["open_client_ms"] / medians["cp_fsync_ms"]
        summary[name] = medians
    print(json.dumps({"filters": FILTERS, "runs": runs, "median": summary}))


if __name__ == "__main__":
    main()
