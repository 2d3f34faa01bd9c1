"""A local HTTP server that answers as a troubled AWS endpoint would, for the retry tests.

Control: POST /_script with {"script": [behaviour, ...], "default": behaviour}: behaviours are used one per
request in order, then the default (200 with a small EC2 body). A behaviour: {"status": 503, "body": "...",
"delay_ms": 0, "drop": false}. GET /_log lists every request seen: {"time": epoch seconds, "path", "action"}; GET /_stats
says how many requests were in flight at once at the most. Any method on /_echo answers {"method", "body"} as
it arrived (a HEAD: the same headers, X-Echo-Method, and no body), and is not logged.
Run: python3 fault_server.py PORT_FILE  (writes the port it listens on into PORT_FILE)
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

OK_BODY = ('<?xml version="1.0" encoding="UTF-8"?><DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/'
           'doc/2016-11-15/"><requestId>ok-1</requestId><regionInfo/></DescribeRegionsResponse>')

lock = threading.Lock()
script = []
log = []
default = {"status": 200, "body": OK_BODY, "delay_ms": 0}
in_flight = 0
max_in_flight = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, body, content_type="text/xml"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _echo(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode() if length else ""
        data = json.dumps({"method": self.command, "body": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Echo-Method", self.command)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_HEAD = do_PUT = do_DELETE = do_PATCH = _echo

    def do_GET(self):
        if self.path == "/_echo":
            self._echo()
        elif self.path == "/_log":
            with lock:
                self._reply(200, json.dumps(log), "application/json")
        elif self.path == "/_stats":
            with lock:
                self._reply(200, json.dumps({"max_in_flight": max_in_flight}), "application/json")
        else:
            self._reply(404, "")

    def do_POST(self):
        if self.path == "/_echo":
            self._echo()
            return
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        global script, default, in_flight, max_in_flight
        if self.path == "/_script":
            with lock:
                spec = json.loads(body)
                script = list(spec.get("script") or [])
                default = spec.get("default") or {"status": 200, "body": OK_BODY, "delay_ms": 0}
                log.clear()
                max_in_flight = 0
            self._reply(200, "{}", "application/json")
            return
        action = parse_qs(body).get("Action", [""])[0]
        with lock:
            log.append({"time": time.time(), "path": self.path, "action": action})
            behaviour = script.pop(0) if script else default
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
        try:
            self._behave(behaviour)
        finally:
            with lock:
                in_flight -= 1

    def _behave(self, behaviour):
        if behaviour.get("delay_ms"):
            time.sleep(behaviour["delay_ms"] / 1000.0)
        if behaviour.get("drop"):
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self._reply(behaviour.get("status", 200), behaviour.get("body", OK_BODY))


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
