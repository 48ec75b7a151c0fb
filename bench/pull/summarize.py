"""Turn the raw results of bench/pull/run.sh into Markdown tables and target checks.

Usage: summarize.py RESULTS_DIR              prints the Markdown section
       summarize.py --splice DOC SUMMARY_MD  puts SUMMARY_MD between the result markers of DOC

Ratios are peer time / timmd time, so a ratio above 1 means timmd was faster.
"""

import csv
import json
import statistics
import sys
from pathlib import Path

BEGIN = "<!-- pull-results:begin (written by bench/pull/run.sh) -->"
END = "<!-- pull-results:end -->"


def load_machine(results):
    machine = {}
    for line in (results / "machine.tsv").read_text().splitlines():
        key, _, value = line.partition("\t")
        machine[key] = value
    return machine


def load_runs(results):
    with open(results / "runs.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def median(values):
    return statistics.median(values) if values else None


def column(rows, setting, scenario, peer, name):
    return [float(r[name]) for r in rows
            if r["setting"] == setting and r["scenario"] == scenario and r["peer"] == peer and r[name]]


def seconds(value):
    return "–" if value is None else f"{value:.2f}"


def ratio(value, reference):
    return "–" if value is None or not reference else f"{value / reference:.2f}"


def peer_labels(machine):
    n = machine["connections"]
    return {
        "timmd": "timmd: `timmctl pull` (SHA-256 verified)",
        "timmd-skip-verify": "timmd with `--debug-skip-verify`",
        "curl": "`curl -L -o FILE`",
        "curl-null": "`curl -L -o /dev/null`",
        "aria2c-16": "`aria2c -x 16 -s 16`",
        "aria2c-n": f"`aria2c -x {n} -s {n}` (timmd's connection count)",
        "hfjs": f"@huggingface/hub {machine['hfjs']} `downloadFile`",
        "curl-loop": "`curl -L -o FILE`, one process per file",
        "aria2c-input": f"`aria2c -i LIST -j 4 -x {n} -s {n}`",
    }


def setting_title(setting, machine):
    if setting == "throttled":
        return f"throttled to {machine['throttle_mb']} MB/s per connection"
    return "unthrottled loopback"


def peer_table(rows, machine, setting, scenario, peers, size_bytes):
    labels = peer_labels(machine)
    timmd = median(column(rows, setting, scenario, "timmd", "wall_s"))
    lines = [
        "| peer | median s | MB/s | median s + sha256sum | peer / timmd | (peer + sha256sum) / timmd | runs, s |",
        "|---|---|---|---|---|---|---|",
    ]
    for peer in peers:
        walls = column(rows, setting, scenario, peer, "wall_s")
        if not walls:
            continue
        shas = column(rows, setting, scenario, peer, "sha256sum_s")
        wall = median(walls)
        totals = [w + s for w, s in zip(walls, shas)] if shas else []
        total = median(totals)
        rate = f"{size_bytes / wall / 1e6:.0f}" if wall else "–"
        verifies = peer.startswith("timmd") and peer != "timmd-skip-verify"
        lines.append(
            f"| {labels[peer]} | {seconds(wall)} | {rate} | {seconds(total) if shas else ('(verifies)' if verifies else '–')} | "
            f"{ratio(wall, timmd)} | {ratio(total, timmd) if shas else '–'} | "
            f"{', '.join(f'{w:.2f}' for w in walls)} |")
    return "\n".join(lines)


def daemon_log_counts(results, setting):
    warnings = errors = retries = 0
    for log in sorted(results.glob(f"timmd-{setting}-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "[warning]" in line or "[warn]" in line:
                warnings += 1
            if "[error]" in line:
                errors += 1
            if "retrying" in line:
                retries += 1
    return warnings, errors, retries


def stored_rates(results, setting):
    """Rates in MB/s from the daemon's "stored blob" log lines of the large file."""
    rates = []
    for log in sorted(results.glob(f"timmd-{setting}-large-timmd-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "stored blob" in line and line.endswith("MB/s)"):
                rates.append(float(line.rsplit(", ", 1)[1].split()[0]))
    return rates


def hash_section(results, size_bytes):
    timmd = [json.loads(line) for line in (results / "hash-timmd.json").read_text().splitlines()]
    timmd_runs = [r for r in timmd if r["run"] != "median"]

    def tsv(name):
        return [float(line.split("\t")[1]) for line in (results / name).read_text().splitlines()]

    rows = [
        ("timmd `Hasher` via `hash_file_into` (bench_hash_throughput)", [r["wall_s"] for r in timmd_runs]),
        ("`openssl dgst -sha256`", tsv("hash-openssl.tsv")),
        ("`sha256sum`", tsv("hash-sha256sum.tsv")),
    ]
    lines = ["| hasher | median s | MB/s | runs, s |", "|---|---|---|---|"]
    for label, values in rows:
        middle = median(values)
        lines.append(f"| {label} | {middle:.2f} | {size_bytes / middle / 1e6:.0f} | "
                     f"{', '.join(f'{v:.2f}' for v in values)} |")
    return "\n".join(lines)


def targets(rows, machine):
    def med(setting, peer, name="wall_s"):
        return median(column(rows, setting, "large", peer, name))

    def verdict(met):
        return "met" if met else "missed"

    lines = ["| target | measured | verdict |", "|---|---|---|"]
    timmd, aria2c, curl = med("throttled", "timmd"), med("throttled", "aria2c-n"), med("throttled", "curl")
    n = machine["connections"]
    if timmd and aria2c:
        lines.append(f"| throttled: timmd ≤ 1.0 × `aria2c -x {n} -s {n}` | timmd {timmd:.2f} s, aria2c {aria2c:.2f} s: "
                     f"{timmd / aria2c:.2f} × | {verdict(timmd <= aria2c)} |")
    if timmd and curl:
        lines.append(f"| throttled: timmd ≥ 8 × faster than single-stream curl | curl {curl:.2f} s / timmd "
                     f"{timmd:.2f} s = {curl / timmd:.2f} × | {verdict(curl / timmd >= 8)} |")

    timmd, curl_null = med("unthrottled", "timmd"), med("unthrottled", "curl-null")
    if timmd and curl_null:
        lines.append(f"| unthrottled: timmd (verified) ≤ 1.25 × `curl -o /dev/null` | timmd {timmd:.2f} s, curl "
                     f"{curl_null:.2f} s: {timmd / curl_null:.2f} × | {verdict(timmd <= 1.25 * curl_null)} |")

    for setting in ("throttled", "unthrottled"):
        verified, skipped = med(setting, "timmd"), med(setting, "timmd-skip-verify")
        phase = med(setting, "timmd", "verify_s")
        if verified and skipped:
            cost = verified / skipped - 1
            lines.append(f"| {setting}: verification adds ≤ 10 % wall time | {verified:.2f} s against "
                         f"{skipped:.2f} s with `--debug-skip-verify`: {cost * 100:+.1f} % | {verdict(cost <= 0.10)} |")
        elif verified and phase is not None and verified > phase:
            cost = phase / (verified - phase)
            lines.append(f"| {setting}: verification adds ≤ 10 % wall time | `--debug-skip-verify` not available "
                         f"in this build; the verify phase after the download takes {phase:.2f} s of {verified:.2f} s: "
                         f"+{cost * 100:.0f} % over the rest | {verdict(cost <= 0.10)} (from the verify phase) |")
    hwm = [v / 1024 for v in column(rows, "throttled", "large", "timmd", "vmhwm_kib")
           + column(rows, "unthrottled", "large", "timmd", "vmhwm_kib")]
    if hwm:
        lines.append(f"| peak RSS < 64 MiB for {machine['size_mib']} MiB | max VmHWM {max(hwm):.1f} MiB | "
                     f"{verdict(max(hwm) < 64)} |")
    return "\n".join(lines)


def header(machine):
    dirty = f" with {machine['dirty']} uncommitted paths" if machine["dirty"] != "0" else ""
    return [
        f"Run of {machine['date']}, commit `{machine['commit']}`{dirty}.",
        f"Machine: `nproc` {machine['nproc']}, {machine['cpu']}, {machine['memory']}, kernel "
        f"{machine['kernel']}, scratch on {machine['filesystem']}. Load average "
        f"{machine['loadavg_before']} before and {machine.get('loadavg_after', '?')} after.",
        f"Peers: {machine['curl']}, {machine['aria2c']}, {machine['openssl']}, node {machine['node']}, "
        f"@huggingface/hub {machine['hfjs']}.",
        "",
        "```",
        f"bench/pull/run.sh --size-mib {machine['size_mib']} --runs {machine['runs']} "
        f"--throttle-mb {machine['throttle_mb']} --connections {machine['connections']} "
        f"--repo-large-mib {machine['repo_large_mib']} --small-files {machine['small_files']}",
        "```",
        "",
        f"Medians of {machine['runs']} interleaved runs. Ratios are peer time / timmd time: above 1 "
        "means timmd was faster. \"+ sha256sum\" adds the time of `sha256sum` over the peer's "
        "output right after the download, for peers that do not verify.",
    ]


def daemon_notes(results, rows, machine, setting):
    verify = column(rows, setting, "large", "timmd", "verify_s")
    hwm = column(rows, setting, "large", "timmd", "vmhwm_kib")
    cpu = column(rows, setting, "large", "timmd", "daemon_cpu_s")
    rates = stored_rates(results, setting)
    warnings, errors, retries = daemon_log_counts(results, setting)
    lines = [
        f"timmd: verify phase (from the first `verifying` state line to the end of `timmctl pull`) "
        f"median {seconds(median(verify))} s; daemon peak RSS (VmHWM) median "
        f"{median(hwm) / 1024 if hwm else 0:.1f} MiB, max {max(hwm) / 1024 if hwm else 0:.1f} MiB; daemon CPU "
        f"median {seconds(median(cpu))} s; rate in the daemon's `stored blob` line "
        f"{', '.join(f'{r:.0f}' for r in rates)} MB/s. Daemon logs of this setting (both scenarios): "
        f"{warnings} warnings, {errors} errors, {retries} retries."
    ]
    if machine["skip_verify"] != "yes":
        lines += ["", "timmd with `--debug-skip-verify`: not available in this build."]
    return lines


def summarize(results):
    machine = load_machine(results)
    rows = load_runs(results)
    size_bytes = int(machine["size_mib"]) * 1024 * 1024
    repo_bytes = int(machine["repo_large_mib"]) * 1024 * 1024
    large_peers = ["timmd", "timmd-skip-verify", "aria2c-16", "aria2c-n", "curl", "curl-null", "hfjs"]
    out = header(machine)

    for setting in ("throttled", "unthrottled"):
        out += ["", f"### One {machine['size_mib']} MiB file, {setting_title(setting, machine)}", ""]
        out.append(peer_table(rows, machine, setting, "large", large_peers, size_bytes))
        out.append("")
        out += daemon_notes(results, rows, machine, setting)
        out += ["", f"### Repository of {machine['small_files']} small JSON files and one "
                f"{machine['repo_large_mib']} MiB file, {setting_title(setting, machine)}", ""]
        out.append(peer_table(rows, machine, setting, "repo", ["timmd", "curl-loop", "aria2c-input"], repo_bytes))

    out += ["", f"### SHA-256 throughput on the {machine['size_mib']} MiB file (page cache warm)", ""]
    out.append(hash_section(results, size_bytes))
    out += ["", "### Target checks (computed)", ""]
    out.append(targets(rows, machine))
    return "\n".join(out) + "\n"


def splice(doc, summary):
    text = doc.read_text() if doc.exists() else ""
    block = f"{BEGIN}\n{summary.read_text()}{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block
    doc.write_text(text)


def main(argv):
    if len(argv) == 3 and argv[0] == "--splice":
        splice(Path(argv[1]), Path(argv[2]))
    elif len(argv) == 1:
        sys.stdout.write(summarize(Path(argv[0])))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
