"""Print the results of bench/open/run.sh as Markdown tables and check them against the targets.

The targets: a warm open has a median under 1 ms and a p99 under 5 ms, and materialising a
derived blob costs at most 1.5 times copying the weights file.

Usage: /usr/bin/python3 bench/open/summarize.py RESULTS_DIR
"""

import json
import os
import sys

OPEN_RUNS = ["c1-fresh", "c1-reused", "c32-fresh", "c32-reused", "c32-fresh-rate100", "c32-fresh-rate400"]
MEDIAN_TARGET_MS = 1.0
P99_TARGET_MS = 5.0
MATERIALIZE_TARGET_RATIO = 1.5


def load(directory, name):
    with open(os.path.join(directory, name)) as file:
        return json.load(file)


def daemon_cpu_seconds(directory):
    seconds = {}
    path = os.path.join(directory, "daemon-cpu.tsv")
    if os.path.exists(path):
        with open(path) as file:
            for line in file:
                label, ticks, per_second = line.split()
                seconds[label] = int(ticks) / int(per_second)
    return seconds


def verdict(met):
    return "met" if met else "NOT met"


def open_table(directory):
    cpu = daemon_cpu_seconds(directory)
    lines = ["| run | clients | connection | load | opens | median ms | p90 ms | p99 ms | max ms | opens/s "
             "| daemon CPU ms/open | client CPU ms/open | connect+hello / open+map / touch, median ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    runs = {}
    for label in OPEN_RUNS:
        path = os.path.join(directory, f"open-{label}.json")
        if not os.path.exists(path):
            continue
        run = load(directory, f"open-{label}.json")
        runs[label] = run
        latency = run["latency"]
        phases = run["phase_median_ms"]
        load_text = "closed loop" if run["rate"] == "closed_loop" else f"{run['rate']:g} opens/s"
        daemon_ms = cpu[label] * 1000.0 / run["opens"] if label in cpu and run["opens"] else float("nan")
        client_ms = run["client_cpu_s"] * 1000.0 / run["opens"] if run["opens"] else float("nan")
        errors = f" ({run['errors']} errors)" if run["errors"] else ""
        lines.append(
            f"| {label} | {run['clients']} | {run['connection']} | {load_text} | {run['opens']}{errors} "
            f"| {latency['median_ms']:.3f} | {latency['p90_ms']:.3f} | {latency['p99_ms']:.3f} "
            f"| {latency['max_ms']:.2f} | {run['opens_per_s']:.0f} | {daemon_ms:.2f} | {client_ms:.2f} "
            f"| {phases['connect_hello']:.3f} / {phases['open_request_map']:.3f} / {phases['first_touch']:.3f} |")
    return lines, runs


def main():
    directory = sys.argv[1]
    out = []
    before = load(directory, "machine-before.json")
    after = load(directory, "machine-after.json")
    with open(os.path.join(directory, "commit.txt")) as file:
        commit = file.read().strip()
    out += ["## Machine", "",
            f"{before['cpu']}, nproc {before['nproc']}, {before['memory_gib']} GiB, kernel {before['kernel']}; "
            f"commit {commit[:12]}. Load average (1, 5, 15 min) before "
            f"{', '.join(f'{value:.2f}' for value in before['loadavg'])}, after "
            f"{', '.join(f'{value:.2f}' for value in after['loadavg'])}.", ""]

    small = load(directory, "model-small.json")
    lines, runs = open_table(directory)
    out += [f"## Warm open of {small['repo']} ({small['tensors']} tensors, {small['tensor_bytes'] / 1e6:.0f} MB)",
            ""] + lines + [""]
    with open(os.path.join(directory, "hub-resolves.txt")) as file:
        resolves = file.read().strip() or "0"
    out.append(f"Opens that asked the Hub for the commit of main (open_revision_ttl_s expired): {resolves}.")
    out.append("")

    if "c32-fresh" in runs:
        latency = runs["c32-fresh"]["latency"]
        out.append(f"Target with 32 clients in a closed loop, fresh connections: median {latency['median_ms']:.3f} ms "
                   f"< {MEDIAN_TARGET_MS:g} ms {verdict(latency['median_ms'] < MEDIAN_TARGET_MS)}, "
                   f"p99 {latency['p99_ms']:.3f} ms < {P99_TARGET_MS:g} ms "
                   f"{verdict(latency['p99_ms'] < P99_TARGET_MS)}.")
    for label in ("c32-fresh-rate100", "c32-fresh-rate400", "c1-fresh"):
        if label in runs:
            latency = runs[label]["latency"]
            out.append(f"- {label}: median {latency['median_ms']:.3f} ms "
                       f"{verdict(latency['median_ms'] < MEDIAN_TARGET_MS)}, p99 {latency['p99_ms']:.3f} ms "
                       f"{verdict(latency['p99_ms'] < P99_TARGET_MS)}.")
    out.append("")

    python = load(directory, "python.json")
    out += [f"## In-process Python loads of the same weights (torch {python['torch_version']}, "
            f"numpy {python['numpy_version']}, 1 process)", "",
            "| load | runs | median ms | p99 ms | max ms | this median / timmd c1-fresh median |",
            "|---|---|---|---|---|---|"]
    timmd_median = runs["c1-fresh"]["latency"]["median_ms"] if "c1-fresh" in runs else float("nan")
    for key, title in (("torch_load", "torch.load(pytorch_model.bin)"),
                       ("safetensors_numpy", "safetensors header + numpy.frombuffer over mmap")):
        entry = python[key]
        out.append(f"| {title} | {entry['runs']} | {entry['median_ms']:.3f} | {entry['p99_ms']:.3f} "
                   f"| {entry['max_ms']:.3f} | {entry['median_ms'] / timmd_median:.2f} |")
    out.append("")

    materialize = load(directory, "materialize.json")
    base = load(directory, "model-base.json")
    runs_per_filter = len(materialize["runs"]) // max(1, len(materialize["median"]))
    out += [f"## Materialising a derived blob of {base['repo']} ({base['tensor_bytes'] / 1e6:.0f} MB), "
            f"medians of {runs_per_filter} runs", "",
            "| filter | derived MB | cat ms | cp ms | cp+fsync ms | first open ms (client) | (daemon log) "
            "| / cp | / cp+fsync | warm open of the derived blob, median ms |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for name, median in materialize["median"].items():
        filter_text = json.dumps(materialize["filters"][name], separators=(",", ":"))
        out.append(f"| {name} `{filter_text}` | {median['derived_bytes'] / 1e6:.0f} | {median['cat_ms']:.0f} "
                   f"| {median['cp_ms']:.0f} | {median['cp_fsync_ms']:.0f} | {median['open_client_ms']:.0f} "
                   f"| {median['open_daemon_ms']:.0f} | {median['ratio_to_cp']:.2f} "
                   f"| {median['ratio_to_cp_fsync']:.2f} | {median['warm_derived_open_median_ms']:.3f} |")
    out.append("")
    for name, median in materialize["median"].items():
        out.append(f"- {name}: <= {MATERIALIZE_TARGET_RATIO:g} x cp "
                   f"{verdict(median['ratio_to_cp'] <= MATERIALIZE_TARGET_RATIO)}; <= {MATERIALIZE_TARGET_RATIO:g} x "
                   f"cp+fsync {verdict(median['ratio_to_cp_fsync'] <= MATERIALIZE_TARGET_RATIO)}.")
    print("\n".join(out))


if __name__ == "__main__":
    main()
