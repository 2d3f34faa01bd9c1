"""tests/servers/aws_proxy.py as a subprocess in front of a moto_server, for tests that want a slow or faulty AWS:

    proxy = AwsProxy(moto.url, fault_share=0.3, slow_ms=1500)
    env = moto.env_for(key, secret, {"AWS_ENDPOINT_URL": proxy.url})
    proxy.stats() -> {"requests", "forwarded", "faults": {kind: n}, "services": {...}}
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

PROXY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers", "aws_proxy.py")


class AwsProxy:
    def __init__(self, upstream, delay_ms=0, fault_share=0.0, faults=None, slow_ms=None, seed=None):
        self.tmp = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.tmp.name, "port")
        args = [sys.executable, PROXY_SCRIPT, "--upstream", upstream, "--port-file", port_file,
                "--delay-ms", str(delay_ms), "--fault-share", str(fault_share)]
        if faults:
            args += ["--faults", ",".join(faults)]
        if slow_ms is not None:
            args += ["--slow-ms", str(slow_ms)]
        if seed is not None:
            args += ["--seed", str(seed)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if time.time() > deadline or self.process.poll() is not None:
                self.process.kill()
                raise RuntimeError("aws_proxy.py did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            self.port = int(f.read())
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request, timeout=10).read())

    def stats(self):
        return self._call("GET", "/_stats")

    def log(self):
        return self._call("GET", "/_log")

    def configure(self, **settings):
        return self._call("POST", "/_config", settings)

    def reset(self):
        return self._call("POST", "/_reset", {})

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.tmp.cleanup()


def round_trip_depths(entries):
    """Each answered call of a proxy log with its "depth": 1 + the deepest call answered before it arrived, the
    round trips that led to it (as bench/containment_bench.py counts them). Calls of one batch must arrive
    before any of them is answered: run the proxy with a delay."""
    calls = sorted((dict(e) for e in entries if "answered" in e), key=lambda c: c["time"])
    for j, call in enumerate(calls):
        call["depth"] = 1 + max((c["depth"] for c in calls[:j] if c["answered"] <= call["time"]), default=0)
    return calls
