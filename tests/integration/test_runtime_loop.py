"""The runtime loop and the `invoke` command of the real executables, against the local Runtime API server.

`tourniquet` runs with its real handler. For what that handler never does (throw, fail with an arbitrary error
type, answer more than 6 MiB, fail to start) the test-only `runtime_probe` runs the same loop (tq_runtime)
around a handler that misbehaves on request (tests/runtime_probe.cpp).
"""

import http.client
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
import uuid

from runtime_harness import LAMBDA_LIKE_ENV, RuntimeApiServer, RuntimeProcess, probe_bin, tourniquet_bin, unused_port

MIB = 1024 * 1024
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


def guardduty_event(marker, **detail_overrides):
    """An EventBridge envelope around a GuardDuty finding (raw JSON text). `marker` goes in the description,
    a part of the payload that is logged only at debug level (the finding id is logged on purpose)."""
    detail = {
        "description": marker,
        "schemaVersion": "2.0",
        "accountId": "123456789012",
        "region": "us-east-1",
        "id": "4cc5" + uuid.uuid4().hex[:28],
        "type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "severity": 5,
        "title": "SSH brute force attacks against i-0123456789abcdef0",
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
        "service": {"count": 1, "archived": False},
    }
    detail.update(detail_overrides)
    return json.dumps({
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": "123456789012",
        "time": "2024-05-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    })


def wrong_types_event():
    """An envelope whose fields have the wrong JSON types: detail a string, detail-type a number."""
    envelope = json.loads(guardduty_event("wrong-types"))
    envelope.update({"detail": "not an object", "detail-type": 7})
    return json.dumps(envelope)


def probe(**fields):
    return {"body": json.dumps(fields)}


class PostChecks:
    def assert_error_post(self, record, error_type):
        """An /error post in the shape the Runtime API expects, with a header the API accepts."""
        self.assertEqual(record["kind"], "error")
        self.assertEqual(record["status"], 202)
        self.assertEqual(record["headers"].get(ERROR_TYPE_HEADER), error_type)
        self.assertEqual(record["error_type"], error_type, "the server would have recorded Runtime.Unknown")
        body = json.loads(record["body"])
        self.assertEqual(list(body), ["errorMessage", "errorType", "stackTrace"])
        self.assertEqual(body["errorType"], error_type)
        self.assertEqual(body["stackTrace"], [])
        self.assertIsInstance(body["errorMessage"], str)
        return body

    def assert_no_violations(self, records):
        self.assertEqual([r for r in records if r.get("violation")], [], "protocol violations")


class RuntimeLoopTest(PostChecks, unittest.TestCase):
    def test_one_process_serves_good_malformed_and_odd_events_and_survives_the_api_going_away(self):
        marker = "tq-marker-" + uuid.uuid4().hex
        with RuntimeApiServer() as api, RuntimeProcess(tourniquet_bin(), api.endpoint) as proc:
            ids = api.enqueue(
                guardduty_event(marker),
                guardduty_event("truncated")[:57],
                json.dumps([{"detail-type": "GuardDuty Finding"}]),
                wrong_types_event(),
            )
            posts = api.posts(min_posts=4)
            self.assertEqual([p["request_id"] for p in posts], [i["request_id"] for i in ids])
            good, truncated, array, wrong_types = posts

            self.assertEqual((good["kind"], good["status"]), ("response", 202))
            self.assertEqual(good["headers"].get("Content-Type"), "application/json")
            # A medium-severity brute force against the instance: no playbook acts on it, and it says why.
            self.assertEqual(json.loads(good["body"])["status"], "ignored")
            self.assertIn("TOURNIQUET_MIN_SEVERITY", good["body"])
            self.assert_error_post(truncated, "Function.InvalidEvent")
            array_error = self.assert_error_post(array, "Function.InvalidEvent")
            self.assertTrue(array_error["errorMessage"].startswith("$"), array_error)
            # Wrong field types: refused, naming the first bad field's JSON path.
            wrong_error = self.assert_error_post(wrong_types, "Function.InvalidEvent")
            self.assertIn("$.detail", wrong_error["errorMessage"])

            # The API goes away while the loop waits in `next`; the loop backs off and comes back.
            api.state(wait_until_blocked=True)
            api.go_away(1.5)
            after = api.enqueue(guardduty_event(marker))
            posts = api.posts(min_posts=5, timeout=30)
            self.assertEqual(len(posts), 5)
            self.assertEqual((posts[4]["request_id"], posts[4]["kind"], posts[4]["status"]),
                             (after[0]["request_id"], "response", 202))
            self.assertTrue(proc.alive())

            records = api.records()
            self.assert_no_violations(records)
            dropped = [i for i, r in enumerate(records) if r["kind"] == "next" and r["status"] == "dropped"]
            self.assertTrue(dropped, "the server never dropped a /next: the go-away did not happen")
            before = records[:dropped[0] + 1]
            self.assertEqual(len({r["client_port"] for r in before}), 1,
                             "requests before the outage did not share one kept-alive connection")

            logs = proc.json_logs()
            for line in logs:
                self.assertRegex(line.get("timestamp", ""), RFC3339, line)
                self.assertIn(line.get("level"), LEVELS, line)
                self.assertIsInstance(line.get("message"), str, line)
            failed = [l for l in logs if l["message"] == "handler failed"]
            self.assertEqual([l.get("requestId") for l in failed],
                             [truncated["request_id"], array["request_id"], wrong_types["request_id"]])
            self.assertEqual({l["errorType"] for l in failed}, {"Function.InvalidEvent"})
            retries = [l for l in logs if l["message"] == "Runtime API next failed; retrying"]
            self.assertTrue(retries, "no back-off was logged while the API was away")
            self.assertTrue(all(l["level"] == "WARN" and "requestId" not in l for l in retries),
                            "the request id outlived its invocation")
            self.assertNotIn(marker, proc.stderr_text(), "the event payload was logged at INFO")

    def test_debug_logs_carry_the_event_and_the_exported_trace_id(self):
        marker = "tq-marker-" + uuid.uuid4().hex
        with RuntimeApiServer() as api, RuntimeProcess(tourniquet_bin(), api.endpoint, log_level="DEBUG") as proc:
            ids = api.enqueue(guardduty_event(marker), {"body": "{}", "trace": False})
            api.posts(min_posts=2)
            received = proc.wait_for_log(lambda l: l["message"] == "invocation received"
                                         and l.get("requestId") == ids[1]["request_id"])
            self.assertIsNotNone(received)
            logs = [l for l in proc.json_logs() if l["message"] == "invocation received"]
            self.assertEqual([l["requestId"] for l in logs], [i["request_id"] for i in ids])
            first, second = logs
            self.assertEqual(first["level"], "DEBUG")
            self.assertIn(marker, first["event"])
            # traceId is read back from the process environment (_X_AMZN_TRACE_ID) after the loop set it...
            self.assertEqual(first["traceId"], ids[0]["trace_id"])
            self.assertEqual(first["functionArn"], "arn:aws:lambda:us-east-1:123456789012:function:tourniquet")
            # ...and removed for an invocation that came without one.
            self.assertEqual(second["traceId"], "")
            self.assertEqual(second["event"], "{}")

    def test_unreachable_api_ends_the_process_after_a_bounded_back_off(self):
        endpoint = "127.0.0.1:%d" % unused_port()
        started = time.monotonic()
        with RuntimeProcess(tourniquet_bin(), endpoint, env={"TOURNIQUET_RUNTIME_API_RETRY_MS": "1000"}) as proc:
            code = proc.wait(timeout=20)
        elapsed = time.monotonic() - started
        self.assertNotEqual(code, 0)
        self.assertGreater(elapsed, 0.6)  # 50 + 100 + 200 + 400 ms of back-off before giving up
        self.assertLess(elapsed, 5)
        logs = proc.json_logs()
        retries = [l for l in logs if l["message"] == "Runtime API next failed; retrying"]
        self.assertEqual([l["retryInMs"] for l in retries], ["50", "100", "200", "400"])
        self.assertEqual(logs[-1]["message"], "Runtime API unreachable; giving up")
        self.assertEqual(logs[-1]["level"], "ERROR")

    def test_default_back_off_budget_is_about_ten_seconds(self):
        endpoint = "127.0.0.1:%d" % unused_port()
        started = time.monotonic()
        with RuntimeProcess(tourniquet_bin(), endpoint) as proc:
            code = proc.wait(timeout=30)
        elapsed = time.monotonic() - started
        self.assertNotEqual(code, 0)
        self.assertGreater(elapsed, 8)
        self.assertLess(elapsed, 13)

    def test_bad_retry_budget_is_a_start_up_error_reported_to_init_error(self):
        with RuntimeApiServer() as api, RuntimeProcess(
                tourniquet_bin(), api.endpoint, env={"TOURNIQUET_RUNTIME_API_RETRY_MS": "soon"}) as proc:
            self.assertEqual(proc.wait(timeout=10), 1)
            (record,) = api.posts(min_posts=1)
            self.assertEqual(record["kind"], "init_error")
            body = json.loads(record["body"])
            self.assertEqual(record["headers"].get(ERROR_TYPE_HEADER), "Runtime.InitError")
            self.assertIn("TOURNIQUET_RUNTIME_API_RETRY_MS", body["errorMessage"])


class ProbeLoopTest(PostChecks, unittest.TestCase):
    """The same loop around runtime_probe's misbehaving handler."""

    def test_throws_failures_and_oversized_responses_are_posted_and_the_loop_goes_on(self):
        with RuntimeApiServer() as api, RuntimeProcess(probe_bin(), api.endpoint) as proc:
            ids = api.enqueue(
                probe(probe="throw", message="probe exploded"),
                probe(probe="throw-unknown"),
                probe(probe="big", bytes=7 * MIB),
                probe(probe="big", bytes=6 * MIB),
                probe(probe="fail", type="bad type!", message="odd type"),
                probe(probe="fail", type="Function.ContainmentIncomplete", message="1 of 2 steps done"),
                probe(probe="empty"),
                dict(probe(probe="env"), timeout_ms=5000, headers={
                    "Lambda-Runtime-Client-Context": '{"client":{"app_title":"t"}}',
                    "Lambda-Runtime-Cognito-Identity": '{"cognitoIdentityId":"us-east-1:abc"}'}),
            )
            posts = api.posts(min_posts=8, timeout=60)
            self.assertEqual([p["request_id"] for p in posts], [i["request_id"] for i in ids],
                             "one post per invocation, in order (no /error after the 413)")
            thrown, thrown_unknown, too_big, at_limit, bad_type, incomplete, empty, env = posts

            self.assertEqual(self.assert_error_post(thrown, "Function.HandlerException")["errorMessage"],
                             "probe exploded")
            self.assertEqual(self.assert_error_post(thrown_unknown, "Function.HandlerException")["errorMessage"],
                             "unknown exception")
            self.assertEqual((too_big["kind"], too_big["status"], too_big["body_length"]), ("response", 413, 7 * MIB))
            self.assertEqual((at_limit["kind"], at_limit["status"], at_limit["body_length"]), ("response", 202, 6 * MIB))
            self.assertEqual(self.assert_error_post(bad_type, "Function.BadType")["errorMessage"], "odd type")
            self.assert_error_post(incomplete, "Function.ContainmentIncomplete")
            self.assertEqual((empty["kind"], empty["status"], empty["body_length"]), ("response", 202, 0))

            self.assertEqual((env["kind"], env["status"]), ("response", 202))
            seen = json.loads(env["body"])
            self.assertEqual(seen["requestId"], ids[7]["request_id"])
            self.assertEqual(seen["traceId"], ids[7]["trace_id"])
            self.assertEqual(seen["traceEnv"], ids[7]["trace_id"])
            self.assertEqual(seen["functionArn"], "arn:aws:lambda:us-east-1:123456789012:function:tourniquet")
            self.assertEqual(seen["clientContext"], '{"client":{"app_title":"t"}}')
            self.assertEqual(seen["cognitoIdentity"], '{"cognitoIdentityId":"us-east-1:abc"}')
            self.assertGreater(seen["remainingMs"], 0)
            self.assertLessEqual(seen["remainingMs"], 5000)

            self.assert_no_violations(api.records())
            self.assertTrue(proc.alive())
            refused = [l for l in proc.json_logs() if l["message"] == "Runtime API refused the response as too large"]
            self.assertEqual([(l["level"], l["requestId"]) for l in refused], [("ERROR", ids[2]["request_id"])])

    def test_a_post_that_fails_transiently_is_retried(self):
        with RuntimeApiServer() as api, RuntimeProcess(probe_bin(), api.endpoint) as proc:
            api.state(wait_until_blocked=True)
            api.fail_posts(2, status=503)
            ids = api.enqueue(probe(probe="echo"), probe(probe="fail", type="Function.Oops", message="m"))
            posts = api.posts(min_posts=4)
            self.assertEqual([(p["request_id"], p["status"], bool(p.get("injected"))) for p in posts], [
                (ids[0]["request_id"], 503, True),
                (ids[0]["request_id"], 503, True),
                (ids[0]["request_id"], 202, False),
                (ids[1]["request_id"], 202, False),
            ])
            self.assert_error_post(posts[3], "Function.Oops")
            warnings = [l for l in proc.json_logs() if l["message"] == "Runtime API post failed"]
            self.assertEqual([l["attempt"] for l in warnings], ["1", "2"])

    def test_a_start_up_failure_is_posted_to_init_error_and_ends_the_process(self):
        with RuntimeApiServer() as api, RuntimeProcess(
                probe_bin(), api.endpoint, env={"TQ_PROBE_INIT_ERROR": "TQ_SETTING: expected a number"}) as proc:
            self.assertEqual(proc.wait(timeout=10), 1)
            (record,) = api.posts(min_posts=1)
            self.assertEqual((record["kind"], record["status"]), ("init_error", 202))
            self.assertEqual(record["headers"].get(ERROR_TYPE_HEADER), "Runtime.InitError")
            self.assertEqual(record["error_type"], "Runtime.InitError")
            body = json.loads(record["body"])
            self.assertEqual(body["errorType"], "Runtime.InitError")
            self.assertIn("TQ_SETTING: expected a number", body["errorMessage"])
            self.assertEqual(body["stackTrace"], [])
            self.assertEqual(api.state()["next_calls"], 0)


class ServerProtocolTest(unittest.TestCase):
    """The local server refuses what the real Runtime API refuses, so the loop tests above mean something."""

    def test_the_server_checks_ids_order_size_and_error_types(self):
        with RuntimeApiServer() as api:
            connection = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
            self.addCleanup(connection.close)

            def call(method, path, body=b"", headers=None):
                connection.request(method, "/2018-06-01/runtime/" + path, body=body, headers=headers or {})
                response = connection.getresponse()
                return response.status, response.read(), response

            self.assertEqual(call("POST", "invocation/x/response", b"{}")[0], 403)  # nothing outstanding
            first, second, third = [i["request_id"] for i in api.enqueue("{}", "{}", "{}")]
            status, body, response = call("GET", "invocation/next")
            self.assertEqual((status, body), (200, b"{}"))
            self.assertEqual(response.getheader("Lambda-Runtime-Aws-Request-Id"), first)
            self.assertEqual(call("POST", "invocation/%s/response" % second, b"{}")[0], 400)
            self.assertEqual(call("GET", "invocation/next")[0], 403)  # `next` before answering
            self.assertEqual(call("POST", "invocation/%s/error" % first, b"{}",
                                  {"Lambda-Runtime-Function-Error-Type": "Oops"})[0], 202)
            self.assertEqual(call("POST", "invocation/%s/response" % first, b"{}")[0], 403)  # twice
            self.assertEqual(call("GET", "invocation/next")[0], 200)
            self.assertEqual(call("POST", "invocation/%s/response" % second, b"x" * (6 * MIB + 1))[0], 413)
            self.assertEqual(call("POST", "invocation/%s/error" % second, b"{}")[0], 403)  # after a 413
            self.assertEqual(call("GET", "invocation/next")[0], 200)
            self.assertEqual(call("POST", "init/error", b"{}")[0], 403)  # only before the first `next`

            posts = api.posts()
            self.assertEqual([(p["kind"], p["status"], p.get("violation")) for p in posts], [
                ("response", 403, "InvalidStateTransition"),
                ("response", 400, "InvalidRequestID"),
                ("error", 202, None),
                ("response", 403, "InvalidStateTransition"),
                ("response", 413, None),
                ("error", 403, "InvalidStateTransition"),
                ("init_error", 403, "InvalidStateTransition"),
            ])
            self.assertEqual(posts[2]["error_type"], "Runtime.Unknown")
            self.assertEqual(api.state()["outstanding"], third)


class InvokeCommandTest(unittest.TestCase):
    def run_cli(self, binary, *args, stdin=None, env=None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_LAMBDA_", "TOURNIQUET_"))}
        full_env.update(LAMBDA_LIKE_ENV)
        full_env.update(env or {})
        return subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, env=full_env,
                              timeout=30)

    def event_file(self, text):
        handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        handle.write(text)
        handle.close()
        self.addCleanup(os.unlink, handle.name)
        return handle.name

    def test_good_event_prints_the_response_and_exits_0(self):
        marker = "tq-marker-" + uuid.uuid4().hex
        path = self.event_file(guardduty_event(marker))
        for args in ([path], [path, "--dry-run"], ["--dry-run", path]):
            result = self.run_cli(tourniquet_bin(), "invoke", *args)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(json.loads(result.stdout)["status"], "ignored")
            self.assertNotIn(marker, result.stderr)

    def test_malformed_events_exit_2_naming_the_file(self):
        path = self.event_file(guardduty_event("x")[:40])
        result = self.run_cli(tourniquet_bin(), "invoke", path)
        self.assertEqual(result.returncode, 2)
        self.assertIn("tourniquet invoke: %s: malformed event:" % path, result.stderr)
        self.assertEqual(json.loads(result.stdout)["errorType"], "Function.InvalidEvent")

        result = self.run_cli(tourniquet_bin(), "invoke", "-", stdin="[1, 2]")
        self.assertEqual(result.returncode, 2)
        self.assertIn("tourniquet invoke: <stdin>: malformed event: $", result.stderr)

    def test_unreadable_input_and_bad_usage_exit_2(self):
        missing = os.path.join(tempfile.gettempdir(), "tq-missing-%s.json" % uuid.uuid4().hex)
        cases = [
            (["invoke", missing], "cannot read %s: No such file or directory" % missing),
            (["invoke", tempfile.gettempdir()], "cannot read %s: Is a directory" % tempfile.gettempdir()),
            (["invoke"], "missing FILE"),
            (["invoke", "a.json", "b.json"], "one event file expected"),
            (["invoke", "--frobnicate", "a.json"], "unknown option '--frobnicate'"),
            (["frobnicate"], "unknown command 'frobnicate'"),
            ([], "AWS_LAMBDA_RUNTIME_API is not set"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                result = self.run_cli(tourniquet_bin(), *args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(message, result.stderr)
                self.assertEqual(result.stdout, "")

        path = self.event_file("{}")
        result = self.run_cli(tourniquet_bin(), "invoke", path, env={"TOURNIQUET_LOCAL_TIMEOUT_MS": "soon"})
        self.assertEqual(result.returncode, 2)
        self.assertIn("TOURNIQUET_LOCAL_TIMEOUT_MS", result.stderr)

    def test_help_and_version(self):
        result = self.run_cli(tourniquet_bin(), "--help")
        self.assertEqual(result.returncode, 0)
        self.assertIn("invoke FILE|- [--dry-run]", result.stdout)
        result = self.run_cli(tourniquet_bin(), "--version")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"^tourniquet \d+\.\d+\.\d+\n$")

    def test_handler_failures_exit_1_and_the_local_context(self):
        # runtime_probe shares the invoke command (tq_runtime) and can report failures on request.
        path = self.event_file(json.dumps({"probe": "fail", "type": "Function.ContainmentIncomplete",
                                           "message": "1 of 2 steps done"}))
        result = self.run_cli(probe_bin(), "invoke", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn("%s: handler failed: Function.ContainmentIncomplete: 1 of 2 steps done" % path, result.stderr)
        self.assertEqual(json.loads(result.stdout)["errorType"], "Function.ContainmentIncomplete")

        result = self.run_cli(probe_bin(), "invoke", "-", stdin='{"probe": "throw", "message": "boom"}')
        self.assertEqual(result.returncode, 1)
        self.assertIn("Function.HandlerException: boom", result.stderr)

        for env, low, high in (({}, 59000, 60000), ({"TOURNIQUET_LOCAL_TIMEOUT_MS": "5000"}, 4000, 5000)):
            result = self.run_cli(probe_bin(), "invoke", "-", stdin='{"probe": "env"}', env=env)
            self.assertEqual(result.returncode, 0, result.stderr)
            seen = json.loads(result.stdout)
            self.assertRegex(seen["requestId"], r"^local-[0-9a-f]{16}$")
            self.assertGreater(seen["remainingMs"], low)
            self.assertLessEqual(seen["remainingMs"], high)


if __name__ == "__main__":
    unittest.main()
