#!/usr/bin/env python3
"""Instance containment end to end, Tourniquet against the boto3 baseline (bench/boto3_baseline/), both
served by a local Runtime API and acting on moto_server, side by side in one run:

  latency   moto behind bench/delay_proxy.py, which answers every call 50 ms late (a regional endpoint).
            From the moment the Runtime API hands the event out to the answer of the last call that moves
            an interface into the isolation group (from the proxy's log), and to the response's arrival at
            the Runtime API; the sequential round trips on the critical path, counted from the proxy's log.
            Two cases, on a warm process (one containment done before): the groups already exist in the
            VPC, and first time in the VPC.
  memory    VmHWM of each function's process after those invocations.
  cpu       Tourniquet's instructions per warm invocation, counted by callgrind against moto without delay:
            a process that serves [decoy, X] minus one that serves [decoy] (see bench/README.md).
  other playbooks  Tourniquet alone (no baseline was written for them): network block ("Block Addresses" on
            an ACL it never wrote to and on one already holding its blocks), credential containment (a
            GuardDuty finding about an IAM user's key), exposure fix (CloudTrail: SSH opened to the world),
            function containment, bucket protection (a bucket whose public access block was switched off), and
            an attack sequence (an instance, a key and a bucket in one finding: four jobs run together; the
            event's round trips beside its longest job's and the sum of its jobs').

Usage: containment_bench.py BIN [--rounds 5] [--delay-ms 50] [--no-callgrind] [--scenarios a,b] [--json OUT]
  --scenarios: only those (of SCENARIOS), e.g. bucket-protection,attack-sequence; without it, every one.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "servers"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import runtime_api_server  # noqa: E402
import runtime_bench  # noqa: E402
import callgrind_profile  # noqa: E402
import world  # noqa: E402
from moto_support import Moto  # noqa: E402
from standin_support import GuardDutyStandIn  # noqa: E402

BOTO3_BOOTSTRAP = os.path.join(HERE, "boto3_baseline", "bootstrap.py")
REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"


class TimedHandler(runtime_api_server.Handler):
    """The test Runtime API, noting when each event's bytes were handed to the runtime."""

    def reply(self, status, payload, headers=None):
        # Stamped before the bytes go out: stamped after, the runtime's first call could reach the proxy (a
        # thread of this process) before the stamp, fall outside the invocation's window and drop a round trip.
        handed_out = time.time()
        super().reply(status, payload, headers)
        if status == 200 and headers and REQUEST_ID in headers:
            with self.state.cond:
                self.state.handed_out[headers[REQUEST_ID]] = handed_out


class RuntimeApi:
    def __init__(self):
        state = runtime_api_server.RuntimeApiState("arn:aws:lambda:us-east-1:%s:function:bench" % world.ACCOUNT,
                                                   60000)
        state.handed_out = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), type("Bound", (TimedHandler,), {"state": state}))
        self.server.daemon_threads = True
        self.server.handle_error = lambda *args: None  # a runtime killed mid-request is expected here
        self.state = state
        self.endpoint = "127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_blocked(self, process, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("the function exited during init (status %s)" % process.returncode)
            with self.state.cond:
                if self.state.waiting > 0 and not self.state.queue:
                    return
                self.state.cond.wait(0.05)
        raise RuntimeError("the function never called next")

    def invoke(self, body, timeout=120):
        """Queues one event and waits for its response; returns (handed-out time, post record)."""
        request_id = runtime_api_server.uuid.uuid4().hex
        with self.state.cond:
            self.state.queue.append({"request_id": request_id, "body": body.encode(), "timeout_ms": 60000,
                                     "trace_id": runtime_api_server.make_trace_id(), "headers": {}})
            self.state.cond.notify_all()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                posts = [r for r in self.state.records if r.get("request_id") == request_id and r["kind"] != "next"]
                if posts:
                    return self.state.handed_out[request_id], posts[0]
                self.state.cond.wait(0.05)
        raise RuntimeError("no answer to the event within %d s" % timeout)

    def go_away(self, seconds):
        with self.state.cond:
            self.state.away_until = time.monotonic() + seconds
            self.state.cond.notify_all()


class DelayProxy:
    def __init__(self, upstream, delay_ms):
        command = [sys.executable, os.path.join(HERE, "delay_proxy.py"), "--delay-ms", str(delay_ms)]
        command += ["--upstream", upstream] if upstream else []
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("LISTENING "):
            raise RuntimeError("delay_proxy did not start: %r" % line)
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def _call(self, method, path):
        import urllib.request
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        return json.loads(urllib.request.urlopen(request, timeout=30).read())

    def log(self):
        return self._call("GET", "/_proxy/log")

    def reset(self):
        self._call("POST", "/_proxy/reset")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()


