"""The local GuardDuty and Security Hub stand-ins (tests/servers/*_standin.py) as subprocesses, for tests that need
GuardDuty findings or Security Hub's BatchUpdateFindings, which moto lacks. Like moto with its checks on, they
verify each request's SigV4 signature with botocore and allow a principal only the actions it was given:

    guardduty = GuardDutyStandIn()                        # in setUpClass; addClassCleanup(guardduty.stop)
    guardduty.allow(responder, policy_actions(policy))    # responder = (key id, secret[, token]), as in moto
    guardduty.put_finding(event["detail"])                # the finding Tourniquet will confirm with GetFindings
    env = moto.env_for(*responder, guardduty.endpoint_env())  # AWS_ENDPOINT_URL_GUARDDUTY=<the stand-in>
    guardduty.requests() -> [{"operation", "accessKeyId", "region", "status", "error"}, ...]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

from moto_support import ACCOUNT, REGION, free_port

SERVERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers")


class StandIn:
    script = ""        # tests/servers/<script>
    service = ""       # boto3's name, and the stand-in's signing name
    endpoint_variable = ""

    def __init__(self):
        self.log = tempfile.TemporaryFile()
        for _ in range(3):  # another process may take the free port before the stand-in binds it
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.process = subprocess.Popen([sys.executable, os.path.join(SERVERS, self.script), "--port",
                                             str(self.port)], stdout=self.log, stderr=self.log)
            if self._wait_until_up():
                return
        self.log.seek(0)
        raise RuntimeError(f"{self.script} did not start: {self.log.read().decode(errors='replace')[-2000:]}")

    def _wait_until_up(self):
        deadline = time.time() + 20
        while time.time() < deadline and self.process.poll() is None:
            try:
                self._call("GET", "/_standin/health")
                return True
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.stop()
        return False

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(request, timeout=10).read())

    def reset(self):
        """Forgets every principal, finding and recorded request."""
        self._call("POST", "/_standin/reset", {})

    def allow(self, principal, actions, account=ACCOUNT):
        """Lets `principal` (key id, secret[, session token]) call the actions among `actions` (IAM actions such
        as "guardduty:GetFindings", patterns allowed) that belong to this service; returns its ARN."""
        key, secret, *token = principal
        mine = [a for a in actions if a == "*" or a.lower().startswith(self.service + ":")]
        return self._call("POST", "/_standin/credentials", {
            "accessKeyId": key, "secretAccessKey": secret, "sessionToken": token[0] if token else None,
            "allow": mine, "accountId": account})["arn"]

    def requests(self):
        return self._call("GET", "/_standin/requests")["requests"]

    def endpoint_env(self):
        """The environment variable that points an SDK (and Tourniquet) at this stand-in for its service alone."""
        return {self.endpoint_variable: self.url}

    def client(self, principal, region=REGION, **config):
        """A boto3 client of this stand-in's service signing as `principal`; `config`: more botocore Config."""
        key, secret, *token = principal
        return boto3.client(self.service, endpoint_url=self.url, region_name=region, aws_access_key_id=key,
                            aws_secret_access_key=secret, aws_session_token=token[0] if token else None,
                            config=Config(retries={"max_attempts": 1}, **config))


class GuardDutyStandIn(StandIn):
    script, service, endpoint_variable = "guardduty_standin.py", "guardduty", "AWS_ENDPOINT_URL_GUARDDUTY"

    def put_finding(self, finding, administrator=None):
        """Stores a finding (an EventBridge event's detail) under the detector its arn names, which must agree
        with its region, accountId and id (see set_finding_arn); returns {"detectorId", "findingId", "arn"}.
        A member account's finding is also seen through the detector of its `administrator` account, if given
        ({"administratorDetectorId"} then)."""
        body = {"finding": finding}
        if administrator:
            body["administratorAccountId"] = administrator
        return self._call("POST", "/_standin/guardduty/findings", body)

    def add_detector(self, region=REGION, account=ACCOUNT, detector_id=None):
        body = {"region": region, "accountId": account}
        if detector_id:
            body["detectorId"] = detector_id
        return self._call("POST", "/_standin/guardduty/detectors", body)["detectorId"]

    def findings(self):
        return self._call("GET", "/_standin/guardduty/findings")["findings"]


class SecurityHubStandIn(StandIn):
    script, service, endpoint_variable = "securityhub_standin.py", "securityhub", "AWS_ENDPOINT_URL_SECURITYHUB"

    def put_findings(self, findings, account=None, region=None):
        """Stores ASFF findings of any product as they are (BatchImportFindings takes only the caller's default
        product), in the hub of `account` (default: each finding's AwsAccountId) in `region` (default: Region)."""
        body = {"findings": findings}
        body.update({k: v for k, v in (("accountId", account), ("region", region)) if v})
        return self._call("POST", "/_standin/securityhub/findings", body)

    def findings(self):
        return self._call("GET", "/_standin/securityhub/findings")["findings"]


def set_finding_arn(detail, detector_id=None):
    """Rewrites a GuardDuty finding's arn from its region, accountId and id, under `detector_id` (default: the
    detector its arn names now), as after worlds.instance_finding changed the id and account; returns the arn."""
    detector_id = detector_id or detail["arn"].split(":detector/")[1].split("/")[0]
    detail["arn"] = (f"arn:{detail.get('partition', 'aws')}:guardduty:{detail['region']}:{detail['accountId']}:"
                     f"detector/{detector_id}/finding/{detail['id']}")
    return detail["arn"]
