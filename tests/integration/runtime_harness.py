"""Helpers for tests that run a real executable (`tourniquet`, `runtime_probe`) against the local Runtime
API server (tests/servers/runtime_api_server.py), each in its own process on a free port.

    with RuntimeApiServer() as api, RuntimeProcess(tourniquet_bin(), api.endpoint) as proc:
        ids = api.enqueue('{"detail": {}}', {"body": "[1]", "trace": False})
        posts = api.posts(min_posts=2)
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_SCRIPT = os.path.join(HERE, "..", "servers", "runtime_api_server.py")
POST_KINDS = ("response", "error", "init_error")


def tourniquet_bin():
    path = os.environ.get("TOURNIQUET_BIN")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError("set TOURNIQUET_BIN to the built tourniquet executable (ctest does)")
    return path


def probe_bin():
    """The test-only runtime_probe executable (tests/runtime_probe.cpp)."""
    path = os.environ.get("TOURNIQUET_PROBE_BIN") or os.path.join(
        os.path.dirname(tourniquet_bin()), "tests", "runtime_probe")
    if not os.access(path, os.X_OK):
        raise RuntimeError("runtime_probe not found at %s (set TOURNIQUET_PROBE_BIN)" % path)
    return path


def unused_port():
    """A port nothing listens on (bound then released: good enough for a test's 'unreachable API')."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RuntimeApiServer:
    """The local Runtime API server as a subprocess, with its /test/ control interface."""

    def __init__(self, timeout_ms=30000, function_arn=None):
        args = [sys.executable, SERVER_SCRIPT, "--port", "0", "--timeout-ms", str(timeout_ms)]
        if function_arn:
            args += ["--function-arn", function_arn]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("LISTENING "):
            self.process.kill()
            raise RuntimeError("runtime_api_server did not start: %r" % line)
        self.port = int(line.split()[1])
        self.endpoint = "127.0.0.1:%d" % self.port

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process.stdout.close()

    def call(self, method, path, body=None, timeout=60):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body)
            connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError("%s %s: HTTP %d %s" % (method, path, response.status, payload[:200]))
            return json.loads(payload)
        finally:
            connection.close()

    def enqueue(self, *events):
        """Queues events (a str is a raw body; a dict may set body, timeout_ms, trace, headers).
        Returns [{"request_id", "trace_id"}] in order."""
        items = [{"body": e} if isinstance(e, str) else e for e in events]
        return self.call("POST", "/test/events", {"events": items})["request_ids"]

    def records(self, min_posts=0, timeout=20):
        return self.call("GET", "/test/records?min_posts=%d&timeout=%s" % (min_posts, timeout))["records"]

    def posts(self, min_posts=0, timeout=20):
        """The response/error/init_error records, waiting until there are at least min_posts."""
        return [r for r in self.records(min_posts, timeout) if r["kind"] in POST_KINDS]

    def state(self, wait_until_blocked=False, timeout=20):
        """Server state; with wait_until_blocked, first waits until a /next is blocked on an empty queue."""
        return self.call("GET", "/test/state?timeout=%s%s" % (timeout, "&waiting=1" if wait_until_blocked else ""))

    def go_away(self, seconds):
        self.call("POST", "/test/go-away", {"seconds": seconds})

    def fail_posts(self, count, status=500):
        self.call("POST", "/test/fail-posts", {"count": count, "status": status})


# What Lambda always sets, so that Tourniquet's start-up checks pass. The AWS endpoint is the discard port
# on loopback: the loop tests send only events that no playbook acts on, and nothing may leave the machine.
LAMBDA_LIKE_ENV = {"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDRUNTIMETEST",
                   "AWS_SECRET_ACCESS_KEY": "runtime-test-secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                   "TOURNIQUET_ACCOUNT_ID": "123456789012"}


class RuntimeProcess:
    """A runtime executable serving the given endpoint; stdout and stderr go to temporary files."""

    def __init__(self, binary, endpoint, log_format="JSON", log_level="INFO", env=None, args=()):
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AWS_LAMBDA_", "TOURNIQUET_", "_X_AMZN_", "TQ_PROBE_"))}
        full_env.update(LAMBDA_LIKE_ENV)
        full_env.update({"AWS_LAMBDA_RUNTIME_API": endpoint, "AWS_LAMBDA_LOG_FORMAT": log_format,
                         "AWS_LAMBDA_LOG_LEVEL": log_level})
        full_env.update(env or {})
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        self.started = time.monotonic()
        self.process = subprocess.Popen([binary, *args], env=full_env, stdin=subprocess.DEVNULL,
                                        stdout=self.stdout, stderr=self.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()  # the output files stay readable until the object goes away

    def __del__(self):
        self.stdout.close()
        self.stderr.close()

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def wait(self, timeout):
        return self.process.wait(timeout=timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def stdout_text(self):
        self.stdout.seek(0)
        return self.stdout.read().decode("utf-8", "replace")

    def json_logs(self):
        """Every stderr line parsed as JSON; a line that is not a JSON object raises ValueError."""
        lines = []
        for line in self.stderr_text().split("\n")[:-1]:  # the last piece may be a line still being written
            if not line.strip():
                continue
            parsed = json.loads(line)
            if not isinstance(parsed, dict):
                raise ValueError("log line is not a JSON object: %r" % line)
            lines.append(parsed)
        return lines

    def wait_for_log(self, predicate, timeout=10):
        """Polls the JSON logs until one line satisfies predicate; returns it (None on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.json_logs():
                if predicate(line):
                    return line
            time.sleep(0.05)
        return None