# GuardDuty behind its own delay proxy, as far away as the other services (set by run()).
GUARDDUTY_URL = None


def function_env(endpoint, aws_url, extra=None):
    env = runtime_bench.runtime_env(endpoint, {"AWS_ENDPOINT_URL": aws_url, "AWS_ACCESS_KEY_ID": "test",
                                               "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
                                               "TOURNIQUET_ACCOUNT_ID": world.ACCOUNT})
    if GUARDDUTY_URL:
        env["AWS_ENDPOINT_URL_GUARDDUTY"] = GUARDDUTY_URL
    env.pop("AWS_SESSION_TOKEN")
    env.update(extra or {})
    return env


def critical_path(calls):
    """Depth of each call in the happens-after order seen by the service: a call received after another's
    answer came after it. The depth of the last call is the sequential round trips that led to it."""
    ordered = sorted(calls, key=lambda c: c["received"])
    for j, c in enumerate(ordered):
        c["depth"] = 1 + max((p["depth"] for p in ordered[:j] if p["answered"] <= c["received"]), default=0)
    return ordered


def idle_ms(calls, start, end):
    """Time in [start, end] with no call outstanding at the service: the function's own time (decoding,
    planning, signing, parsing, Python) on the way, as opposed to waiting for answers."""
    covered, reach = 0.0, start
    for c in sorted(calls, key=lambda c: c["received"]):
        begin, finish = max(c["received"], reach), min(c["answered"], end)
        if finish > begin:
            covered += finish - begin
            reach = finish
    return (end - start - covered) * 1000


def expected(scenario):
    """{playbook: status} every report of that playbook must have: the scenario's own, or its `expect`."""
    return scenario.get("expect") or {scenario["playbook"]: scenario["status"]}


def completed(post, expect):
    """The response's body, once every playbook of `expect` reported, each report with its status."""
    body = json.loads(post["body"]) if post["kind"] == "response" else {}
    reports = body.get("reports", [])
    for playbook, status in expect.items():
        found = [r.get("status") for r in reports if r.get("playbook") == playbook]
        if not found or any(s != status for s in found):
            raise RuntimeError("the playbook did not complete: %s %s" % (post["kind"], post["body"][:500]))
    return body


def job_round_trips(body, jobs):
    """The event's round trips (the response's `roundTrips`, counted by the joined transport), the longest of
    its jobs' (each report's `timing.roundTrips`), and their sum: what the jobs would take one after the other."""
    each = [r.get("timing", {}).get("roundTrips", 0) for r in body.get("reports", []) if r.get("playbook") in jobs]
    return {"event_round_trips": body.get("roundTrips"), "longest_job_round_trips": max(each),
            "sum_job_round_trips": sum(each), "jobs": len(each)}


def analyse(handed_out, post, calls, isolation_ids=None, status="contained", playbook="instance-containment",
            expect=None):
    """Timing of one invocation from the proxy's log; with `isolation_ids`, also up to the last interface
    moved into an isolation group. `expect` ({playbook: status}, several jobs of one event): every job's round
    trips beside the event's."""
    window = critical_path([c for c in calls if handed_out <= c["received"] <= post["time"]])
    body = completed(post, expect or {playbook: status})
    report = next((r for r in body.get("reports", []) if r.get("playbook") == playbook), {})
    if not window:
        raise RuntimeError("no call reached the stand-in: %s" % post["body"][:500])
    result = {
        "done_ms": (post["time"] - handed_out) * 1000,
        "reported_total_ms": report.get("timing", {}).get("totalMs"),
        "reported_round_trips": report.get("timing", {}).get("roundTrips"),
        "own_ms_total": idle_ms(window, handed_out, post["time"]),
        "round_trips_total": max(c["depth"] for c in window),
        "calls": len(window),
    }
    if expect:
        result.update(job_round_trips(body, expect))
    if isolation_ids is None:
        return result
    isolations = [c for c in window if c["action"] == "ModifyNetworkInterfaceAttribute"
                  and c["params"].get("SecurityGroupId.1") in isolation_ids]
    if not isolations:
        raise RuntimeError("no interface was moved into an isolation group")
    last = max(isolations, key=lambda c: c["answered"])
    own_to_isolation = idle_ms(window, handed_out, last["answered"])
    result.update({
        "isolated_ms": (last["answered"] - handed_out) * 1000,
        "reported_isolated_ms": report.get("timing", {}).get("isolatedAfterMs"),
        "own_ms_to_isolation": own_to_isolation,
        # What the stand-in took beyond 50 ms per round trip on the way to isolation (moto's slow calls).
        "stand_in_excess_ms": (last["answered"] - handed_out) * 1000 - own_to_isolation - 50 * last["depth"],
        "round_trips_to_isolation": last["depth"],
        "interfaces_isolated": len(isolations),
    })
    return result


