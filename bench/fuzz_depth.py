#!/usr/bin/env python3
"""Fuzzing in depth: every libFuzzer target of the fuzz build, each for at least --runs executions (default
10 M) or --seconds, in libFuzzer's fork mode with one worker per core (-fork=N: N processes at a time, their
coverage merged by the parent, which goes on after a crash with -ignore_crashes=1 and counts them).

  bench/fuzz-depth [--runs N | --seconds S] [--jobs N] [--max-len BYTES] [--no-build] [TARGET...]

Targets: every executable build/fuzz/tests/fuzz/fuzz_* (one per tests/fuzz/fuzz_NAME.cpp; nothing is listed
here). Corpus: each target runs on build/fuzz/depth/TARGET/ (its working corpus, kept from run to run),
reading also the committed corpus tests/fuzz/corpus/TARGET/, the seeds tests/fuzz/make_seeds.py makes from
events/ and tests/data/responses/, and tests/fuzz/regressions/TARGET/. Afterwards the inputs that add
coverage to the committed corpus are merged into it (-merge=1), so it stays small. Every crashing input is
copied to tests/fuzz/regressions/TARGET/ (the unit test fuzz_replay_NAME replays that directory in every
build) and the script exits 1.

Writes bench/results/fuzz-depth.json (per target: executions, cov and ft from libFuzzer's last stats line,
time, exec/s, corpus sizes, crashes) and the "Fuzzing in depth" section of bench/results/RESULTS.md (bench/run
renders it from the JSON too). Not part of scripts/test or CI. Run it at low priority on a shared machine:
`nice -n 19 bench/fuzz-depth`.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build", "fuzz")
TARGETS_DIR = os.path.join(BUILD, "tests", "fuzz")
RESULTS = os.path.join(ROOT, "bench", "results")
JSON_OUT = os.path.join(RESULTS, "fuzz-depth.json")
SECTION_START = "<!-- fuzz-depth: start (written by bench/fuzz-depth from fuzz-depth.json) -->"
SECTION_END = "<!-- fuzz-depth: end -->"
# Dictionaries of the first targets; a target names its own with a line "// libFuzzer dictionary: FILE" in its
# source (FILE under tests/fuzz/).
DICTIONARIES = {"fuzz_event": "json.dict", "fuzz_cloudwatch_logs": "json.dict", "fuzz_aws_xml": "xml.dict"}
STATS = re.compile(r"#(\d+):? +(?:\w+ +)?cov: (\d+) ft: (\d+) corp: (\d+)")


def say(*args):
    print("fuzz-depth:", *args, file=sys.stderr, flush=True)


def discover():
    if not os.path.isdir(TARGETS_DIR):
        return []
    return sorted(name for name in os.listdir(TARGETS_DIR)
                  if name.startswith("fuzz_") and os.access(os.path.join(TARGETS_DIR, name), os.X_OK)
                  and os.path.isfile(os.path.join(TARGETS_DIR, name)))


def dictionary(target):
    source = os.path.join(ROOT, "tests", "fuzz", target + ".cpp")
    name = DICTIONARIES.get(target)
    if os.path.isfile(source):
        with open(source, encoding="utf-8", errors="replace") as f:
            for line in f:
                found = re.match(r"//\s*libFuzzer dictionary:\s*(\S+)", line)
                if found:
                    name = found.group(1)
                    break
    path = os.path.join(ROOT, "tests", "fuzz", name) if name else None
    return path if path and os.path.isfile(path) else None


def files_in(directory):
    if not os.path.isdir(directory):
        return []
    return [os.path.join(directory, f) for f in sorted(os.listdir(directory))
            if os.path.isfile(os.path.join(directory, f))]


def parse_log(text):
    """Executions, cov, ft, corpus from the last stats line; libFuzzer's own totals when it printed them."""
    figures = {"executions": 0, "cov": 0, "ft": 0, "corpus": 0}
    for match in STATS.finditer(text):
        figures.update(executions=int(match.group(1)), cov=int(match.group(2)), ft=int(match.group(3)),
                       corpus=int(match.group(4)))
    units = re.findall(r"stat::number_of_executed_units: *(\d+)", text)
    if units:
        figures["executions"] = max(figures["executions"], int(units[-1]))
    figures["crashes"] = len(re.findall(r"^==\d+== ERROR: libFuzzer: deadly signal|^==\d+==ERROR: "
                                        r"(?:AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)|"
                                        r"SUMMARY: UndefinedBehaviorSanitizer", text, re.M))
    fork = re.findall(r"oom/timeout/crash: (\d+)/(\d+)/(\d+)", text)
    if fork:
        oom, timeout, crash = (int(x) for x in fork[-1])
        figures.update(ooms=oom, timeouts=timeout, crashes=crash)
    return figures


