"""Exposure fixes against moto_server with its signature and IAM checks on.

Tourniquet runs as a "responder" user holding exactly the policy `tourniquet policy` prints. The groups, rules,
trail and users are made in moto first; each event is a sample from events/cloudtrail rewritten at test time
with their real ids, alone or in a CloudWatch Logs batch of records naming the real groups.
"""
import base64
import copy
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

from moto_support import ACCOUNT, REGION
from worlds import CallerWorldTestCase, cloudtrail_event, cloudwatch_logs_event, open_group, trail

POLICY_NAME = "tourniquet-revoke-older-sessions"


def ingress_event(group_id, key_id, rule_id=None, port=22, cidr="0.0.0.0/0"):
    """An AuthorizeSecurityGroupIngress event: the newer shape (with the rule id) when rule_id is given."""
    event = cloudtrail_event("authorize-sg-ingress-ssh-world.json" if rule_id
                             else "authorize-sg-ingress-ssh-world-legacy.json", "deploy-bot", key_id)
    detail = event["detail"]
    permission = detail["requestParameters"]["ipPermissions"]["items"][0]
    detail["requestParameters"]["groupId"] = group_id
    permission["fromPort"] = permission["toPort"] = port
    if ":" in cidr:
        permission["ipRanges"] = {}
        permission["ipv6Ranges"] = {"items": [{"cidrIpv6": cidr}]}
    else:
        permission["ipRanges"] = {"items": [{"cidrIp": cidr}]}
    if rule_id:
        item = detail["responseElements"]["securityGroupRuleSet"]["items"][0]
        item.update({"groupId": group_id, "securityGroupRuleId": rule_id, "fromPort": port, "toPort": port})
        item.pop("cidrIpv4", None)
        item["cidrIpv6" if ":" in cidr else "cidrIpv4"] = cidr
    return event