# What each playbook is measured on: a warm-up event (which also leaves state behind), then the measured
# cases, each an event made from the account's instances. `isolation`: whether isolation is timed.
# `env`: Tourniquet's settings for the scenario. The finding used is a C&C finding, which by default also
# blocks the server's address (network block); the instance-containment scenario turns that off so that one
# playbook is measured against the baseline, which only contains; "finding-defaults" measures both together.
SCENARIOS = {
    "instance-containment": {
        "playbook": "instance-containment", "status": "contained", "isolation": True,
        "env": {"TOURNIQUET_BLOCK_MIN_SEVERITY": "10"},
        "warmup": lambda i: world.finding(i["decoy"]),
        "cases": [("first_vpc", lambda i: world.finding(i["first"])), ("warm_vpc", lambda i: world.finding(i["warm"]))],
    },
    "finding-defaults": {
        "playbook": "instance-containment", "status": "contained", "isolation": True, "env": {},
        "warmup": lambda i: world.finding(i["decoy"]),
        "cases": [("warm_vpc", lambda i: world.finding(i["warm"]))],
    },
    "network-block": {
        "playbook": "network-block", "status": "blocked", "isolation": False, "env": {},
        "warmup": lambda i: world.block_request(i["decoy"], ["198.51.100.7"]),
        "cases": [("new_acl", lambda i: world.block_request(i["first"], ["203.0.113.45", "198.51.100.0/24"])),
                  ("acl_with_blocks", lambda i: world.block_request(i["warm"], ["203.0.113.199"]))],
    },
    "credential-containment": {
        "playbook": "credential-containment", "status": "contained", "isolation": False, "env": {},
        "warmup": lambda i: world.key_finding("deploy-bot", i["key:deploy-bot"]),
        "cases": [("iam_user", lambda i: world.key_finding("build-bot", i["key:build-bot"]))],
    },
    "exposure-fix": {
        "playbook": "exposure-fix", "status": "contained", "isolation": False, "env": {},
        "warmup": lambda i: world.ssh_opened(i, "exposed-1"),
        "cases": [("ssh_to_the_world", lambda i: world.ssh_opened(i, "exposed-2"))],
    },
    "function-containment": {
        "playbook": "function-containment", "status": "contained", "isolation": False, "env": {},
        "warmup": lambda i: world.function_finding(i, "decoy-fn"),
        "cases": [("reserved_concurrency", lambda i: world.function_finding(i, "orders-fn"))],
    },
    "bucket-protection": {
        "playbook": "bucket-protection", "status": "contained", "isolation": False, "env": {},
        "warmup": lambda i: world.bucket_exposed("open-decoy"),
        "cases": [("public_access_block_off", lambda i: world.bucket_exposed("open-reports"))],
    },
    # One AttackSequence finding naming an instance (in VPC A, whose groups the decoy's sequence made), an IAM
    # user's key, a bucket and two endpoints: four jobs (instance containment, credential containment, bucket
    # protection, a network block of the endpoints in the instance's subnets) in one invocation. The sequence's
    # own report passes over what its jobs cover (the interface, the actor's key): "ignored".
    "attack-sequence": {
        "playbook": "attack-sequence", "status": "ignored", "isolation": False, "env": {},
        "expect": {"instance-containment": "contained", "credential-containment": "contained",
                   "bucket-protection": "contained", "network-block": "blocked"},
        "warmup": lambda i: world.attack_sequence(i, "decoy", "deploy-bot", "decoy-exports",
                                                  ["198.51.100.23", "203.0.113.77"]),
        "cases": [("instance_key_bucket", lambda i: world.attack_sequence(
            i, "warm", "build-bot", "customer-exports", ["198.51.100.99", "203.0.113.150"]))],
    },
}

