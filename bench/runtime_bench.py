#!/usr/bin/env python3
"""Measures the runtime loop of a tourniquet executable against a local Runtime API:

  cold start   time from just before exec (Python's Popen) to the first `GET .../invocation/next` arriving on
               a raw listening socket; median over --runs processes. Includes Python's fork+exec, reported
               separately as the time to spawn and reap /bin/true, and the dynamic loading of every library,
               reported separately as the time to spawn and reap `BIN --version`.
  idle RSS     VmHWM and VmRSS (/proc/PID/status) once the loop is blocked in `next` on an empty queue.
  CPU per turn (utime + stime from /proc/PID/stat) / N over N small invocations (EventBridge envelope,
               handled by the real handler), logs as deployed: JSON at INFO.

Usage: runtime_bench.py BIN [--runs 50] [--turns 2000]
"""

import argparse
import json
import os
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
EVENT = json.dumps({
    "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "GuardDuty Finding",
    "source": "aws.guardduty", "account": "123456789012", "time": "2024-05-01T12:00:00Z", "region": "us-east-1",
    "resources": [], "detail": {"id": "bench", "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": 2,
                                "resource": {"resourceType": "Instance"}, "service": {"count": 1}},
})


def runtime_env(endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "TOURNIQUET_"))}
    env.update({"AWS_LAMBDA_RUNTIME_API": endpoint, "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
    return env


def cold_start(binary, runs):
    samples = []
    for _ in range(runs):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            listener.settimeout(10)
            env = runtime_env("127.0.0.1:%d" % listener.getsockname()[1])
            started = time.perf_counter()
            process = subprocess.Popen([binary], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
            try:
                connection, _ = listener.accept()
                with connection:
                    data = b""
                    while b"\r\n" not in data:
                        chunk = connection.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    arrived = time.perf_counter()
                if not data.startswith(NEXT_LINE):
                    raise RuntimeError("first request was not GET next: %r" % data[:80])
                samples.append((arrived - started) * 1000)
            finally:
                process.kill()
                process.wait()
    return samples


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


def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


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
        cpu = (user_after - cpu_before[0], sys_after - cpu_before[1])
        after = proc_status(process.pid)
        bad = [r for r in state.records if r["kind"] != "next" and r["status"] != 202]
        if bad:
            raise RuntimeError("%d posts were not accepted, first: %r" % (len(bad), bad[0]))
        return idle, after, cpu, wall
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
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = dict(runtime_env("127.0.0.1:%d" % closed.getsockname()[1]), TOURNIQUET_RUNTIME_API_RETRY_MS="0")
        first_next_cpu = start_cpu([binary], args.runs, unreachable)
    version_cpu = start_cpu([binary, "--version"], args.runs)
    print("CPU time, exec -> first next -> exit: median %.2f ms; `--version`: median %.2f ms"
          % (statistics.median(first_next_cpu), statistics.median(version_cpu)))

    idle, after, cpu, wall = loop_figures(binary, args.turns)
    print("idle loop blocked in next: VmHWM %s, VmRSS %s" % (idle["VmHWM"], idle["VmRSS"]))
    print("after %d invocations: VmHWM %s, VmRSS %s" % (args.turns, after["VmHWM"], after["VmRSS"]))
    print("CPU per loop turn: %.1f us (user %.3f s + sys %.3f s over %d turns; clock tick %d ms); wall per turn %.0f us"
          % (sum(cpu) / args.turns * 1e6, cpu[0], cpu[1], args.turns, 1000 // TICKS, wall / args.turns * 1e6))


if __name__ == "__main__":
    main()
