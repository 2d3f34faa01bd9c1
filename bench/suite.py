#!/usr/bin/env python3
"""Runs every benchmark and writes bench/results/RESULTS.md (and results.json beside it): cold start side by
side with the boto3 baseline, the runtime loop, containment latency and round trips behind a 50 ms stand-in,
instructions per warm invocation, peak memory, the zip's size, a batch of calls, and the micro benchmarks.
Called by bench/run, which builds first; see bench/README.md for the method.

Usage: suite.py [--quick] [--cold-runs 100] [--rounds 5] [--out bench/results]
"""
import argparse
import datetime
import glob
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import containment_bench  # noqa: E402
import runtime_bench  # noqa: E402
import callgrind_profile  # noqa: E402
import size_breakdown  # noqa: E402
import fuzz_depth  # noqa: E402

BENCH_BUILD = os.path.join(ROOT, "build", "bench")
LAMBDA_BUILD = os.path.join(ROOT, "build", "lambda")
ZIP = os.path.join(LAMBDA_BUILD, "tourniquet.zip")
BOTO3 = [sys.executable, os.path.join(HERE, "boto3_baseline", "bootstrap.py")]

# The goals the figures are held against (issues 2, 3, 4 and 9).
GOALS = {
    "cold_start_ms": 5.0,
    "cold_start_ratio": 50.0,
    "round_trips_isolation": 3,
    "round_trips_total": 5,
    "instructions_warm": 5_000_000,
    "peak_memory_kb": 10 * 1024,
    "zip_bytes": 4 * 1024 * 1024,
    "batch_8_ms": 70.0,
    "idle_rss_kb": 8 * 1024,
    "loop_turn_us": 100.0,
}


def say(text):
    print(text, flush=True)


def stats(samples):
    q = statistics.quantiles(samples, n=10) if len(samples) >= 2 else [samples[0]] * 9
    return {"median": statistics.median(samples), "p10": q[0], "p90": q[-1], "min": min(samples),
            "max": max(samples), "runs": len(samples)}


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        memory_kb = int(f.readline().split()[1])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(memory_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "commit": commit + (" (with uncommitted changes)" if dirty else "")}


def unpack_zip(work):
    """The zip unpacked as Lambda would (/var/task/bootstrap); None when the zip is not built."""
    if not os.path.isfile(ZIP):
        return None
    target = os.path.join(work, "task")
    with zipfile.ZipFile(ZIP) as z:
        z.extractall(target)
    bootstrap = os.path.join(target, "bootstrap")
    os.chmod(bootstrap, 0o755)
    return bootstrap


def cold_starts(contenders, runs, cpu_runs):
    """Spawn -> first GET next, by bench/first_next.cpp: the contenders one after another within each run
    (side by side: the same load for all), at nice -20 so that the shared machine's builds delay them less.
    Then the CPU time of exec -> first next -> exit, which waiting for a CPU does not inflate."""
    launcher = os.path.join(BENCH_BUILD, "bench", "first_next")
    command = ["nice", "-n", "-20", launcher, str(runs)]
    for argv in contenders.values():
        command += ["--"] + argv
    env = runtime_bench.runtime_env("unset")
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("first_next failed: %s" % out.stderr.strip())
    samples = dict(zip(contenders, json.loads(out.stdout)["samples_ms"]))
    cpu = {name: runtime_bench.first_next_cpu_ms(argv, cpu_runs) for name, argv in contenders.items()}
    spawn = runtime_bench.start_cpu(["/bin/true"], cpu_runs)
    return {"wall": {n: stats(s) for n, s in samples.items()}, "cpu": {n: stats(s) for n, s in cpu.items()},
            "cpu_true": stats(spawn)}


# Beside the goal's figure (against moto directly, which closes every connection, and with no session
# token), the same containment as Lambda and the regional endpoints would have it: connections kept alive
# (bench/delay_proxy.py with no delay in front of moto), and a session token of a realistic length.
SESSION_TOKEN_CHARS = 1000
EXTRA_INSTRUCTIONS = [("keep_alive_front", "through a keep-alive front (connections reused, as regional endpoints do)"),
                      ("session_token", "with a %d-character session token (Lambda always gives one)"
                       % SESSION_TOKEN_CHARS)]