# The playbooks measured for Tourniquet alone (latency, instructions, memory), beside instance containment.
OTHER_PLAYBOOKS = ["network-block", "credential-containment", "exposure-fix", "function-containment",
                   "bucket-protection", "attack-sequence"]


def latency_round(name, command, moto, proxy, logs, scenario):
    """One function, one fresh account: the warm-up event, then each case of the scenario in turn."""
    instances = world.build_world(moto)
    proxy.reset()
    api = RuntimeApi()
    log = open(os.path.join(logs, "%s-%d.log" % (name, time.monotonic_ns())), "w")
    process = subprocess.Popen(command, env=function_env(api.endpoint, proxy.url, scenario["env"]),
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        api.wait_blocked(process)
        results = {}
        for case, event in [("warmup", scenario["warmup"])] + scenario["cases"]:
            cpu_before = runtime_bench.proc_cpu_ns(process.pid)
            handed_out, post = api.invoke(event(instances))
            cpu = (runtime_bench.proc_cpu_ns(process.pid) - cpu_before) / 1e6
            if case == "warmup":
                continue
            isolation_ids = world.isolation_groups(moto) if scenario["isolation"] else None
            results[case] = analyse(handed_out, post, proxy.log(), isolation_ids, scenario["status"],
                                    scenario["playbook"], scenario.get("expect"))
            results[case]["cpu_ms"] = cpu
        results["vm_hwm_kb"] = int(runtime_bench.proc_status(process.pid)["VmHWM"].split()[0])
        if scenario["isolation"]:
            results["end_state"] = world.end_state(moto, instances)
        return results
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        api.close()


def callgrind_process(binary, bodies, aws_url, out, check=None, env=None):
    """Instructions (callgrind Ir) of a whole tourniquet process that starts, answers each event in turn and
    exits: the Runtime API goes away after the last answer and, with no retry budget, the loop ends."""
    api = RuntimeApi()
    log = open(out + ".log", "w")
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, binary]
    process = subprocess.Popen(command, env=function_env(api.endpoint, aws_url,
                                                         dict(env or {}, TOURNIQUET_RUNTIME_API_RETRY_MS="0")),
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        api.wait_blocked(process, timeout=300)
        for body in bodies:
            _, post = api.invoke(body, timeout=300)
            if check:
                check(post)
        api.go_away(120)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
        api.close()
    with open(out) as f:
        for line in f:
            if line.startswith(("totals:", "summary:")):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s" % out)


def scenario_instructions(binary, moto, scenario, case_index, out_dir, name, aws_url=None):
    """callgrind_process on a fresh account: the warm-up event alone, and followed by one case. The
    difference is that case as a warm invocation. `aws_url`: where the process reaches AWS (moto's own
    address unless given: a front before it)."""
    def check(post):
        try:
            completed(post, expected(scenario))
        except RuntimeError:
            raise RuntimeError("%s under callgrind: %s" % (name, post["body"][:500]))

    results = []
    for events in ([scenario["warmup"]], [scenario["warmup"], scenario["cases"][case_index][1]]):
        instances = world.build_world(moto)
        out = os.path.join(out_dir, "callgrind.%s.%d.out" % (name, len(events)))
        results.append((callgrind_process(binary, [e(instances) for e in events], aws_url or moto.url, out, check,
                                          scenario["env"]), out))
    return results


def warm_instructions(binary, moto, scenario, out_dir, aws_url=None, owners=None, runs=3):
    """The goal's figure: the warm invocation's instructions ([decoy, X] minus [decoy]) as the median of
    `runs` pairs of processes. One pair varies by about 1 % (how often curl's wait loop turns depends on when
    moto answers); the median of three does not move with it. The breakdown is the median pair's."""
    pairs = []
    for r in range(runs):
        (base, base_file), (warm, warm_file) = scenario_instructions(binary, moto, scenario, 1, out_dir,
                                                                     "instance-%d" % (r + 1), aws_url)
        pairs.append((warm - base, base, base_file, warm_file))
    pairs.sort(key=lambda p: p[0])
    median, base, base_file, warm_file = pairs[len(pairs) // 2]
    return {"process_one_event": base, "warm_vpc": median, "warm_vpc_runs": sorted(p[0] for p in pairs),
            "warm_vpc_breakdown": callgrind_profile.difference(warm_file, base_file, owners=owners)}


def median_of(rounds, case, key):
    values = [r[case][key] for r in rounds if r[case].get(key) is not None]
    return statistics.median(values) if values else None


def summarise(rounds):
    out = {}
    for case in rounds[0]:
        if case in ("vm_hwm_kb", "end_state"):
            continue
        out[case] = {key: median_of(rounds, case, key) for key in rounds[0][case]}
        out[case]["done_ms_all"] = [r[case]["done_ms"] for r in rounds]
        if "isolated_ms" in rounds[0][case]:
            out[case]["isolated_ms_all"] = [r[case]["isolated_ms"] for r in rounds]
    out["vm_hwm_kb"] = max(r["vm_hwm_kb"] for r in rounds)
    return out


def run(binary, rounds=5, delay_ms=50, callgrind=True, progress=print, callgrind_binary=None, owners=None,
        scenarios=None):
    """Instance containment, Tourniquet and the boto3 function side by side; then the other playbooks
    (Tourniquet alone: no baseline was written for them). `callgrind_binary`: the same code with its symbols
    (the zip's bootstrap is stripped), for the breakdown; `owners` attributes a static binary's functions.
    `scenarios`: only these (names in SCENARIOS; "instance-containment" is the comparison with the baseline),
    for trying one playbook; the result then holds only their figures."""
    callgrind_binary = callgrind_binary or binary
    wanted = set(scenarios or SCENARIOS)
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise ValueError("no such scenario: %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(SCENARIOS)))
    global GUARDDUTY_URL
    moto = Moto()
    proxy = DelayProxy(moto.url, delay_ms)
    # Every finding is confirmed with GuardDuty in the first round trip, beside the state reads: measured on.
    guardduty = GuardDutyStandIn()
    guardduty.allow(("test", "test"), ["guardduty:GetFindings"])
    guardduty_proxy = DelayProxy(guardduty.url, delay_ms)
    GUARDDUTY_URL, world.GUARDDUTY = guardduty_proxy.url, guardduty
    logs = tempfile.mkdtemp(prefix="tq-bench-")
    functions = {"tourniquet": [binary],
                 "boto3": runtime_bench.without_deployed_environment([sys.executable, BOTO3_BOOTSTRAP])}
    containment = SCENARIOS["instance-containment"]
    measured = {name: [] for name in functions}
    try:
        result = {"delay_ms": delay_ms, "rounds": rounds, "playbooks": {}}
        extra = max(1, rounds // 2)
        if "instance-containment" in wanted:
            for r in range(rounds):
                for name, command in functions.items():  # side by side: the two alternate, round after round
                    measured[name].append(latency_round(name, command, moto, proxy, logs, containment))
                progress("  containment round %d/%d: tourniquet isolated in %.0f ms, boto3 in %.0f ms (warm VPC)"
                         % (r + 1, rounds, measured["tourniquet"][-1]["warm_vpc"]["isolated_ms"],
                            measured["boto3"][-1]["warm_vpc"]["isolated_ms"]))
            # The baseline must do the same work: both leave the same account behind (first round compared).
            same = measured["tourniquet"][0]["end_state"] == measured["boto3"][0]["end_state"]
            if not same:
                progress("  WARNING: the two functions left different accounts: %s / %s" % (
                    measured["tourniquet"][0]["end_state"], measured["boto3"][0]["end_state"]))
            result.update({"same_end_state": same, "end_state": measured["tourniquet"][0]["end_state"],
                           "latency": {name: summarise(values) for name, values in measured.items()}})
        if "finding-defaults" in wanted:
            both = [latency_round("tourniquet", [binary], moto, proxy, logs, SCENARIOS["finding-defaults"])
                    for _ in range(extra)]
            result["finding_defaults"] = summarise(both)
        for name in (n for n in OTHER_PLAYBOOKS if n in wanted):
            runs = [latency_round("tourniquet", [binary], moto, proxy, logs, SCENARIOS[name]) for _ in range(extra)]
            result["playbooks"][name] = {"latency": summarise(runs)}
            progress("  %s: done in %.0f ms (median of %d)" % (name, statistics.median(
                c["done_ms"] for r in runs for k, c in r.items() if k != "vm_hwm_kb"), extra))
        if callgrind and shutil.which("valgrind") and "instance-containment" in wanted:
            warm = warm_instructions(callgrind_binary, moto, containment, logs, owners=owners)
            (first_base, _), (first, _) = scenario_instructions(callgrind_binary, moto, containment, 0, logs,
                                                                "instance-first")
            result["instructions"] = dict(warm, first_vpc=first - first_base)
            progress("  callgrind: %.2f M instructions per warm containment (warm VPC; median of %s), %.2f M first"
                     " time in a VPC" % (warm["warm_vpc"] / 1e6, ", ".join("%.3f" % (w / 1e6) for w in
                                                                         warm["warm_vpc_runs"]),
                                         (first - first_base) / 1e6))
        if callgrind and shutil.which("valgrind"):
            for name in result["playbooks"]:
                scenario = SCENARIOS[name]
                (other_base, _), (other, _) = scenario_instructions(callgrind_binary, moto, scenario,
                                                                    len(scenario["cases"]) - 1, logs, name)
                result["playbooks"][name]["instructions"] = other - other_base
                progress("  callgrind: %.2f M instructions per warm %s" % ((other - other_base) / 1e6, name))
        shutil.rmtree(logs, ignore_errors=True)
        return result
    except Exception:
        progress("  containment bench failed; logs kept in %s" % logs)
        raise
    finally:
        proxy.stop()
        moto.stop()
        guardduty_proxy.stop()
        guardduty.stop()
        GUARDDUTY_URL, world.GUARDDUTY = None, None


def instructions_only(binary, keep_alive_front=False, session_token_chars=0, owners=None, keep=None, env=None,
                      runs=3):
    """Only the callgrind figures of instance containment (warm VPC, first time in a VPC), quicker than run()
    to iterate on: against moto directly (a new connection per call: moto always answers `Connection: close`)
    or, with `keep_alive_front`, through delay_proxy.py with no delay (HTTP/1.1 keep-alive, as regional
    endpoints behave). `session_token_chars`: a session token of that length (Lambda always gives one); `env`:
    more environment for the process (to try a setting); `runs`: pairs of processes for the warm figure's
    median."""
    global GUARDDUTY_URL
    moto = Moto()
    token = session_token(session_token_chars) if session_token_chars else None
    guardduty = GuardDutyStandIn()
    guardduty.allow(("test", "test") + ((token,) if token else ()), ["guardduty:GetFindings"])
    guardduty_proxy = DelayProxy(guardduty.url, 0)
    front = DelayProxy(moto.url, 0) if keep_alive_front else None
    GUARDDUTY_URL, world.GUARDDUTY = guardduty_proxy.url, guardduty
    logs = keep or tempfile.mkdtemp(prefix="tq-bench-")
    os.makedirs(logs, exist_ok=True)
    scenario = dict(SCENARIOS["instance-containment"])
    scenario["env"] = dict(scenario["env"], **(env or {}))
    if token:
        scenario["env"]["AWS_SESSION_TOKEN"] = token
    try:
        aws_url = front.url if front else moto.url
        warm = warm_instructions(binary, moto, scenario, logs, aws_url, owners, runs)
        (first_base, _), (first, _) = scenario_instructions(binary, moto, scenario, 0, logs, "instance-first", aws_url)
        result = dict(warm, first_vpc=first - first_base)
        if not keep:
            shutil.rmtree(logs, ignore_errors=True)
        return result
    finally:
        for stoppable in (front, moto, guardduty_proxy, guardduty):
            if stoppable:
                stoppable.stop()
        GUARDDUTY_URL, world.GUARDDUTY = None, None


def session_token(chars):
    """A token shaped like the ones Lambda gives (base64 of an opaque blob, ~800-1,100 characters)."""
    import base64
    import hashlib
    blob = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(chars // 32 + 2))
    return ("IQoJb3JpZ2luX2Vj" + base64.b64encode(blob).decode())[:chars]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=50)
    parser.add_argument("--no-callgrind", action="store_true")
    parser.add_argument("--scenarios", help="only these, comma-separated (of: %s)" % ", ".join(SCENARIOS))
    parser.add_argument("--only-instructions", action="store_true",
                        help="only the callgrind figures of instance containment (see instructions_only)")
    parser.add_argument("--keep-alive-front", action="store_true", help="with --only-instructions")
    parser.add_argument("--session-token-chars", type=int, default=0, help="with --only-instructions")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="with --only-instructions")
    parser.add_argument("--keep", help="with --only-instructions: keep the callgrind files in this directory")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.only_instructions:
        result = instructions_only(os.path.abspath(args.binary), args.keep_alive_front, args.session_token_chars,
                                   keep=args.keep, env=dict(e.split("=", 1) for e in args.env))
    else:
        result = run(os.path.abspath(args.binary), args.rounds, args.delay_ms, not args.no_callgrind,
                     scenarios=args.scenarios.split(",") if args.scenarios else None)
    text = json.dumps(result, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
