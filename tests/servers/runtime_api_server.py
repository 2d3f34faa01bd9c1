#!/usr/bin/env python3
"""A local Lambda Runtime API for tests: hands out queued events on /next and checks the protocol the way
aws/aws-lambda-runtime-interface-emulator does (400 InvalidRequestID, 403 InvalidStateTransition, 413 for
responses over 6 MiB, unknown error types recorded as Runtime.Unknown). Everything posted is recorded.

Run: runtime_api_server.py [--port 0] [--function-arn ARN] [--timeout-ms N]; prints "LISTENING <port>".

Control interface (JSON), beside the Runtime API:
  POST /test/events      {"events": [{"body": "<raw text>", "timeout_ms": N, "trace": true|false|"<id>",
                          "headers": {...extra}}]}  -> {"request_ids": [...]}
  GET  /test/records     ?min_posts=N&timeout=S (waits for N posts) -> {"records": [...], "state": {...}}
  GET  /test/state       ?waiting=1&timeout=S (waits until a /next is blocked on an empty queue)
  POST /test/go-away     {"seconds": S}: close every Runtime API connection, new or waiting, for S seconds
  POST /test/fail-posts  {"count": N, "status": 500}: answer the next N response/error posts with that status
                         and change nothing (a transient failure the runtime should retry)
Records carry the client's port, so a test can tell whether the runtime kept its connection alive.
"""

import argparse
import collections
import json
import re
import select
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_PREFIX = "/2018-06-01/runtime/"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
ERROR_TYPE_PATTERN = re.compile(r"^(Runtime|Function)\.[A-Z][a-zA-Z]+$")
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
RECORDED_BODY_LIMIT = 256 * 1024  # longer bodies are recorded by length and prefix
POST_KINDS = ("response", "error", "init_error")


def make_trace_id():
    return "Root=1-%08x-%s;Parent=%s;Sampled=1" % (int(time.time()), uuid.uuid4().hex[:24], uuid.uuid4().hex[:16])


