#!/usr/bin/env python3
"""A stand-in for a distant AWS endpoint: forwards every request byte for byte to an upstream (moto_server)
at once and answers it no sooner than a fixed delay after it arrived, the way a regional endpoint ~50 ms
away would: the upstream's own time is hidden inside the delay unless it is longer (moto serves calls one
at a time; EC2 does not). Headers and body pass unchanged (Host included), so a SigV4 signature made for
the proxy's address stays valid upstream. Answers go out in one write with TCP_NODELAY: no Nagle stall.

Every forwarded call is logged with its timing, so a benchmark can see the calls from the service's side:
  GET  /_proxy/log    -> [{"seq", "action", "params", "received", "answered", "status", "thread"}]  (epoch s)
  POST /_proxy/reset  -> clears the log
`received` is when the request was read, `answered` when the answer was written.

Without --upstream it answers every call itself with a small EC2 answer (DescribeRegions), after the delay:
a stand-in with no service time at all, to measure a client alone.

Run: delay_proxy.py [--upstream http://127.0.0.1:PORT] [--delay-ms 50] [--port 0]; prints "LISTENING <port>".
(Written for the benchmarks; tests/servers/aws_proxy.py, when present, does the same for the tests.)
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CANNED = (b'<?xml version="1.0" encoding="UTF-8"?><DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/'
          b'2016-11-15/"><requestId>8f7e4a3c-0000-4000-8000-000000000001</requestId><regionInfo><item><regionName>'
          b'us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint></item></regionInfo>'
          b'</DescribeRegionsResponse>')
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "expect"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None  # (host, port)
    delay = 0.05
    lock = threading.Lock()
    log = []

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def _send(self, status, reason, headers, body):
        head = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % h for h in headers]
        head.append("Content-Length: %d" % len(body))
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _local(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _forward(self):
        received = time.time()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/_proxy/"):
            if self.path == "/_proxy/log":
                with self.lock:
                    return self._local(200, list(self.log))
            if self.path == "/_proxy/reset":
                with self.lock:
                    self.log.clear()
                return self._local(200, {})
            return self._local(404, {"error": "no route"})
        if self.upstream is None:
            time.sleep(max(0.0, received + self.delay - time.time()))
            answered = time.time()
            self._send(200, "OK", [("Content-Type", "text/xml;charset=UTF-8")], CANNED)
            self._record(body, received, answered, 200)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            answer = upstream.getresponse()
            data = answer.read()
            headers = [(n, v) for n, v in answer.getheaders() if n.lower() not in HOP_BY_HOP and
                       n.lower() != "content-length"]
            time.sleep(max(0.0, received + self.delay - time.time()))
            answered = time.time()  # taken before the write: once written, the client may send its next call
            self._send(answer.status, answer.reason, headers, data)
            status = answer.status
        finally:
            upstream.close()
        self._record(body, received, answered, status)

    def _record(self, body, received, answered, status):
        params = {}
        if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            params = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        with self.lock:
            self.log.append({"seq": len(self.log), "action": params.get("Action", urlsplit(self.path).path),
                             "params": params, "received": received, "answered": answered, "status": status,
                             "thread": threading.get_ident()})

    do_POST = _forward
    do_GET = _forward
    do_PUT = _forward  # REST-JSON services (Lambda) name their operations by method too
    do_DELETE = _forward


def make_proxy(upstream_url, delay_ms, port=0):
    url = urlsplit(upstream_url) if upstream_url else None
    handler = type("BoundProxy", (Proxy,), {"upstream": (url.hostname, url.port or 80) if url else None,
                                            "delay": delay_ms / 1000.0,
                                            "lock": threading.Lock(), "log": []})
    # A deep accept queue: a batch opens many connections at once, and with the default of 5 the kernel
    # drops the extra SYNs, which then cost a second each (TCP's initial retransmission timeout).
    server_class = type("Server", (ThreadingHTTPServer,), {"request_queue_size": 128, "daemon_threads": True})
    return server_class(("127.0.0.1", port), handler)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream")
    parser.add_argument("--delay-ms", type=float, default=50)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = make_proxy(args.upstream, args.delay_ms, args.port)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