class ExposureFixes(CallerWorldTestCase):
    def build_world(self, moto):
        ec2 = moto.client("ec2")
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        self.web = open_group(ec2, vpc, "web", [22, 443])
        self.rdp = ec2.create_security_group(GroupName="rdp", Description="rdp", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=self.rdp, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
            {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
        ct = moto.client("cloudtrail")
        trail(moto.client("s3"), ct, "audit", bucket="audit-logs")
        ct.start_logging(Name="audit")
        ct.stop_logging(Name="audit")

    def setUp(self):
        super().setUp()
        self.bot_key, self.bot_other_key = self.bot_keys
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.cloudtrail = self.moto.client("cloudtrail", *self.admin)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    # --- helpers ---

    def rules(self, group_id):
        rules = self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroupRules"]
        return [r for r in rules if not r["IsEgress"]]

    def rule_id(self, group_id, port, cidr):
        for r in self.rules(group_id):
            if r.get("FromPort") == port and cidr in (r.get("CidrIpv4"), r.get("CidrIpv6")):
                return r["SecurityGroupRuleId"]
        self.fail(f"no rule for {port} from {cidr} in {group_id}")

    def open_ports(self, group_id):
        return sorted((r["FromPort"], r.get("CidrIpv4") or r.get("CidrIpv6")) for r in self.rules(group_id))

    def tags(self, group_id):
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return {t["Key"]: t["Value"] for t in group.get("Tags", [])}

    def reports(self, response, playbook):
        return [r for r in response["reports"] if r["playbook"] == playbook]

    def key_status(self):
        return {k["AccessKeyId"]: k["Status"]
                for k in self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]}

    # --- ingress ---

    def test_ssh_to_the_world_is_revoked_by_rule_id_and_443_stays(self):
        event = ingress_event(self.web, self.bot_key, rule_id=self.rule_id(self.web, 22, "0.0.0.0/0"))
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        [report] = self.reports(response, "exposure-fix")
        self.assertEqual(report["status"], "contained", response)
        self.assertEqual(report["target"], self.web)
        self.assertEqual(self.open_ports(self.web), [(443, "0.0.0.0/0")])
        self.assertEqual(self.tags(self.web)["tourniquet:incident-id"], report["incidentId"])
        self.assertEqual(self.key_status()[self.bot_key], "Active")  # opening a port is not a stolen key

        code, response, err = self.invoke(event)  # replay
        self.assertEqual(code, 0, err)
        [again] = self.reports(response, "exposure-fix")
        self.assertEqual(again["status"], "contained", response)
        self.assertEqual([a["outcome"] for a in again["actions"]], ["already"])
        self.assertEqual(self.open_ports(self.web), [(443, "0.0.0.0/0")])

    def test_older_event_shape_is_revoked_by_ip_permissions(self):
        code, response, err = self.invoke(ingress_event(self.web, self.bot_key))
        self.assertEqual(code, 0, err)
        self.assertEqual(self.reports(response, "exposure-fix")[0]["status"], "contained", response)
        self.assertEqual(self.open_ports(self.web), [(443, "0.0.0.0/0")])

    def test_https_to_the_world_is_left_alone(self):
        event = ingress_event(self.web, self.bot_key, rule_id=self.rule_id(self.web, 443, "0.0.0.0/0"), port=443)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.reports(response, "exposure-fix")[0]["status"], "ignored", response)
        self.assertEqual(self.open_ports(self.web), [(22, "0.0.0.0/0"), (443, "0.0.0.0/0")])

    def test_a_failed_call_changed_nothing_and_is_ignored(self):
        event = ingress_event(self.web, self.bot_key)
        event["detail"]["errorCode"] = "Client.UnauthorizedOperation"
        event["detail"]["errorMessage"] = "You are not authorized to perform this operation."
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.reports(response, "exposure-fix")[0]
        self.assertEqual(report["status"], "ignored", response)
        self.assertIn("Client.UnauthorizedOperation", report["reason"])
        self.assertEqual(self.open_ports(self.web), [(22, "0.0.0.0/0"), (443, "0.0.0.0/0")])

    def test_dry_run_changes_nothing(self):
        event = ingress_event(self.web, self.bot_key, rule_id=self.rule_id(self.web, 22, "0.0.0.0/0"))
        code, response, err = self.invoke(event, {"TOURNIQUET_DRY_RUN": "true"})
        self.assertEqual(code, 0, err)
        report = self.reports(response, "exposure-fix")[0]
        self.assertEqual(report["status"], "dry-run", response)
        self.assertEqual({a["outcome"] for a in report["actions"]}, {"planned"})
        self.assertIn("DryRun", report["actions"][0]["detail"])
        self.assertEqual(self.open_ports(self.web), [(22, "0.0.0.0/0"), (443, "0.0.0.0/0")])
        self.assertNotIn("tourniquet:incident-id", self.tags(self.web))

    # --- CloudWatch Logs batches ---

    def test_a_cloudwatch_logs_batch_handles_every_record(self):
        ssh = ingress_event(self.web, self.bot_key)["detail"]
        rdp = ingress_event(self.rdp, self.bot_key, rule_id=self.rule_id(self.rdp, 3389, "::/0"), port=3389,
                            cidr="::/0")["detail"]
        failed = ingress_event(self.web, self.bot_key, port=443)["detail"]
        failed["errorCode"] = "InvalidPermission.Duplicate"
        unrelated = copy.deepcopy(ssh)
        unrelated.update({"eventName": "DescribeInstances", "requestParameters": {}, "responseElements": None})
        code, response, err = self.invoke(cloudwatch_logs_event([ssh, unrelated, rdp, failed]))
        self.assertEqual(code, 0, err)
        reports = self.reports(response, "exposure-fix")
        statuses = sorted(r["status"] for r in reports)
        self.assertEqual(statuses, ["contained", "contained", "ignored"], response)
        ignored = [r for r in reports if r["status"] == "ignored"][0]
        self.assertIn("DescribeInstances", ignored["reason"])
        self.assertIn("InvalidPermission.Duplicate", ignored["reason"])
        self.assertEqual(self.open_ports(self.web), [(443, "0.0.0.0/0")])
        self.assertEqual(self.open_ports(self.rdp), [(3389, "10.0.0.0/8")])

    def test_broken_payloads_say_which_layer_failed(self):
        not_gzip = base64.b64encode(b"plain text, not gzip").decode()
        not_json = base64.b64encode(gzip.compress(b"{not json")).decode()
        for data, code_name in (("%%% not base64 %%%", "NotBase64"), (not_gzip, "NotGzip"), (not_json, "NotJson")):
            with self.subTest(code_name):
                code, response, err = self.invoke({"awslogs": {"data": data}})
                self.assertEqual(code, 2, err)
                self.assertIn(code_name, json.dumps(response))
                self.assertIn("InvalidEvent", response["errorType"])

    # --- trails ---

    def stop_logging_event(self, name):
        event = cloudtrail_event("stop-logging.json", "deploy-bot", self.bot_key)
        event["detail"]["requestParameters"]["name"] = name
        return event

    def test_stop_logging_restarts_the_trail_and_contains_the_caller(self):
        self.assertFalse(self.cloudtrail.get_trail_status(Name="audit")["IsLogging"])
        event = self.stop_logging_event(f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/audit")
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        [trail] = self.reports(response, "exposure-fix")
        [caller] = self.reports(response, "credential-containment")
        self.assertEqual(trail["status"], "contained", response)
        self.assertEqual(trail["target"], "audit")
        self.assertEqual(caller["status"], "contained", response)
        self.assertTrue(self.cloudtrail.get_trail_status(Name="audit")["IsLogging"])
        self.assertEqual(self.key_status(), {self.bot_key: "Inactive", self.bot_other_key: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [POLICY_NAME])

        code, response, err = self.invoke(event)  # replay
        self.assertEqual(code, 0, err)
        [trail] = self.reports(response, "exposure-fix")
        self.assertEqual([a["outcome"] for a in trail["actions"]], ["already"])

    def test_a_refused_restart_is_reported_and_retried(self):
        self.take_away("cloudtrail:StartLogging")
        code, response, err = self.invoke(self.stop_logging_event("audit"), {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        self.assertEqual(code, 1, err)  # Lambda retries; a replay converges
        self.assertIn("exposure-fix audit: incomplete", response["errorMessage"])
        logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        trail = [line["report"] for line in logs  # nested in the JSON line, as it was written
                 if line.get("message") == "playbook finished" and line["report"]["playbook"] == "exposure-fix"][0]
        self.assertEqual(trail["actions"][0]["error"]["code"], "AccessDenied")
        self.assertEqual(trail["actions"][0]["error"]["where"], "cloudtrail:StartLogging")
        self.assertFalse(self.cloudtrail.get_trail_status(Name="audit")["IsLogging"])
        self.assertEqual(self.key_status()[self.bot_key], "Inactive")  # the caller is contained all the same

    def test_cloudtrail_calls_are_retried_by_the_same_rules(self):
        # CloudTrail goes to the fault server (throttled once, then a 503), everything else to moto.
        servers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "servers")
        port_file = os.path.join(self.tmp.name, "fault-port")
        fault = subprocess.Popen([sys.executable, os.path.join(servers, "fault_server.py"), port_file])
        try:
            for _ in range(100):
                if os.path.exists(port_file) and open(port_file).read():
                    break
                time.sleep(0.05)
            url = f"http://127.0.0.1:{open(port_file).read()}"
            script = {"script": [
                {"status": 400, "body": json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})},
                {"status": 200, "body": json.dumps({"IsLogging": False})},
                {"status": 503, "body": ""},
                {"status": 200, "body": "{}"}],
                "default": {"status": 500, "body": json.dumps({"__type": "InternalFailure"})}}
            urllib.request.urlopen(urllib.request.Request(url + "/_script", data=json.dumps(script).encode(),
                                                          method="POST"), timeout=5).read()
            code, response, err = self.invoke(self.stop_logging_event("audit"), {"AWS_ENDPOINT_URL_CLOUDTRAIL": url})
            self.assertEqual(code, 0, err)
            [trail] = self.reports(response, "exposure-fix")
            self.assertEqual([a["outcome"] for a in trail["actions"]], ["done"], response)
            requests = json.loads(urllib.request.urlopen(url + "/_log", timeout=5).read())
            self.assertEqual(len(requests), 4, requests)
        finally:
            fault.terminate()
            fault.wait()

    def test_trail_admins_may_stop_logging(self):
        code, response, err = self.invoke(self.stop_logging_event("audit"), {"TOURNIQUET_TRAIL_ADMINS": "deploy-bot"})
        self.assertEqual(code, 0, err)
        self.assertEqual(response["status"], "ignored", response)
        self.assertFalse(self.cloudtrail.get_trail_status(Name="audit")["IsLogging"])
        self.assertEqual(self.key_status()[self.bot_key], "Active")

    def test_a_deleted_trail_is_escalated_and_the_caller_contained(self):
        event = cloudtrail_event("delete-trail.json", "deploy-bot", self.bot_key)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        [trail] = self.reports(response, "exposure-fix")
        self.assertEqual(trail["status"], "escalate", response)
        self.assertIn("create it again", trail["reason"])
        self.assertEqual(self.key_status()[self.bot_key], "Inactive")

    def test_dry_run_lists_the_restart_and_changes_nothing(self):
        code, response, err = self.invoke(self.stop_logging_event("audit"), {"TOURNIQUET_DRY_RUN": "true"})
        self.assertEqual(code, 0, err)
        self.assertEqual({r["status"] for r in response["reports"]}, {"dry-run"}, response)
        self.assertFalse(self.cloudtrail.get_trail_status(Name="audit")["IsLogging"])
        self.assertEqual(self.key_status()[self.bot_key], "Active")


if __name__ == "__main__":
    unittest.main()