def run_target(target, args, seeds):
    binary = os.path.join(TARGETS_DIR, target)
    work = os.path.join(BUILD, "depth", target)
    committed = os.path.join(ROOT, "tests", "fuzz", "corpus", target)
    regressions = os.path.join(ROOT, "tests", "fuzz", "regressions", target)
    artifacts = os.path.join(BUILD, "depth-artifacts", target)
    for d in (work, committed, artifacts):
        os.makedirs(d, exist_ok=True)
    before = set(os.listdir(artifacts))
    log_path = os.path.join(BUILD, "depth", target + ".log")
    command = [binary, "-fork=%d" % args.jobs, "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1",
               "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
               "-artifact_prefix=" + artifacts + "/"]
    command += ["-runs=%d" % args.runs] if not args.seconds else ["-max_total_time=%d" % args.seconds]
    if args.max_len:
        command.append("-max_len=%d" % args.max_len)
    dict_path = dictionary(target)
    if dict_path:
        command.append("-dict=" + dict_path)
    command += [work, committed] + [d for d in (os.path.join(seeds, target), regressions) if os.path.isdir(d)]
    say("%s: %s" % (target, " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in command)))
    started = time.monotonic()
    with open(log_path, "w") as log:
        # fork mode runs its jobs in the working directory: keep their files out of the source tree.
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.path.dirname(log_path)).returncode
    elapsed = time.monotonic() - started
    with open(log_path, errors="replace") as f:
        figures = parse_log(f.read())
    crash_files = sorted(set(os.listdir(artifacts)) - before)
    saved = []
    for name in crash_files:
        with open(os.path.join(artifacts, name), "rb") as f:
            data = f.read()
        os.makedirs(regressions, exist_ok=True)
        kept = os.path.join(regressions, name.split("-")[0] + "-" + hashlib.sha1(data).hexdigest()[:16])
        with open(kept, "wb") as f:
            f.write(data)
        saved.append(os.path.relpath(kept, ROOT))
    before_merge = len(files_in(committed))
    subprocess.run([binary, "-merge=1", "-rss_limit_mb=2048", "-timeout=10", committed, work],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.path.dirname(log_path))
    committed_files = files_in(committed)
    figures.update(
        seconds=round(elapsed, 1),
        exec_per_s=round(figures["executions"] / elapsed) if elapsed > 0 else 0,
        exit_status=status,
        crash_inputs=saved,
        crashes=max(figures.get("crashes", 0), len(saved)),
        corpus_committed=len(committed_files),
        corpus_committed_added=len(committed_files) - before_merge,
        corpus_committed_bytes=sum(os.path.getsize(p) for p in committed_files),
        dictionary=os.path.basename(dict_path) if dict_path else None,
        log=os.path.relpath(log_path, ROOT))
    say("%s: %d executions in %.0f s (%d/s), cov %d ft %d, %d crashes; committed corpus %d inputs (+%d)" % (
        target, figures["executions"], elapsed, figures["exec_per_s"], figures["cov"], figures["ft"],
        figures["crashes"], figures["corpus_committed"], figures["corpus_committed_added"]))
    return figures


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"cpu": model, "cores": os.cpu_count(), "commit": commit}