def cold_instructions(binary, work):
    """Instructions from exec to the first `next` and out (an unreachable Runtime API, no retry budget), and
    how many of them go to initialising libcurl (which initialises OpenSSL) and to building the handler."""
    out = os.path.join(work, "callgrind.cold.out")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        env = runtime_bench.runtime_env("127.0.0.1:%d" % closed.getsockname()[1],
                                        {"TOURNIQUET_RUNTIME_API_RETRY_MS": "0"})
        subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary], env=env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    with open(out) as f:
        total = next(int(line.split()[1]) for line in f if line.startswith("totals:"))
    return {"total": total, "curl_global_init": callgrind_profile.inclusive_of(out, "curl_global_init"),
            "make_handler": callgrind_profile.inclusive_of(
                out, "tq::handlers::make_handler(tq::handlers::handler_options const&)")}


def loop_instructions(binary, work, turns=10):
    """Instructions per loop turn on the finding no playbook acts on: a process serving 1 + turns events
    minus one serving 1. And what the first malformed event costs a fresh process beyond a valid one (its
    decoder throws; the first C++ exception of a process prepares the unwinder's tables)."""
    def ignored(post):
        if post["kind"] != "response" or json.loads(post["body"])["status"] != "ignored":
            raise RuntimeError("the loop's event was not ignored: %s" % post["body"][:300])

    def refused(post):
        if post["kind"] != "error":
            raise RuntimeError("the malformed event was accepted: %s" % post["body"][:300])

    def run(bodies, name, check):
        return containment_bench.callgrind_process(binary, bodies, "http://127.0.0.1:9",
                                                   os.path.join(work, "callgrind.loop.%s.out" % name), check)

    one = run([runtime_bench.EVENT], "one", ignored)
    many = run([runtime_bench.EVENT] * (turns + 1), "many", ignored)
    malformed = run(['{"version": "0", "detail-type": "GuardDuty Finding", "source": "aws.guardduty", '
                     '"detail": {"id": "x"}}'], "malformed", refused)
    return {"instructions_per_turn": (many - one) / turns, "process_one_event": one,
            "first_malformed_extra": malformed - one}


def batch(binary_dir, delay_ms):
    """A batch of independent calls to a stand-in that answers each 50 ms after it arrives and does nothing
    else (the delay proxy without upstream), so the figure is the client's alone."""
    proxy = containment_bench.DelayProxy(None, delay_ms)
    try:
        out = subprocess.run([os.path.join(binary_dir, "batch_bench"), "--benchmark_format=json"],
                             env=dict(os.environ, TQ_BENCH_ENDPOINT=proxy.url), capture_output=True, text=True,
                             check=True).stdout
        results = {}
        for b in json.loads(out)["benchmarks"]:
            if b.get("error_occurred"):
                raise RuntimeError("batch_bench: %s" % b.get("error_message"))
            results[int(b["calls"])] = {"wall_ms": b["real_time"], "first_batch_ms": b["first_batch_ms"]}
        log = proxy.log()
        results["max_concurrent"] = max_concurrent(log)
        return results
    finally:
        proxy.stop()


def max_concurrent(log):
    events = sorted([(c["received"], 1) for c in log] + [(c["answered"], -1) for c in log])
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


