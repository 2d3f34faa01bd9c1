"""A local HTTP proxy in front of moto_server (or any AWS endpoint) that adds latency and faults.

Each request is forwarded byte for byte (method, path, headers as sent, Host included, body), so SigV4
signatures stay valid, and the answer is relayed. Options:
  --upstream URL      where to forward (http://127.0.0.1:PORT for moto, or https://...)
  --port-file F       the port this proxy listens on is written there once it listens (--port to choose it)
  --delay-ms N        every answer takes N ms longer (half before forwarding, half after), as a real
                      regional endpoint's round trip would (~50 ms)
  --fault-share S     the share of calls (0..1) answered with a fault instead
  --faults K,K,...    the fault kinds to draw from (default: all but slow):
      ec2-throttle    503 RequestLimitExceeded in EC2's error XML (EC2 calls only)
      iam-throttle    400 Throttling in the query ErrorResponse shape (IAM, STS, SNS and other query calls)
      json-throttle   400 ThrottlingException in the JSON shape (calls with X-Amz-Target: CloudTrail, ...)
      500             500 InternalError
      503             503 ServiceUnavailable
      drop            the connection is closed with no answer (the call never happened)
      slow            the call is held --slow-ms (default 11000, past the client's attempt timeout), then
                      forwarded: it happens late, possibly after the client gave up on it
      drop-after      the call is forwarded and happens, then the connection is closed before the answer
  --seed S            the random draw of faults is reproducible
  --fault-actions A,B only calls to these actions (the query Action, or the X-Amz-Target's operation) are faulted
  --fault-limit N     at most N faults in all, then every call is forwarded
The service is told from the Authorization header's credential scope (.../REGION/SERVICE/aws4_request).
Faults other than slow and drop-after are decided before forwarding: the call does not reach the upstream.

Control (never forwarded): GET /_stats -> {"requests", "forwarded", "faults": {kind: n}, "services": {...}};
GET /_log -> the last requests seen: {"time", "method", "path", "service", "action", "target", "fault",
"authorization", "security_token", "status", "answered", "params"} (the signature and token are there for the
secrets test; "answered", the time the answer went back, is absent for a dropped call; "params", a query call's
form parameters, for the tests that count round trips);
POST /_config with any of {"delay_ms", "fault_share", "faults", "seed", "slow_ms", "actions", "limit",
"log_bodies"} changes them at once (the limit counts from then; with log_bodies the log keeps each upstream
answer's body too, as "answer", for the secrets test to find the credentials AssumeRole handed out);
POST /_reset clears the counters and the log.
"""
import argparse
import http.client
import json
import os
import random
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ALL_FAULTS = ["ec2-throttle", "iam-throttle", "json-throttle", "500", "503", "drop", "slow", "drop-after"]
DEFAULT_FAULTS = [k for k in ALL_FAULTS if k != "slow"]
# Hop-by-hop headers are the proxy's own business on each side; everything else goes through untouched.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
              "te", "trailer", "transfer-encoding", "upgrade", "expect"}
SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")
LOG_LIMIT = 20000


