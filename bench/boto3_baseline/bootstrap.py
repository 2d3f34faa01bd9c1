#!/usr/bin/env python3
"""A minimal Lambda custom runtime for the boto3 baseline, as `bootstrap` would run it on provided.al2023:
import the handler (which imports boto3 and creates its clients: the function's init), then loop on the
Runtime API: GET next, call the handler, POST the response or the error. Like awslambdaric, but only
what the benchmark needs; it exits when the Runtime API cannot be reached.
"""
import http.client
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import handler  # noqa: E402  (the function's init: import boto3, create the clients)

API = "/2018-06-01/runtime"


class Context:
    def __init__(self, headers, arrived):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.arrived = arrived  # monotonic time the event was received, for the report's timing

    def get_remaining_time_in_millis(self):
        return max(0, self.deadline_ms - int(time.time() * 1000))


def main():
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80))
    while True:
        try:
            connection.request("GET", API + "/invocation/next")
            answer = connection.getresponse()
            body = answer.read()
        except OSError as e:
            print("Runtime API unreachable: %s" % e, file=sys.stderr)
            return 1
        arrived = time.monotonic()
        context = Context(answer.headers, arrived)
        try:
            payload, path = json.dumps(handler.handler(json.loads(body), context)), "response"
            headers = {"Content-Type": "application/json"}
        except Exception as e:  # noqa: BLE001  (what a runtime does: report the error, keep serving)
            payload = json.dumps({"errorMessage": str(e), "errorType": type(e).__name__,
                                  "stackTrace": traceback.format_exc().splitlines()})
            path, headers = "error", {"Content-Type": "application/json",
                                      "Lambda-Runtime-Function-Error-Type": "Function.Unhandled"}
        connection.request("POST", "%s/invocation/%s/%s" % (API, context.aws_request_id, path), payload, headers)
        connection.getresponse().read()


if __name__ == "__main__":
    sys.exit(main())