def micro(binary_dir, min_time):
    results = {}
    for exe in sorted(glob.glob(os.path.join(binary_dir, "*_bench"))):
        if os.path.basename(exe) == "batch_bench":
            continue
        out = subprocess.run([exe, "--benchmark_format=json", "--benchmark_min_time=%s" % min_time,
                              "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"],
                             capture_output=True, text=True, check=True).stdout
        for b in json.loads(out)["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            scale = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b["time_unit"]]
            results[b["run_name"]] = {"file": os.path.basename(exe), "cpu_us": b["cpu_time"] * scale,
                                      "real_us": b["real_time"] * scale}
    return results


def size(bootstrap):
    if not bootstrap:
        return None
    binary = os.path.join(LAMBDA_BUILD, "tourniquet")
    result = {"zip_bytes": os.path.getsize(ZIP), "entries": size_breakdown.zip_entries(ZIP),
              "sections": size_breakdown.sections(bootstrap)}
    if os.path.isfile(binary):
        archives = size_breakdown.default_archives(LAMBDA_BUILD, size_breakdown.curl_archive(LAMBDA_BUILD))
        result["by_archive"] = size_breakdown.by_archive(binary, archives)
    return result


def ratio(a, b):
    return a / b if b else float("nan")


def mark(ok):
    return "met" if ok else "**missed**"


def sequence_text(case):
    """For an event whose jobs run together (an attack sequence): its round trips beside its jobs'."""
    if "event_round_trips" not in case:
        return ""
    return (" (CPU of the threads alive at the end: the jobs' threads, joined, are not counted); %d jobs: the "
            "event took %d round trips (its response's `roundTrips`), its longest job %d, all of them one after "
            "the other would take %d" % (case["jobs"], case["event_round_trips"], case["longest_job_round_trips"],
                                         case["sum_job_round_trips"]))


def render(r):
    m, cold, loop, cont = r["machine"], r["cold_start"], r["loop"], r["containment"]
    tq_name = r["deployed_name"]
    tq_cold, py_cold = cold["wall"][tq_name]["median"], cold["wall"]["boto3 function"]["median"]
    tq_cpu, py_cpu = cold["cpu"][tq_name]["median"], cold["cpu"]["boto3 function"]["median"]
    lat_t, lat_p = cont["latency"]["tourniquet"], cont["latency"]["boto3"]
    ins = cont.get("instructions", {})
    b8 = r["batch"][8]["wall_ms"]
    rows = []

    def row(what, tourniquet, baseline, ratio_text, goal, ok):
        rows.append("| %s | %s | %s | %s | %s | %s |" % (what, tourniquet, baseline, ratio_text, goal, ok))

    row("cold start, exec → first `GET next` (median, p10–p90, min)",
        "%.1f ms (%.1f–%.1f; min %.1f)" % (tq_cold, cold["wall"][tq_name]["p10"], cold["wall"][tq_name]["p90"],
                                           cold["wall"][tq_name]["min"]),
        "%.0f ms (%.0f–%.0f)" % (py_cold, cold["wall"]["boto3 function"]["p10"], cold["wall"]["boto3 function"]["p90"]),
        "%.0f× faster" % ratio(py_cold, tq_cold), "≤ 5 ms, ≥ 50×",
        mark(tq_cold <= GOALS["cold_start_ms"]) + " / " + mark(ratio(py_cold, tq_cold) >= GOALS["cold_start_ratio"]))
    row("cold start, CPU time exec → first next → exit (median)", "%.1f ms" % tq_cpu, "%.0f ms" % py_cpu,
        "%.0f×" % ratio(py_cpu, tq_cpu), "", "")
    for case, label in (("warm_vpc", "groups already in the VPC"), ("first_vpc", "first time in the VPC")):
        t, p = lat_t[case], lat_p[case]
        at_50 = lambda c: c["round_trips_to_isolation"] * cont["delay_ms"] + c["own_ms_to_isolation"]  # noqa: E731
        row("event → every interface isolated, %s (50 ms per call; in brackets: at exactly 50 ms)" % label,
            "%.0f ms (%.0f), %d round trips" % (t["isolated_ms"], at_50(t), t["round_trips_to_isolation"]),
            "%.0f ms (%.0f), %d round trips" % (p["isolated_ms"], at_50(p), p["round_trips_to_isolation"]),
            "%.1f× sooner" % ratio(p["isolated_ms"], t["isolated_ms"]),
            "≤ 3 round trips" if case == "warm_vpc" else "",
            mark(t["round_trips_to_isolation"] <= GOALS["round_trips_isolation"]) if case == "warm_vpc" else "")
        row("event → playbook done, %s" % label,
            "%.0f ms, %d round trips" % (t["done_ms"], t["round_trips_total"]),
            "%.0f ms, %d round trips" % (p["done_ms"], p["round_trips_total"]),
            "%.1f×" % ratio(p["done_ms"], t["done_ms"]),
            "≤ 5 round trips" if case == "warm_vpc" else "",
            mark(t["round_trips_total"] <= GOALS["round_trips_total"]) if case == "warm_vpc" else "")
    if ins:
        runs = ins.get("warm_vpc_runs", [ins["warm_vpc"]])
        row("instructions per warm instance containment (callgrind; median of %d runs: %s)" % (
                len(runs), ", ".join("%.3f" % (r / 1e6) for r in runs)),
            "%.2f M" % (ins["warm_vpc"] / 1e6), "", "", "≤ 5 M", mark(ins["warm_vpc"] <= GOALS["instructions_warm"]))
    for key, what in EXTRA_INSTRUCTIONS:
        if key in ins:
            row("(extra, not the goal's measure) instructions per warm instance containment, %s" % what,
                "%.2f M" % (ins[key]["warm_vpc"] / 1e6), "", "", "", "")
    row("CPU time per warm containment (schedstat)", "%.1f ms" % lat_t["warm_vpc"]["cpu_ms"],
        "%.0f ms" % lat_p["warm_vpc"]["cpu_ms"], "%.0f×" % ratio(lat_p["warm_vpc"]["cpu_ms"], lat_t["warm_vpc"]["cpu_ms"]),
        "", "")
    both = cont.get("finding_defaults")
    if both:
        case = both["warm_vpc"]
        row("the same finding with default settings (containment and a network block of the C&C address, run together)",
            "done in %.0f ms, %d round trips (isolated %.0f ms, round trip %d)" % (
                case["done_ms"], case["round_trips_total"], case["isolated_ms"], case["round_trips_to_isolation"]),
            "", "", "≤ 5 round trips, isolated ≤ 3",
            mark(case["round_trips_total"] <= 5 and case["round_trips_to_isolation"] <= 3))
    labels = {"network-block": ("network block", "acl_with_blocks", "an ACL already holding its blocks"),
              "credential-containment": ("credential containment", "iam_user", "an IAM user's key"),
              "exposure-fix": ("exposure fix", "ssh_to_the_world", "SSH opened to the world"),
              "function-containment": ("function containment", "reserved_concurrency",
                                       "a function with reserved concurrency"),
              "bucket-protection": ("bucket protection", "public_access_block_off",
                                    "a bucket whose public access block was switched off"),
              "attack-sequence": ("attack sequence", "instance_key_bucket",
                                  "an instance, a key and a bucket in one finding: four jobs")}
    for name, pb in cont.get("playbooks", {}).items():
        title, case, what = labels[name]
        c = pb["latency"][case]
        if name == "attack-sequence":  # its jobs run together: the event's round trips against its longest job's
            row("%s (%s): event → done; the event's round trips / its longest job's / the sum of its jobs' (one "
                "after the other); instructions per warm invocation; peak memory" % (title, what),
                "%.0f ms; %d / %d / %d round trips; %s; %.1f MB" % (
                    c["done_ms"], c["event_round_trips"], c["longest_job_round_trips"], c["sum_job_round_trips"],
                    "%.2f M" % (pb["instructions"] / 1e6) if "instructions" in pb else "-",
                    pb["latency"]["vm_hwm_kb"] / 1024),
                # Four playbooks' work: the per-playbook instruction goal does not apply to their sum.
                "", "", "≤ longest job's round trips; ≤ 10 MB",
                mark(c["event_round_trips"] <= c["longest_job_round_trips"]) + " / " +
                mark(pb["latency"]["vm_hwm_kb"] <= GOALS["peak_memory_kb"]))
            continue
        row("%s (%s): event → done; instructions per warm invocation; peak memory" % (title, what),
            "%.0f ms, %d round trips; %s; %.1f MB" % (
                c["done_ms"], c["round_trips_total"],
                "%.2f M" % (pb["instructions"] / 1e6) if "instructions" in pb else "-", pb["latency"]["vm_hwm_kb"] / 1024),
            "", "", "≤ 5 M, ≤ 10 MB",
            mark(pb.get("instructions", 0) <= GOALS["instructions_warm"]) + " / " +
            mark(pb["latency"]["vm_hwm_kb"] <= GOALS["peak_memory_kb"]))
    row("peak memory (VmHWM), instance containment", "%.1f MB" % (lat_t["vm_hwm_kb"] / 1024),
        "%.1f MB" % (lat_p["vm_hwm_kb"] / 1024), "%.1f× less" % ratio(lat_p["vm_hwm_kb"], lat_t["vm_hwm_kb"]),
        "≤ 10 MB", mark(lat_t["vm_hwm_kb"] <= GOALS["peak_memory_kb"]))
    if r["size"]:
        row("zip", "%.2f MB" % (r["size"]["zip_bytes"] / 1048576), "", "", "≤ 4 MB",
            mark(r["size"]["zip_bytes"] <= GOALS["zip_bytes"]))
    row("8 independent calls, 50 ms each (`call_all`)", "%.1f ms" % b8, "",
        "%.1f× one call" % ratio(b8, r["batch"][1]["wall_ms"]), "≤ 70 ms", mark(b8 <= GOALS["batch_8_ms"]))
    row("idle loop RSS (VmHWM, blocked in next)", "%.1f MB" % (loop["idle_hwm_kb"] / 1024), "", "", "≤ 8 MB",
        mark(loop["idle_hwm_kb"] <= GOALS["idle_rss_kb"]))
    loop_runs = loop.get("cpu_per_turn_us_runs", [loop["cpu_per_turn_us"]])
    row("CPU per loop turn (a finding no playbook acts on; median of %d processes: %s µs)" % (
            len(loop_runs), ", ".join("%.0f" % u for u in loop_runs)),
        "%.0f µs (%.0f k instructions)" % (loop["cpu_per_turn_us"], loop["instructions_per_turn"] / 1e3), "", "",
        "≤ 100 µs", mark(loop["cpu_per_turn_us"] <= GOALS["loop_turn_us"]))

    head = ("Measured %s on %s (%d cores, %.1f GB), Linux %s, commit %s; load average %.2f at the start, %.2f at "
            "the end (the machine is shared: compare ratios and instruction counts, not absolute times). "
            "Tourniquet: %s. Baseline: bench/boto3_baseline (Python %s, boto3), run side by side."
            % (r["date"], m["cpu"], m["cores"], m["memory_gb"], m["kernel"], m["commit"], r["load"][0], r["load"][1],
               r["deployed_desc"], m["python"]))
    table = "\n".join([head, "", "| figure | Tourniquet | boto3 function | ratio | goal | |", "|---|---|---|---|---|---|"]
                      + rows)

    lines = ["# Benchmark results", "", "Written by `bench/run` (method: bench/README.md). Do not edit by hand.", "",
             "## Summary (the README's table)", "", table, ""]
    lines += ["## Cold start (exec → first `GET next`, %d runs each, interleaved)" % cold["wall"][tq_name]["runs"], "",
              "| contender | median | p10 | p90 | min | max | CPU exec → next → exit (median) |", "|---|---|---|---|---|---|---|"]
    for name, s in cold["wall"].items():
        lines.append("| %s | %.2f ms | %.2f | %.2f | %.2f | %.2f | %.2f ms |" % (
            name, s["median"], s["p10"], s["p90"], s["min"], s["max"], cold["cpu"][name]["median"]))
    lines.append("| `/bin/true`, for scale | | | | | | %.2f ms |" % cold["cpu_true"]["median"])
    ci = cold.get("instructions")
    if ci:
        lines += ["", "Instructions from exec to the first `next` and out (callgrind): %.2f M, of which %.2f M initialise "
                  "libcurl, which initialises OpenSSL (error strings, cipher and digest tables), and %.2f M build "
                  "the handler (configuration, AWS client). The rest of the CPU time is the kernel's: exec, page "
                  "faults, sockets." % (ci["total"] / 1e6, ci["curl_global_init"] / 1e6, ci["make_handler"] / 1e6)]
    lines += ["", "## Containment behind a %g ms stand-in (%d rounds, medians)" % (cont["delay_ms"], cont["rounds"]), "",
              "| function | case | isolated | done | round trips to isolation / total | calls | own time to isolation / total | "
              "stand-in beyond 50 ms per round trip, to isolation | report's isolatedAfterMs / totalMs | CPU |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for fn in ("tourniquet", "boto3"):
        for case in ("warm_vpc", "first_vpc"):
            c = cont["latency"][fn][case]
            lines.append("| %s | %s | %.0f ms | %.0f ms | %d / %d | %d | %.1f / %.1f ms | %.0f ms | %s / %s ms | %.1f ms |" % (
                fn, case.replace("_", " "), c["isolated_ms"], c["done_ms"], c["round_trips_to_isolation"],
                c["round_trips_total"], c["calls"], c["own_ms_to_isolation"], c["own_ms_total"],
                c["stand_in_excess_ms"], c["reported_isolated_ms"], c["reported_total_ms"], c["cpu_ms"]))
    lines += ["", "Isolation at exactly 50 ms per call would take round trips × 50 ms + own time: Tourniquet %.0f ms "
              "(groups in the VPC) and %.0f ms (first time), the boto3 function %.0f ms and %.0f ms. moto's "
              "DescribeSnapshots is the usual excess: it is in Tourniquet's first batch, which isolation waits for." % tuple(
                  cont["latency"][fn][case]["round_trips_to_isolation"] * cont["delay_ms"] +
                  cont["latency"][fn][case]["own_ms_to_isolation"]
                  for fn in ("tourniquet", "boto3") for case in ("warm_vpc", "first_vpc"))]
    lines += ["", "Both functions left the same account behind (groups and their rules, interfaces, protection, "
              "shutdown behaviour, volumes, Auto Scaling, snapshots, tags; first round compared): %s." % (
                  "yes" if cont.get("same_end_state") else "**no**")]
    lines.append("")
    lines.append("Isolated, per round (ms): " + "; ".join(
        "%s %s: %s" % (fn, case.replace("_", " "), ", ".join("%.0f" % v for v in cont["latency"][fn][case]["isolated_ms_all"]))
        for fn in ("tourniquet", "boto3") for case in ("warm_vpc", "first_vpc")))
    lines.append("")
    lines.append("Peak memory (VmHWM after warm-up + 2 containments): Tourniquet %d kB, boto3 function %d kB."
                 % (lat_t["vm_hwm_kb"], lat_p["vm_hwm_kb"]))
    for name, pb in cont.get("playbooks", {}).items():
        title = labels[name][0]
        lines += ["", "%s (Tourniquet alone; %d rounds, medians): " % (title.capitalize(), len(next(iter(
            v for k, v in pb["latency"].items() if k != "vm_hwm_kb"))["done_ms_all"])) +
            "; ".join("%s: done in %.0f ms, %d round trips, %d calls, own time %.1f ms, CPU %.1f ms%s" % (
                case.replace("_", " "), c["done_ms"], c["round_trips_total"], c["calls"], c["own_ms_total"], c["cpu_ms"],
                sequence_text(c)) for case, c in pb["latency"].items() if case != "vm_hwm_kb") +
            ". Peak memory %d kB%s." % (pb["latency"]["vm_hwm_kb"], "; %.3f M instructions per warm invocation (%s)" % (
                pb["instructions"] / 1e6, labels[name][2]) if "instructions" in pb else "")]
    if both:
        c = both["warm_vpc"]
        lines += ["", "The C&C finding with default settings (instance containment, then a network block of the "
                  "C&C address, run together: aws/joined_transport.h): isolated in %.0f ms, done in %.0f ms, %d round trips." % (
                      c["isolated_ms"], c["done_ms"], c["round_trips_total"])]
    if ins:
        lines += ["", "## Instructions per warm invocation (callgrind, moto without delay)", "",
                  "| playbook | case | instructions |", "|---|---|---|",
                  "| instance containment | groups already in the VPC | %.3f M |" % (ins["warm_vpc"] / 1e6),
                  "| instance containment | first time in the VPC | %.3f M |" % (ins["first_vpc"] / 1e6),
                  "| (whole process: start, one containment, exit) | | %.3f M |" % (ins["process_one_event"] / 1e6)]
        for key, what in EXTRA_INSTRUCTIONS:
            if key in ins:
                lines += ["| instance containment, %s | groups already in the VPC | %.3f M |" % (
                              what, ins[key]["warm_vpc"] / 1e6),
                          "| instance containment, %s | first time in the VPC | %.3f M |" % (
                              what, ins[key]["first_vpc"] / 1e6)]
        for name, pb in cont.get("playbooks", {}).items():
            if "instructions" in pb:
                lines.append("| %s | %s | %.3f M |" % (labels[name][0], labels[name][2], pb["instructions"] / 1e6))
        lines += ["", "Where the warm containment's instructions go (exclusive, by library):", "",
                  "| owner | instructions | share |", "|---|---|---|"]
        total = ins["warm_vpc_breakdown"]["total"]
        for owner, n in ins["warm_vpc_breakdown"]["by_library"]:
            if abs(n) >= total * 0.005:
                lines.append("| %s | %.3f M | %.0f%% |" % (owner, n / 1e6, 100.0 * n / total))
        lines += ["", "Top functions (exclusive):", "", "| instructions | owner | function |", "|---|---|---|"]
        for fn, owner, n in ins["warm_vpc_breakdown"]["functions"][:12]:
            lines.append("| %.3f M | %s | `%s` |" % (n / 1e6, owner, (fn or "?")[:90].replace("|", "\\|")))
    lines += ["", "## Runtime loop (issue 2)", "",
              "Idle, blocked in next: VmHWM %d kB, VmRSS %d kB. After %d invocations: VmHWM %d kB. CPU per loop turn "
              "%.0f µs (schedstat over %d turns; user %.2f s, sys %.2f s); wall per turn %.0f µs." % (
                  loop["idle_hwm_kb"], loop["idle_rss_kb"], loop["turns"], loop["after_hwm_kb"], loop["cpu_per_turn_us"],
                  loop["turns"], loop["user_s"], loop["sys_s"], loop["wall_per_turn_us"]),
              "",
              "Instructions (callgrind): %.0f k per loop turn; a whole process that starts, serves that one event and "
              "exits: %.2f M. The first malformed event costs a fresh process %.2f M instructions more than a valid "
              "one (its decoder throws, and the first C++ exception of a process prepares the unwinder)." % (
                  loop["instructions_per_turn"] / 1e3, loop["process_one_event"] / 1e6,
                  loop["first_malformed_extra"] / 1e6)]
    lines += ["", "## Batch of independent calls (issue 3)", "",
              "`aws::client::call_all` through the stand-in (each call answered 50 ms after it arrives), warm "
              "connections, mean of 10 batches: 1 call %.1f ms, 8 calls %.1f ms; at most %d calls were in flight at "
              "the stand-in at once. First batch of 8, opening its connections: %.1f ms." % (
                  r["batch"][1]["wall_ms"], b8, r["batch"]["max_concurrent"], r["batch"][8]["first_batch_ms"])]
    if r["size"]:
        s = r["size"]
        lines += ["", "## The zip", "", "%s: %d bytes. Entries: %s." % (
            os.path.relpath(ZIP, ROOT), s["zip_bytes"],
            ", ".join("%s %d bytes (%d compressed, mode %s)" % (e["name"], e["size"], e["compressed"], e["mode"])
                      for e in s["entries"]))]
        lines += ["", "Sections of bootstrap: " + ", ".join("%s %d kB" % (k, v // 1024) for k, v in
                                                          sorted(s["sections"].items(), key=lambda kv: -kv[1])
                                                          if v >= 16384) + "."]
        if s.get("by_archive"):
            total = sum(s["by_archive"].values())
            lines += ["", "Code and data by origin (symbol sizes of the unstripped executable):", "",
                      "| origin | bytes | share |", "|---|---|---|"]
            for owner, n in s["by_archive"].items():
                lines.append("| %s | %d kB | %.0f%% |" % (owner, n // 1024, 100.0 * n / total))
    else:
        lines += ["", "## The zip", "", "Not measured: build/lambda/tourniquet.zip was not built (packaging/build-zip.sh)."]
    lines += ["", "## Micro benchmarks (Google Benchmark, median of 3 repetitions)", "",
              "| benchmark | CPU | wall |", "|---|---|---|"]
    for name, b in r["micro"].items():
        lines.append("| %s (%s) | %.2f µs | %.2f µs |" % (name, b["file"], b["cpu_us"], b["real_us"]))
    lines += ["", "Run took %.0f s." % r["elapsed_s"], ""]
    # bench/fuzz-depth runs apart (hours, not minutes); its last figures are kept in the page.
    depth = os.path.join(HERE, "results", "fuzz-depth.json")
    if os.path.isfile(depth):
        with open(depth) as f:
            lines += [fuzz_depth.render_section(json.load(f)), ""]
    return table, "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs, for trying the harness")
    parser.add_argument("--cold-runs", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--delay-ms", type=float, default=50)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    cold_runs = args.cold_runs or (10 if args.quick else 100)
    rounds = args.rounds or (1 if args.quick else 5)
    started = time.monotonic()
    load_start = os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix="tq-bench-")
    try:
        dynamic = os.path.join(BENCH_BUILD, "tourniquet")
        bootstrap = unpack_zip(work)
        r = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
             "machine": machine()}
        if bootstrap:
            r["deployed_name"] = "tourniquet (zip's bootstrap)"
            r["deployed_desc"] = "the zip's `bootstrap` (static), unpacked as Lambda does"
            contenders = {r["deployed_name"]: [bootstrap], "tourniquet (dynamic build)": [dynamic]}
            unstripped = os.path.join(LAMBDA_BUILD, "tourniquet")
            profiled = unstripped if os.path.isfile(unstripped) else bootstrap
        else:
            r["deployed_name"] = "tourniquet (dynamic build)"
            r["deployed_desc"] = ("build/bench/tourniquet, dynamically linked (same flags as build/release); the "
                                  "zip was not built, so the deployed static bootstrap is not what was measured")
            contenders = {r["deployed_name"]: [dynamic]}
            bootstrap = profiled = dynamic
        contenders["boto3 function"] = runtime_bench.without_deployed_environment(BOTO3)

        say("cold start: %d runs of each, side by side" % cold_runs)
        r["cold_start"] = cold_starts(contenders, cold_runs, 10 if args.quick else 30)
        r["cold_start"]["instructions"] = cold_instructions(profiled, work)
        say("runtime loop: idle memory and CPU per turn")
        turns = 300 if args.quick else 2000
        # Three processes, the median's figures: one run's CPU time moves with the neighbours' load (on this
        # shared machine 64 to 149 µs a turn for the same 100 k instructions, in one session).
        loop_runs = sorted((runtime_bench.loop_figures(bootstrap, turns) for _ in range(3)), key=lambda f: f[4])
        idle, after, cpu, wall, cpu_ns = loop_runs[1]
        r["loop"] = {"idle_hwm_kb": int(idle["VmHWM"].split()[0]), "idle_rss_kb": int(idle["VmRSS"].split()[0]),
                     "after_hwm_kb": int(after["VmHWM"].split()[0]), "turns": turns,
                     "cpu_per_turn_us": cpu_ns / turns / 1e3, "user_s": cpu[0], "sys_s": cpu[1],
                     "wall_per_turn_us": wall / turns * 1e6,
                     "cpu_per_turn_us_runs": [f[4] / turns / 1e3 for f in loop_runs]}
        say("runtime loop: instructions per turn (callgrind)")
        r["loop"].update(loop_instructions(profiled, work))
        say("containment: %d rounds side by side, %g ms per call; then callgrind" % (rounds, args.delay_ms))
        owners = None
        if profiled == os.path.join(LAMBDA_BUILD, "tourniquet"):  # static: attribute functions to archives
            owners = size_breakdown.symbol_owners(size_breakdown.default_archives(
                LAMBDA_BUILD, size_breakdown.curl_archive(LAMBDA_BUILD)), demangle=True)
        r["containment"] = containment_bench.run(bootstrap, rounds, args.delay_ms, callgrind=True, progress=say,
                                                 callgrind_binary=profiled, owners=owners)
        for key, front, token in (("keep_alive_front", True, 0), ("session_token", False, SESSION_TOKEN_CHARS)):
            extra = containment_bench.instructions_only(profiled, front, token, owners=owners, runs=1)
            r["containment"].setdefault("instructions", {})[key] = extra
            say("  callgrind: %.2f M instructions per warm containment, %s" % (
                extra["warm_vpc"] / 1e6, dict(EXTRA_INSTRUCTIONS)[key]))
        say("batch of independent calls")
        r["batch"] = batch(os.path.join(BENCH_BUILD, "bench"), args.delay_ms)
        say("micro benchmarks")
        r["micro"] = micro(os.path.join(BENCH_BUILD, "bench"), 0.05 if args.quick else 0.3)
        r["size"] = size(bootstrap if os.path.isfile(ZIP) else None)
        r["load"] = (load_start, os.getloadavg()[0])
        r["elapsed_s"] = time.monotonic() - started
        table, text = render(r)
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "RESULTS.md"), "w") as f:
            f.write(text)
        with open(os.path.join(args.out, "results.json"), "w") as f:
            json.dump(r, f, indent=1, default=str)
        say("\n" + table + "\n\nwritten: %s" % os.path.relpath(os.path.join(args.out, "RESULTS.md"), os.getcwd()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
