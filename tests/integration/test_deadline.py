"""A short deadline and a slow AWS: the real runtime loop (`tourniquet` under the local Runtime API server)
contains an instance in moto through tests/servers/aws_proxy.py slowing every call, with an invocation
deadline too short for the whole playbook. The invocation must post its account of what was and was not done
before the deadline the Runtime API handed out, never after, and the loop must go on to the next event."""
import json
import time
import unittest

from proxy_support import AwsProxy
from runtime_harness import RuntimeApiServer, RuntimeProcess, tourniquet_bin
from worlds import InstanceWorldTestCase, instance_finding


class DeadlineTest(InstanceWorldTestCase):
    def setUp(self):
        super().setUp()
        self.proxy = AwsProxy(self.moto.url)
        self.addCleanup(self.proxy.stop)

    def finding(self):
        event = instance_finding(self.world.instance)
        self.guardduty.put_finding(event["detail"])  # confirmed with GuardDuty, reached directly
        return json.dumps(event)

    def serve(self, api, extra=None):
        key, secret = self.responder
        env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": self.proxy.url,
               "TOURNIQUET_RETRY_BASE_MS": "20", **self.guardduty.endpoint_env()}
        env.update(extra or {})
        return RuntimeProcess(tourniquet_bin(), api.endpoint, env=env)

    def handed_deadline(self, api, request_id, timeout_ms):
        """The earliest the deadline can be: the server computes it as it answers the /next recorded here."""
        nexts = [r for r in api.records() if r["kind"] == "next" and r.get("request_id") == request_id]
        self.assertEqual(len(nexts), 1)
        return nexts[0]["time"] + timeout_ms / 1000

    def post_for(self, api, request_id, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = [r for r in api.posts() if r.get("request_id") == request_id]
            if posts:
                return posts[0]
            time.sleep(0.05)
        self.fail(f"nothing posted for {request_id}")

    def test_a_slow_aws_gets_an_account_of_what_was_and_was_not_done_before_the_deadline(self):
        self.proxy.configure(delay_ms=700)  # every call takes 0.7 s: the playbook needs about 5 s
        with RuntimeApiServer() as api, self.serve(api) as process:
            timeout_ms = 3000
            event = self.finding()
            [ids] = api.enqueue({"body": event, "timeout_ms": timeout_ms})
            post = self.post_for(api, ids["request_id"])
            deadline = self.handed_deadline(api, ids["request_id"], timeout_ms)
            self.assertLess(post["time"], deadline, "the report was posted after the deadline")
            self.assertEqual(post["kind"], "error")
            self.assertEqual(post["error_type"], "Function.ContainmentIncomplete")
            message = json.loads(post["body"])["errorMessage"]
            self.assertIn("instance-containment " + self.world.instance, message)
            self.assertRegex(message, r"; done: [a-z-]+ ", "what was done is listed: " + message)
            self.assertIn("; not done: ", message)
            self.assertIn("deadline", message, "why it was not done: " + message)
            report = [line for line in process.json_logs() if line.get("message") == "playbook finished"
                      and line.get("playbook") == "instance-containment"]
            self.assertEqual(len(report), 1, "the full report goes to the log")
            self.assertTrue(process.alive())

            # The loop goes on, and with time enough the retry finishes the job.
            self.proxy.configure(delay_ms=0)
            [again] = api.enqueue({"body": event, "timeout_ms": 30000})
            post = self.post_for(api, again["request_id"])
            self.assertEqual(post["kind"], "response", post)
            statuses = {r["playbook"]: r["status"] for r in json.loads(post["body"])["reports"]}
            self.assertEqual(statuses["instance-containment"], "contained", statuses)

    def test_calls_that_hang_are_cut_off_in_time(self):
        # Every call held 20 s (past the 10 s attempt timeout), a deadline of 2 s.
        self.proxy.configure(fault_share=1.0, faults=["slow"], slow_ms=20000)
        with RuntimeApiServer() as api, self.serve(api) as process:
            for timeout_ms in (2000, 400, 150):
                [ids] = api.enqueue({"body": self.finding(), "timeout_ms": timeout_ms})
                post = self.post_for(api, ids["request_id"])
                deadline = self.handed_deadline(api, ids["request_id"], timeout_ms)
                self.assertLess(post["time"], deadline, f"posted after a {timeout_ms} ms deadline")
                self.assertEqual(post["kind"], "error")
                message = json.loads(post["body"])["errorMessage"]
                self.assertIn(self.world.instance, message)
                self.assertIn("failed", message)
                self.assertTrue(process.alive())

if __name__ == "__main__":
    unittest.main()