def render_section(r):
    """The RESULTS.md section for a fuzz-depth.json document (bench/suite.py renders it too)."""
    goal = 10_000_000
    budget = ("%d s per target" % r["seconds"]) if r.get("seconds") else ("%s executions per target" % human(r["runs"]))
    lines = [SECTION_START, "## Fuzzing in depth (bench/fuzz-depth)", "",
             "On %s (%d cores): %s, libFuzzer fork mode; the last run started %s at commit %s. Each target's own "
             "run (when, commit, workers, load average at its start) is in its row: a run of some targets keeps the "
             "others' figures. cov and ft are libFuzzer's (edges and features) at the end of the run." % (
                 r["machine"]["cpu"], r["machine"]["cores"], budget, r["date"], r["machine"]["commit"]),
             "", "| target | executions | time | exec/s | cov | ft | crashes | committed corpus | run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, t in sorted(r["targets"].items()):
        run = t.get("run")
        lines.append("| %s | %s | %s | %s | %d | %d | %d | %d inputs, %d kB | %s |" % (
            name, human(t["executions"]), duration(t["seconds"]), human(t["exec_per_s"]), t["cov"], t["ft"],
            t["crashes"], t["corpus_committed"], t["corpus_committed_bytes"] // 1024,
            "%s, %s, %d workers, load %s" % (run["date"], run["commit"], run["jobs"],
                                              "?" if run.get("load") is None else "%.1f" % run["load"])
            if run else "-"))
    least = min((t["executions"] for t in r["targets"].values()), default=0)
    crashes = sum(t["crashes"] for t in r["targets"].values())
    lines += ["", "Goal: at least %s executions per target with no crash: %s (least %s, %d crashes)." % (
        human(goal), "met" if least >= goal and crashes == 0 else "**missed**", human(least), crashes),
        SECTION_END]
    return "\n".join(lines)


def human(n):
    n = float(n)
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return "%.3g %s" % (n / size, unit)
    return "%d" % n


def duration(seconds):
    return "%.0f s" % seconds if seconds < 120 else "%.1f min" % (seconds / 60)


def update_results_md(section):
    path = os.path.join(RESULTS, "RESULTS.md")
    text = open(path).read() if os.path.isfile(path) else "# Benchmark results\n"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        text = head + section + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="default: every fuzz_* executable of build/fuzz")
    parser.add_argument("--runs", type=int, default=10_000_000, help="executions per target (default 10 M)")
    parser.add_argument("--seconds", type=int, help="a time per target instead of a number of executions")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers (default: the cores)")
    parser.add_argument("--max-len", type=int, help="libFuzzer's -max_len (default: its own, from the corpus)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if shutil.which("clang++") is None:
        say("clang++ is not installed: no fuzz build")
        return 2
    if not args.no_build:
        subprocess.run([os.path.join(ROOT, "scripts", "build"), "fuzz"], check=True, cwd=ROOT)
    available = discover()
    targets = args.targets or available
    missing = [t for t in targets if t not in available]
    if not targets or missing:
        say("no such target in %s: %s" % (os.path.relpath(TARGETS_DIR, ROOT), " ".join(missing) or "(none built)"))
        return 2
    seeds = os.path.join(BUILD, "seeds")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fuzz", "make_seeds.py"), ROOT, seeds], check=True)
    os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")  # UBSan reports are crashes
    r = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
         "runs": args.runs, "seconds": args.seconds, "jobs": args.jobs, "load": os.getloadavg()[0], "targets": {}}
    if os.path.isfile(JSON_OUT) and args.targets:  # a run of some targets keeps the others' last figures
        with open(JSON_OUT) as f:
            r["targets"] = json.load(f).get("targets", {})
    for target in targets:
        started = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   "commit": r["machine"]["commit"], "jobs": args.jobs, "load": os.getloadavg()[0]}
        r["targets"][target] = dict(run_target(target, args, seeds), run=started)  # targets keep their own run
    os.makedirs(RESULTS, exist_ok=True)
    with open(JSON_OUT, "w") as f:
        json.dump(r, f, indent=1)
    update_results_md(render_section(r))
    say("written: %s and the section of %s" % (os.path.relpath(JSON_OUT, ROOT),
                                               os.path.relpath(os.path.join(RESULTS, "RESULTS.md"), ROOT)))
    return 1 if any(t["crashes"] for t in r["targets"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