class State:
    def __init__(self, upstream, delay_ms, fault_share, faults, seed, slow_ms, actions=None, limit=None):
        self.lock = threading.Lock()
        self.upstream = urlsplit(upstream)
        self.delay_ms = delay_ms
        self.fault_share = fault_share
        self.faults = faults
        self.slow_ms = slow_ms
        self.random = random.Random(seed)
        self.actions = set(actions or [])  # empty: every action may be faulted
        self.limit = limit                 # faults left to serve; None: no limit
        self.log_bodies = False
        self.reset()

    def reset(self):
        self.requests = 0
        self.forwarded = 0
        self.fault_counts = {}
        self.services = {}
        self.log = []

    def configure(self, spec):
        with self.lock:
            if "delay_ms" in spec:
                self.delay_ms = int(spec["delay_ms"])
            if "fault_share" in spec:
                self.fault_share = float(spec["fault_share"])
            if "faults" in spec:
                self.faults = parse_faults(spec["faults"])
            if "slow_ms" in spec:
                self.slow_ms = int(spec["slow_ms"])
            if "seed" in spec:
                self.random = random.Random(spec["seed"])
            if "actions" in spec:
                self.actions = set(spec["actions"] or [])
            if "log_bodies" in spec:
                self.log_bodies = bool(spec["log_bodies"])
            if "limit" in spec:
                self.limit = None if spec["limit"] is None else int(spec["limit"])

    def draw_fault(self, service, is_json, action):
        """The fault this call gets, or None: drawn among the configured kinds that fit the call."""
        with self.lock:
            self.requests += 1
            self.services[service] = self.services.get(service, 0) + 1
            if self.actions and action.split(".")[-1] not in self.actions:
                return None
            if self.limit is not None and self.limit <= 0:
                return None
            if self.fault_share <= 0 or self.random.random() >= self.fault_share:
                return None
            kinds = [k for k in self.faults if fits(k, service, is_json)]
            if not kinds:
                return None
            kind = self.random.choice(kinds)
            self.fault_counts[kind] = self.fault_counts.get(kind, 0) + 1
            if self.limit is not None:
                self.limit -= 1
            return kind

    def record(self, entry):
        with self.lock:
            self.log.append(entry)
            if len(self.log) > LOG_LIMIT:
                del self.log[: len(self.log) - LOG_LIMIT]


def parse_faults(spec):
    kinds = [k.strip() for k in (spec.split(",") if isinstance(spec, str) else spec) if k.strip()]
    unknown = [k for k in kinds if k not in ALL_FAULTS]
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}; known: {ALL_FAULTS}")
    return kinds


def fits(kind, service, is_json):
    if kind == "ec2-throttle":
        return service == "ec2"
    if kind == "iam-throttle":
        return service not in ("ec2", "") and not is_json
    if kind == "json-throttle":
        return is_json
    return True


def fault_answer(kind, service):
    """(status, content type, body) of a fault the proxy answers itself."""
    request_id = f"proxy-{random.getrandbits(48):012x}"
    if kind == "ec2-throttle":
        return 503, "text/xml", ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                                 '<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>'
                                 f'</Error></Errors><RequestID>{request_id}</RequestID></Response>')
    if kind == "json-throttle":
        return 400, "application/x-amz-json-1.1", json.dumps(
            {"__type": "ThrottlingException", "message": "Rate exceeded"})
    code, status, message = {
        "iam-throttle": ("Throttling", 400, "Rate exceeded"),
        "500": ("InternalError", 500, "An internal error has occurred."),
        "503": ("ServiceUnavailable", 503, "The service is unavailable. Please try again shortly."),
    }[kind]
    if service == "ec2":
        return status, "text/xml", ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                                    f'<Code>{code}</Code><Message>{message}</Message></Error></Errors>'
                                    f'<RequestID>{request_id}</RequestID></Response>')
    return status, "text/xml", (f'<ErrorResponse><Error><Type>{"Receiver" if status >= 500 else "Sender"}</Type>'
                                f'<Code>{code}</Code><Message>{message}</Message></Error>'
                                f'<RequestId>{request_id}</RequestId></ErrorResponse>')


