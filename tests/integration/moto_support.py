"""A real moto_server for the integration tests, with its signature and IAM policy checks on.

Setup runs with the checks off (moto counts unauthenticated actions: reset-auth with a large count), then
`enforce_auth()` turns them on, so Tourniquet's calls are signed, matched to a moto user and evaluated
against that user's policy, as AWS would.
"""
import collections
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

import boto3
from botocore.config import Config

REGION = "us-east-1"
ACCOUNT = "123456789012"
MEMBER_ACCOUNT = "210987654321"

# The two principals of a fresh account, each a (key id, secret) pair.
Account = collections.namedtuple("Account", "responder admin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self):
        self.guardduty = None  # a GuardDutyStandIn (see attach_guardduty): where findings are confirmed
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        # Not `moto_server` itself: moto_launcher.py starts it with its signature check fixed for bodiless
        # requests (every Lambda GET and DELETE would answer SignatureDoesNotMatch otherwise; see there).
        launcher = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_launcher.py")
        self.process = subprocess.Popen([sys.executable, launcher, "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a loaded machine can keep moto's shutdown waiting: do not fail for it
            self.process.kill()
            self.process.wait(timeout=10)

    def _post(self, path, body=b"", content_type="text/plain"):
        req = urllib.request.Request(self.url + path, data=body, method="POST",
                                     headers={"Content-Type": content_type})
        return urllib.request.urlopen(req, timeout=10).read()

    def open_auth(self):
        self._post("/moto-api/reset-auth", b"1000000")

    def enforce_auth(self):
        self._post("/moto-api/reset-auth", b"0")

    def reset(self):
        """Clears all state, with the checks off so the next setup can run (the GuardDuty stand-in's too)."""
        self.open_auth()
        self._post("/moto-api/reset")
        if self.guardduty:
            self.guardduty.reset()

    def attach_guardduty(self, standin):
        """Makes `standin` this moto's GuardDuty: every user made here is known there with the GuardDuty actions
        of its policy, and `env_for` points Tourniquet at it, so that `invoke` stores each finding sent and
        Tourniquet confirms it as it would with GuardDuty."""
        self.guardduty = standin

    def client(self, service, key=None, secret=None, token=None):
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=key or "test", aws_secret_access_key=secret or "test",
                            aws_session_token=token,
                            config=Config(retries={"max_attempts": 1}))

    def user_with_policy(self, name, statements):
        """Creates an IAM user whose only permissions are `statements`; returns (key id, secret)."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        if self.guardduty:
            self.guardduty.allow((key["AccessKeyId"], key["SecretAccessKey"]), policy_actions(statements))
        return key["AccessKeyId"], key["SecretAccessKey"]

    def user_with_keys(self, name, count):
        """Creates a user with no policy and `count` access keys; returns the key ids."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        return [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(count)]

    def admin(self):
        """An all-powerful user, to set up and inspect the world while the checks are on."""
        return self.user_with_policy("admin", [{"Effect": "Allow", "Action": "*", "Resource": "*"}])

    @contextlib.contextmanager
    def fresh_account(self, responder_statements, responder="tourniquet"):
        """Empties moto and yields an Account: the responder, a user allowed exactly `responder_statements` (what
        Tourniquet runs as), and an admin. The body sets up the world with the checks off; they go on after it."""
        self.reset()
        account = Account(self.user_with_policy(responder, responder_statements), self.admin())
        yield account
        self.enforce_auth()

    def member_account_role(self, role_name, trusted_arn, actions):
        """A role in the member account that `trusted_arn` may assume, allowed `actions`."""
        sts = self.client("sts")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{MEMBER_ACCOUNT}:role/OrganizationAccountAccessRole",
                                RoleSessionName="setup")["Credentials"]
        iam = self.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
        iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": trusted_arn}, "Action": "sts:AssumeRole"}]}))
        iam.put_role_policy(RoleName=role_name, PolicyName=f"{role_name}-policy", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        return creds  # setup credentials in the member account

    def env_for(self, key, secret, extra=None):
        """The environment Tourniquet runs with against this moto, as the given principal."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "TOURNIQUET_"))}
        env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": REGION,
                    "AWS_ENDPOINT_URL": self.url, "TOURNIQUET_RETRY_BASE_MS": "20"})
        if self.guardduty:
            env.update(self.guardduty.endpoint_env())
        env.update(extra or {})
        return env


def run_tourniquet(args, env, stdin=None, timeout=60):
    """Runs the real executable; returns (exit code, stdout, stderr)."""
    binary = os.environ.get("TOURNIQUET_BIN")
    if not binary:
        raise RuntimeError("TOURNIQUET_BIN is not set: run the integration tests through ctest")
    done = subprocess.run([binary, *args], env=env, input=stdin, capture_output=True, text=True, timeout=timeout)
    # A sanitizer's report fails every test, also one that expects a failing exit (the sanitize and thread
    # stages of scripts/test run these tests on instrumented builds).
    if "Sanitizer" in done.stderr:
        raise AssertionError(f"tourniquet {' '.join(args)}: a sanitizer reported (exit {done.returncode}):\n"
                             f"{done.stderr[-6000:]}")
    return done.returncode, done.stdout, done.stderr


def invoke(event, env, args=(), timeout=60, store_finding=True):
    """Runs `tourniquet invoke -` on `event` (a dict, sent on standard input) with `env` (see `Moto.env_for`) and
    `args` (say ["--dry-run"]); returns (exit code, the response it printed, parsed, or None when it printed
    nothing, stderr). Whatever invoke prints is one JSON document, so anything else fails here.
    A GuardDuty finding is first stored in the GuardDuty stand-in `env` points at (AWS_ENDPOINT_URL_GUARDDUTY), as
    GuardDuty holds every finding it publishes, so that Tourniquet confirms it; store_finding=False sends one
    GuardDuty never made (a forgery)."""
    if store_finding:
        store_guardduty_finding(event, env)
    code, out, err = run_tourniquet(["invoke", "-", *args], env, stdin=json.dumps(event), timeout=timeout)
    try:
        return code, (json.loads(out) if out.strip() else None), err
    except ValueError:  # a crash, say: show what it left
        raise AssertionError(f"tourniquet invoke (exit {code}) printed no JSON response:\n{out[:2000]}\n{err[-3000:]}")


def store_guardduty_finding(event, env):
    """Stores `event`'s finding (when it is a GuardDuty finding) in the stand-in at env's GuardDuty endpoint."""
    url = env.get("AWS_ENDPOINT_URL_GUARDDUTY")
    if not url or not isinstance(event, dict) or event.get("source") != "aws.guardduty":
        return
    request = urllib.request.Request(url + "/_standin/guardduty/findings", method="POST",
                                     data=json.dumps({"finding": event["detail"]}).encode(),
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()


def generated_policy(**settings):
    """The statements `tourniquet policy` prints with these settings (TOURNIQUET_* variables: an option that needs
    more permissions adds them only when it is on): what the responder may do, and no more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOURNIQUET_")}  # only `settings` count
    code, out, err = run_tourniquet(["policy"], dict(env, AWS_REGION=REGION, **settings))
    assert code == 0, err
    return json.loads(out)["Statement"]


def policy_actions(statements):
    """Every action the statements allow, in one list."""
    return [a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]


def policy_keeping(statements, keep):
    """The statements with only the actions for which `keep(action)` is true: a responder short of permissions. A
    statement left with no action is dropped (IAM refuses one)."""
    kept = [dict(s, Action=[a for a in policy_actions([s]) if keep(a)]) for s in statements]
    return [s for s in kept if s["Action"]]


class MotoTestCase(unittest.TestCase):
    """Tests that share one moto_server per class (it takes seconds to start); each test empties it first,
    usually through `self.moto.fresh_account(...)`."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from standin_support import GuardDutyStandIn  # it imports this module
        cls.moto = Moto()
        cls.addClassCleanup(cls.moto.stop)
        cls.guardduty = GuardDutyStandIn()
        cls.addClassCleanup(cls.guardduty.stop)
        cls.moto.attach_guardduty(cls.guardduty)


def build_dir():
    return os.path.dirname(os.environ["TOURNIQUET_BIN"])