class RuntimeApiState:
    """The runtime's state as the API sees it: init -> (next) invoking -> (post) responded -> (next) ..."""

    def __init__(self, function_arn, timeout_ms):
        self.function_arn = function_arn
        self.timeout_ms = timeout_ms
        self.cond = threading.Condition()
        self.queue = collections.deque()
        self.phase = "init"  # init | invoking | responded | init_failed
        self.outstanding = None  # request id handed out and not answered yet
        self.records = []
        self.away_until = 0.0
        self.waiting = 0  # /next calls blocked on an empty queue
        self.next_calls = 0
        self.first_next_at = None  # time.time() of the first /next
        self.fail_posts = 0  # posts still to answer with fail_status
        self.fail_status = 500

    def away(self):
        return time.monotonic() < self.away_until

    def snapshot(self):
        return {
            "phase": self.phase,
            "outstanding": self.outstanding,
            "queued": len(self.queue),
            "waiting": self.waiting,
            "next_calls": self.next_calls,
            "first_next_at": self.first_next_at,
            "away": self.away(),
        }

    def post_count(self):
        return sum(1 for r in self.records if r["kind"] in POST_KINDS)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    server_version = "runtime-api-test"
    state: RuntimeApiState = None  # set by serve()

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet: tests read the records instead
        pass

    # --- plumbing -------------------------------------------------------------------------------------

    def reply(self, status, payload, headers=None):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def drop(self):
        """Close the connection without answering, like an API that went away."""
        self.close_connection = True

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def client_gone(self):
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def route(self):
        url = urlsplit(self.path)
        return url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}

    # --- dispatch -------------------------------------------------------------------------------------

    def do_GET(self):
        path, query = self.route()
        if path == API_PREFIX + "invocation/next":
            return self.serve_next()
        if path == "/test/records":
            return self.serve_records(query)
        if path == "/test/state":
            return self.serve_state(query)
        self.reply(404, {"errorMessage": "no route " + path, "errorType": "NotFound"})

    def do_POST(self):
        path, _ = self.route()
        if path.startswith("/test/"):
            body = self.read_body()
            request = json.loads(body or b"{}")
            if path == "/test/events":
                return self.serve_enqueue(request)
            if path == "/test/go-away":
                return self.serve_go_away(request)
            if path == "/test/fail-posts":
                return self.serve_fail_posts(request)
            return self.reply(404, {"errorMessage": "no route " + path, "errorType": "NotFound"})
        if path == API_PREFIX + "init/error":
            return self.serve_post("init_error", None)
        match = re.fullmatch(re.escape(API_PREFIX) + r"invocation/([^/]+)/(response|error)", path)
        if match:
            return self.serve_post(match.group(2), match.group(1))
        self.read_body()
        self.reply(404, {"errorMessage": "no route " + path, "errorType": "NotFound"})

    # --- the Runtime API ------------------------------------------------------------------------------

    def serve_next(self):
        state = self.state
        with state.cond:
            state.next_calls += 1
            if state.first_next_at is None:
                state.first_next_at = time.time()
            state.records.append({"kind": "next", "time": time.time(), "status": None,
                                  "client_port": self.client_address[1]})
            record = state.records[-1]
        item = None
        while item is None:
            with state.cond:
                if state.away():
                    record["status"] = "dropped"
                    return self.drop()
                if state.phase == "invoking":
                    record["status"] = 403
                    record["violation"] = "next while invocation %s is outstanding" % state.outstanding
                    status, payload = 403, {
                        "errorMessage": "State transition from RuntimeInvocationStart to RuntimeReady failed",
                        "errorType": "InvalidStateTransition",
                    }
                    break
                if state.queue:
                    item = state.queue.popleft()
                    state.phase = "invoking"
                    state.outstanding = item["request_id"]
                    record.update(status=200, request_id=item["request_id"])
                    state.cond.notify_all()
                    break
                state.waiting += 1
                state.cond.notify_all()
                state.cond.wait(0.05)
                state.waiting -= 1
            if self.client_gone():
                record["status"] = "client_gone"
                return self.drop()
        if item is None:
            return self.reply(status, payload)
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": item["request_id"],
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + item["timeout_ms"]),
            "Lambda-Runtime-Invoked-Function-Arn": state.function_arn,
        }
        if item["trace_id"]:
            headers["Lambda-Runtime-Trace-Id"] = item["trace_id"]
        headers.update(item["headers"])
        self.reply(200, item["body"], headers)

    def serve_post(self, kind, request_id):
        state = self.state
        body = self.read_body()
        headers = {name: value for name, value in self.headers.items()}
        raw_type = self.headers.get(ERROR_TYPE_HEADER)
        with state.cond:
            if state.away():
                return self.drop()
            status, answer = 202, {"status": "OK"}
            injected = kind != "init_error" and state.fail_posts > 0
            invalid_transition = {
                "errorMessage": "State transition from %s to %s failed for runtime" % (state.phase, kind),
                "errorType": "InvalidStateTransition",
            }
            if injected:
                state.fail_posts -= 1
                status, answer = state.fail_status, {"errorMessage": "injected failure", "errorType": "ServiceException"}
            elif kind == "init_error":
                if state.phase != "init":
                    status, answer = 403, invalid_transition
                else:
                    state.phase = "init_failed"
            elif state.phase != "invoking":
                status, answer = 403, invalid_transition
            elif request_id != state.outstanding:
                status, answer = 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            else:
                if kind == "response" and len(body) > MAX_RESPONSE_BYTES:
                    status, answer = 413, {
                        "errorMessage": "Exceeded maximum allowed payload size (%d bytes)." % MAX_RESPONSE_BYTES,
                        "errorType": "RequestEntityTooLarge",
                    }
                state.phase = "responded"
                state.outstanding = None
            record = {
                "kind": kind,
                "request_id": request_id,
                "status": status,
                "time": time.time(),
                "client_port": self.client_address[1],
                "headers": headers,
                "body_length": len(body),
                "body": body[:RECORDED_BODY_LIMIT].decode("utf-8", "replace"),
            }
            if kind != "response":
                record["raw_error_type"] = raw_type
                record["error_type"] = raw_type if raw_type and ERROR_TYPE_PATTERN.match(raw_type) else "Runtime.Unknown"
            if injected:
                record["injected"] = True
            elif status >= 400 and status != 413:  # 413 is the API's answer to a big response, not a misuse
                record["violation"] = answer["errorType"]
            state.records.append(record)
            state.cond.notify_all()
        self.reply(status, answer)

    # --- control --------------------------------------------------------------------------------------

    def serve_enqueue(self, request):
        state = self.state
        ids = []
        with state.cond:
            for event in request.get("events", []):
                body = event.get("body", "{}")
                trace = event.get("trace", True)
                item = {
                    "request_id": str(uuid.uuid4()),
                    "body": body.encode() if isinstance(body, str) else json.dumps(body).encode(),
                    "timeout_ms": int(event.get("timeout_ms", state.timeout_ms)),
                    "trace_id": make_trace_id() if trace is True else (trace or None),
                    "headers": event.get("headers", {}),
                }
                state.queue.append(item)
                ids.append({"request_id": item["request_id"], "trace_id": item["trace_id"]})
            state.cond.notify_all()
        self.reply(200, {"request_ids": ids})

    def serve_records(self, query):
        state = self.state
        wanted = int(query.get("min_posts", 0))
        deadline = time.monotonic() + float(query.get("timeout", 10))
        with state.cond:
            while state.post_count() < wanted and time.monotonic() < deadline:
                state.cond.wait(max(0.0, min(0.1, deadline - time.monotonic())))
            payload = {"records": list(state.records), "state": state.snapshot()}
        self.reply(200, payload)

    def serve_state(self, query):
        state = self.state
        deadline = time.monotonic() + float(query.get("timeout", 10))
        with state.cond:
            if query.get("waiting"):
                while not (state.waiting > 0 and not state.queue) and time.monotonic() < deadline:
                    state.cond.wait(max(0.0, min(0.1, deadline - time.monotonic())))
            payload = state.snapshot()
        self.reply(200, payload)

    def serve_go_away(self, request):
        state = self.state
        with state.cond:
            state.away_until = time.monotonic() + float(request.get("seconds", 1))
            state.cond.notify_all()
        self.reply(200, {"status": "away"})

    def serve_fail_posts(self, request):
        state = self.state
        with state.cond:
            state.fail_posts = int(request.get("count", 1))
            state.fail_status = int(request.get("status", 500))
        self.reply(200, {"status": "armed"})


def make_server(port=0, function_arn="arn:aws:lambda:us-east-1:123456789012:function:tourniquet", timeout_ms=30000):
    """Builds a server bound to 127.0.0.1:port; call serve_forever() (in a thread if need be)."""
    handler = type("BoundHandler", (Handler,), {"state": RuntimeApiState(function_arn, timeout_ms)})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.state = handler.state
    return server


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--function-arn", default="arn:aws:lambda:us-east-1:123456789012:function:tourniquet")
    parser.add_argument("--timeout-ms", type=int, default=30000)
    args = parser.parse_args()
    server = make_server(args.port, args.function_arn, args.timeout_ms)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