class Upstream:
    """One kept-alive connection to the upstream per proxy thread."""
    local = threading.local()

    @classmethod
    def exchange(cls, state, method, path, headers, body):
        target = state.upstream
        for attempt in range(2):
            conn = getattr(cls.local, "conn", None)
            reused = conn is not None
            if conn is None:
                port = target.port or (443 if target.scheme == "https" else 80)
                factory = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
                conn = factory(target.hostname, port, timeout=120)
                cls.local.conn = conn
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body if body else None)
                response = conn.getresponse()
                data = response.read()
                if response.will_close:
                    conn.close()
                    cls.local.conn = None
                return response.status, response.getheaders(), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                cls.local.conn = None
                # Only a connection the upstream had already closed while idle is retried: the request
                # never reached it.
                if not reused or attempt == 1:
                    raise
        raise RuntimeError("unreachable")


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status, content_type, body, extra_headers=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for name, value in extra_headers:
                self.send_header(name, value)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _drop(self):
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True

        def _read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

        def _control(self, body):
            if self.command == "GET" and self.path == "/_stats":
                with state.lock:
                    stats = {"requests": state.requests, "forwarded": state.forwarded,
                             "faults": dict(state.fault_counts), "services": dict(state.services)}
                self._reply(200, "application/json", json.dumps(stats))
            elif self.command == "GET" and self.path == "/_log":
                with state.lock:
                    entries = list(state.log)
                self._reply(200, "application/json", json.dumps(entries))
            elif self.command == "POST" and self.path == "/_config":
                try:
                    state.configure(json.loads(body or b"{}"))
                except (ValueError, TypeError) as e:
                    self._reply(400, "application/json", json.dumps({"error": str(e)}))
                    return
                self._reply(200, "application/json", "{}")
            elif self.command == "POST" and self.path == "/_reset":
                with state.lock:
                    state.reset()
                self._reply(200, "application/json", "{}")
            else:
                self._reply(404, "application/json", "{}")

        def _handle(self):
            body = self._read_body()
            if self.path.startswith("/_") and self.path.split("?")[0] in ("/_stats", "/_log", "/_config", "/_reset"):
                self._control(body)
                return
            authorization = self.headers.get("Authorization", "")
            scope = SCOPE.search(authorization)
            service = scope.group(2) if scope else ""
            target = self.headers.get("X-Amz-Target", "")
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0] if not target else target
            fault = state.draw_fault(service, bool(target), action)
            entry = {"time": time.time(), "method": self.command, "path": self.path, "service": service,
                     "action": action, "target": target, "fault": fault, "authorization": authorization,
                     "security_token": self.headers.get("X-Amz-Security-Token", ""), "status": None}
            if not target and self.command == "POST":
                entry["params"] = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            state.record(entry)
            half_delay = state.delay_ms / 2000.0
            if half_delay:
                time.sleep(half_delay)
            if fault in ("ec2-throttle", "iam-throttle", "json-throttle", "500", "503"):
                status, content_type, answer = fault_answer(fault, service)
                if half_delay:
                    time.sleep(half_delay)
                entry["status"] = status
                entry["answered"] = time.time()
                self._reply(status, content_type, answer, [("x-amzn-RequestId", "proxy")])
                return
            if fault == "drop":
                self._drop()
                return
            if fault == "slow":
                time.sleep(state.slow_ms / 1000.0)
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
            if body and not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", str(len(body))))
            try:
                status, answer_headers, data = Upstream.exchange(state, self.command, self.path, headers, body)
            except (OSError, http.client.HTTPException):
                self._drop()  # the upstream did not answer: neither does the proxy
                return
            with state.lock:
                state.forwarded += 1
            entry["status"] = status
            if state.log_bodies:
                entry["answer"] = data[:65536].decode("utf-8", "replace")
            if half_delay:
                time.sleep(half_delay)
            if fault == "drop-after":
                self._drop()
                return
            relayed = [(k, v) for k, v in answer_headers
                       if k.lower() not in HOP_BY_HOP and k.lower() not in ("content-length", "content-type")]
            content_type = next((v for k, v in answer_headers if k.lower() == "content-type"), None)
            entry["answered"] = time.time()
            try:
                self._reply(status, content_type, data, relayed)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a slow call past its attempt timeout)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a batch of calls opens many connections at once


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port-file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--fault-share", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(DEFAULT_FAULTS))
    parser.add_argument("--slow-ms", type=int, default=11000)
    parser.add_argument("--seed", default=None)
    parser.add_argument("--fault-actions", default="")
    parser.add_argument("--fault-limit", type=int, default=None)
    args = parser.parse_args()
    try:
        faults = parse_faults(args.faults)
    except ValueError as e:
        parser.error(str(e))
    state = State(args.upstream, args.delay_ms, args.fault_share, faults, args.seed, args.slow_ms,
                  [a for a in args.fault_actions.split(",") if a], args.fault_limit)
    server = Server((args.host, args.port), make_handler(state))
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    else:
        print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
