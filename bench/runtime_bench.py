#!/usr/bin/env python3
"""Measures the runtime loop of a tourniquet executable against a local Runtime API:

  cold start   time from the exec call (stamped in the child just before it) to the first
               `GET .../invocation/next` arriving on a raw listening socket; median over --runs processes.
               Includes the dynamic loading of every library (none for the zip's static bootstrap); for
               scale, the time to spawn and reap /bin/true and `BIN --version` from Python is also given.
  idle RSS     VmHWM and VmRSS (/proc/PID/status) once the loop is blocked in `next` on an empty queue.
  CPU per turn CPU time (/proc/PID/task/*/schedstat, in ns) / N over N invocations of a valid finding that no
               playbook acts on (decoded, routed, ignored by the real handler), logs as deployed: JSON at INFO.

Usage: runtime_bench.py BIN [--runs 50] [--turns 2000]
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "servers"))
import runtime_api_server  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
NEXT_LINE = b"GET /2018-06-01/runtime/invocation/next "
# A real, valid finding that no playbook acts on, whatever playbooks there are: an archived port scan. It is
# summarised in one pass and passed over from its summary (handlers/finding_summary.h), never decoded whole.
with open(os.path.join(HERE, "..", "events", "guardduty", "archived-recon-ec2-portscan.json")) as _sample:
    EVENT = _sample.read()


# What Lambda always sets (a function's credentials, region, account), so start-up checks pass as they would
# there. The AWS endpoint is the discard port on loopback: nothing here may leave the machine.
LAMBDA_LIKE_ENV = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDBENCH",
                   "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_SESSION_TOKEN": "bench-token",
                   "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "TOURNIQUET_ACCOUNT_ID": "123456789012",
                   "AWS_LAMBDA_FUNCTION_NAME": "tourniquet", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}


def deployed_environment():
    """What packaging/template.yaml sets for the function besides Tourniquet's own settings (the allocator's
    tunables): the bench runs the binary as it is deployed. Read from the template, so the two never drift."""
    with open(os.path.join(HERE, "..", "packaging", "template.yaml")) as f:
        found = re.search(r"^\s+GLIBC_TUNABLES:\s*(\S+)\s*$", f.read(), re.MULTILINE)
    if not found:
        raise RuntimeError("packaging/template.yaml sets no GLIBC_TUNABLES for the function")
    return {"GLIBC_TUNABLES": found.group(1)}


def without_deployed_environment(argv):
    """`argv` started without deployed_environment(): it is Tourniquet's setting, and the boto3 baseline runs
    as a Python function would. Through env(1), so that a launcher giving every contender one environment can
    start it too: one exec more, under 1 ms of the baseline's ~400."""
    return ["/usr/bin/env"] + ["-u" + name for name in deployed_environment()] + list(argv)


