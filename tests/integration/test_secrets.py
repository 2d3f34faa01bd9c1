"""No secret ever leaves in output: the suite's scenarios run at debug level (AWS_LAMBDA_LOG_LEVEL=DEBUG, JSON and
text logs) against moto through tests/servers/aws_proxy.py, which records every request's Authorization header
and session token and every answer (so the credentials AssumeRole handed out are known too). Then every byte
Tourniquet wrote — standard output and error of each command, and what the runtime loop posted to the Runtime
API — is searched for the secret keys, the session tokens and the request signatures."""
import json
import re
import unittest

from moto_support import ACCOUNT, MEMBER_ACCOUNT, MotoTestCase, generated_policy, invoke, run_tourniquet
from proxy_support import AwsProxy
from runtime_harness import RuntimeApiServer, RuntimeProcess, tourniquet_bin
from worlds import MEMBER_ROLE_NAME, InstanceWorld, MemberInstance, instance_finding

SIGNATURE = re.compile(r"Signature=([0-9a-f]{64})")
DEBUG = {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}


class SecretsTest(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Every playbook's calls, notifications and the member account's role included.
        cls.policy = generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME,
                                      TOURNIQUET_SNS_TOPIC_ARN=f"arn:aws:sns:us-east-1:{ACCOUNT}:incidents")

    def setUp(self):
        moto = self.moto
        with moto.fresh_account(self.policy) as account:
            self.world = InstanceWorld(moto)
            # A member account with an instance, reached by AssumeRole: its session credentials are secrets too.
            member = MemberInstance(moto, self.policy)
            self.member_instance = member.instance
            self.topic = moto.client("sns").create_topic(Name="incidents")["TopicArn"]
            self.stranger = moto.user_with_policy("stranger", [{"Effect": "Deny", "Action": "*", "Resource": "*"}])
        self.responder = account.responder
        self.known_secrets = {self.responder[1], self.stranger[1], account.admin[1],
                              member.setup["SecretAccessKey"], member.setup["SessionToken"]}
        self.proxy = AwsProxy(moto.url)
        self.proxy.configure(log_bodies=True)
        self.addCleanup(self.proxy.stop)
        self.output = []  # everything Tourniquet wrote

    def env(self, principal=None, **extra):
        key, secret = principal or self.responder
        return self.moto.env_for(key, secret, dict({
            "AWS_ENDPOINT_URL": self.proxy.url, "TOURNIQUET_MEMBER_ROLE_NAME": "tourniquet-member",
            "TOURNIQUET_SNS_TOPIC_ARN": self.topic, "TOURNIQUET_ACCOUNT_ID": ACCOUNT}, **DEBUG, **extra))

    def invoke(self, event, env, args=()):
        # invoke() fails on a standard output that is not one JSON document: the response holds all of it.
        code, response, err = invoke(event, env, args)
        self.output.append(f"$ tourniquet invoke - {' '.join(args)} (exit {code})\n{json.dumps(response)}\n{err}")
        return code, response, err

    def release(self, instance, env):
        code, out, err = run_tourniquet(["release", instance], env)
        self.output.append(f"$ tourniquet release {instance} (exit {code})\n{out}\n{err}")
        return code, out, err

    def secrets(self):
        """What must never be printed: every secret key and token known, and every signature sent."""
        found = set(self.known_secrets)
        signatures = set()
        for entry in self.proxy.log():
            signatures.update(SIGNATURE.findall(entry["authorization"]))
            if entry["security_token"]:
                found.add(entry["security_token"])
            for tag in ("SecretAccessKey", "SessionToken"):
                found.update(re.findall(f"<{tag}>([^<]+)</{tag}>", entry.get("answer") or ""))
        return found, signatures

    def test_no_scenario_prints_a_secret_key_token_or_signature(self):
        own = instance_finding(self.world.instance)
        self.assertEqual(self.invoke(own, self.env(AWS_LAMBDA_LOG_FORMAT="JSON"))[0], 0)
        self.assertEqual(self.invoke(own, self.env(AWS_LAMBDA_LOG_FORMAT="Text"))[0], 0)
        self.assertEqual(self.invoke(own, self.env(), ["--dry-run"])[0], 0)
        self.assertEqual(self.release(self.world.instance, self.env())[0], 0)
        cross = instance_finding(self.member_instance, MEMBER_ACCOUNT)
        # The GuardDuty stand-in cannot know the session Tourniquet assumes in the member account: no confirmation.
        code, response, err = self.invoke(cross, self.env(AWS_LAMBDA_LOG_FORMAT="JSON",
                                                          TOURNIQUET_CONFIRM_FINDINGS="false"))
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")
        # Failures carry the services' error messages: a wrong secret, a principal denied everything.
        self.assertEqual(self.invoke(instance_finding(self.world.instance),
                                     self.env((self.responder[0], "wrong" + self.responder[1][5:])))[0], 1)
        self.known_secrets.add("wrong" + self.responder[1][5:])
        self.assertEqual(self.invoke(instance_finding(self.world.instance), self.env(self.stranger))[0], 1)
        # Retries print what they retry at debug level.
        self.proxy.configure(fault_share=0.3, seed=3)
        self.invoke(instance_finding(self.world.instance), self.env(TOURNIQUET_RETRY_BASE_MS="5"))
        self.proxy.configure(fault_share=0.0)
        self.assertTrue(any("retrying AWS call" in o for o in self.output), "the faulty run retried nothing")

        # The runtime loop, which logs the events it receives and the responses it answers at debug level.
        key, secret = self.responder
        loop_env = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": self.proxy.url,
                    "TOURNIQUET_MEMBER_ROLE_NAME": "tourniquet-member", "TOURNIQUET_SNS_TOPIC_ARN": self.topic,
                    "TOURNIQUET_CONFIRM_FINDINGS": "false"}  # the member account's finding, as above
        with RuntimeApiServer() as api, RuntimeProcess(tourniquet_bin(), api.endpoint, log_level="DEBUG",
                                                       env=loop_env) as process:
            api.enqueue(json.dumps(cross), json.dumps(instance_finding(self.world.instance)))
            posts = api.posts(min_posts=2, timeout=60)
            self.assertEqual([p["kind"] for p in posts], ["response", "response"], posts)
            process.stop()
            self.output += [process.stdout_text(), process.stderr_text()]
            self.output += [json.dumps(p) for p in posts]

        secrets, signatures = self.secrets()
        self.assertTrue(any(len(s) > 100 for s in secrets), "no session token was captured: AssumeRole never ran?")
        self.assertGreater(len(signatures), 50)
        text = "\n".join(self.output)
        self.assertIn('"level":"DEBUG"', text, "the scenarios did not log at debug level")
        for secret in secrets | signatures:
            # The whole value, and its first 16 characters in case something printed a piece of it.
            for piece in {secret, secret[:16]}:
                self.assertNotIn(piece, text, f"a secret ({piece[:4]}…) was printed")
        for header in ("AWS4-HMAC-SHA256", "Signature=", "X-Amz-Security-Token", "SecretAccessKey"):
            self.assertNotIn(header, text)


if __name__ == "__main__":
    unittest.main()