def runtime_env(endpoint, extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "TOURNIQUET_", "_X_AMZN_", "GLIBC_TUNABLES"))}
    env.update(LAMBDA_LIKE_ENV)
    env.update(deployed_environment())
    env.update({"AWS_LAMBDA_RUNTIME_API": endpoint, "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    env.update(extra or {})
    return env


def first_next_ms(command, extra_env=None):
    """One cold start: ms from the exec of `command` to its first `GET next` line arriving on a listening
    socket. The child stamps CLOCK_MONOTONIC just before it calls exec (in preexec_fn), so Python's fork of
    this process is not counted; the parent stamps the same clock when the request line has arrived."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(60)
        env = runtime_env("127.0.0.1:%d" % listener.getsockname()[1], extra_env)
        stamp_read, stamp_write = os.pipe()

        def stamp():
            os.write(stamp_write, b"%d" % time.monotonic_ns())

        try:
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, preexec_fn=stamp)
        finally:
            os.close(stamp_write)
        try:
            connection, _ = listener.accept()
            with connection:
                data = b""
                while b"\r\n" not in data:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                arrived = time.monotonic_ns()
            if not data.startswith(NEXT_LINE):
                raise RuntimeError("first request of %s was not GET next: %r" % (command, data[:80]))
            with os.fdopen(stamp_read, "rb") as f:
                stamp_read = None
                execed = int(f.read())
            return (arrived - execed) / 1e6
        finally:
            if stamp_read is not None:
                os.close(stamp_read)
            process.kill()
            process.wait()


def cold_start(command, runs, extra_env=None):
    command = [command] if isinstance(command, str) else command
    return [first_next_ms(command, extra_env) for _ in range(runs)]


def spawn_baseline(command, runs):
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def start_cpu(command, runs, env=None):
    """CPU time (user+sys, from wait4's rusage) of processes that start and exit: less sensitive to a busy
    machine than wall time."""
    samples = []
    for _ in range(runs):
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0
        samples.append((usage.ru_utime + usage.ru_stime) * 1000)
    return samples


def first_next_cpu_ms(command, runs, extra_env=None):
    """CPU time from exec to the first `next` and out: under an unreachable API with no retry budget the
    process stops right after its first `next`."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        env = runtime_env("127.0.0.1:%d" % closed.getsockname()[1],
                          dict(extra_env or {}, TOURNIQUET_RUNTIME_API_RETRY_MS="0"))
        return start_cpu(command, runs, env)


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def proc_cpu_ns(pid):
    """CPU time of every thread of the process so far, in ns (/proc/PID/task/*/schedstat: exact, no ticks)."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS  # utime, stime (fields 14 and 15 of stat)


def wait_until(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def loop_figures(binary, turns):
    server = runtime_api_server.make_server()
    server.handle_error = lambda *args: None  # a runtime killed mid-request is expected here, not news
    state = server.state
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    endpoint = "127.0.0.1:%d" % server.server_address[1]
    process = subprocess.Popen([binary], env=runtime_env(endpoint), stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_until(lambda: state.waiting > 0, 10):
            raise RuntimeError("the loop never called next")
        time.sleep(0.2)
        idle = proc_status(process.pid)
        cpu_before = cpu_seconds(process.pid)
        ns_before = proc_cpu_ns(process.pid)
        started = time.perf_counter()
        with state.cond:
            for _ in range(turns):
                state.queue.append({"request_id": runtime_api_server.uuid.uuid4().hex, "body": EVENT.encode(),
                                    "timeout_ms": 30000, "trace_id": runtime_api_server.make_trace_id(),
                                    "headers": {}})
            state.cond.notify_all()
        if not wait_until(lambda: state.post_count() >= turns, 600):
            raise RuntimeError("only %d of %d invocations answered" % (state.post_count(), turns))
        wall = time.perf_counter() - started
        user_after, sys_after = cpu_seconds(process.pid)
        cpu_ns = proc_cpu_ns(process.pid) - ns_before
        cpu = (user_after - cpu_before[0], sys_after - cpu_before[1])
        after = proc_status(process.pid)
        bad = [r for r in state.records if r["kind"] != "next" and r["status"] != 202]
        if bad:
            raise RuntimeError("%d posts were not accepted, first: %r" % (len(bad), bad[0]))
        return idle, after, cpu, wall, cpu_ns
    finally:
        process.kill()
        process.wait()
        server.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)

    spawn = spawn_baseline(["/bin/true"], args.runs)
    version = spawn_baseline([binary, "--version"], args.runs)
    starts = cold_start(binary, args.runs)
    quantiles = statistics.quantiles(starts, n=10)
    print("binary: %s (%d bytes)" % (binary, os.path.getsize(binary)))
    print("cold start, exec -> first GET next: median %.2f ms, p10 %.2f ms, p90 %.2f ms, min %.2f ms (%d runs)"
          % (statistics.median(starts), quantiles[0], quantiles[-1], min(starts), len(starts)))
    print("  baselines, spawn+reap: /bin/true median %.2f ms; `%s --version` (loader + libraries' constructors)"
          " median %.2f ms" % (statistics.median(spawn), os.path.basename(binary), statistics.median(version)))

    # Under an unreachable API with no retry budget the process stops right after its first `next`.
    first_next_cpu = first_next_cpu_ms([binary], args.runs)
    version_cpu = start_cpu([binary, "--version"], args.runs)
    print("CPU time, exec -> first next -> exit: median %.2f ms; `--version`: median %.2f ms"
          % (statistics.median(first_next_cpu), statistics.median(version_cpu)))

    idle, after, cpu, wall, cpu_ns = loop_figures(binary, args.turns)
    print("idle loop blocked in next: VmHWM %s, VmRSS %s" % (idle["VmHWM"], idle["VmRSS"]))
    print("after %d invocations: VmHWM %s, VmRSS %s" % (args.turns, after["VmHWM"], after["VmRSS"]))
    print("CPU per loop turn: %.1f us (schedstat, %d turns; user %.3f s + sys %.3f s in clock ticks of %d ms); "
          "wall per turn %.0f us" % (cpu_ns / args.turns / 1e3, args.turns, cpu[0], cpu[1], 1000 // TICKS,
                                     wall / args.turns * 1e6))


if __name__ == "__main__":
    main()
