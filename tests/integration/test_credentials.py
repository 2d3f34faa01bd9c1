"""Credential containment against moto_server with its signature and IAM checks on.

Tourniquet runs as a "responder" user whose policy lists exactly the actions the playbook needs. Each test
writes its GuardDuty finding at test time: a sample from events/guardduty with the account, the user or role
and the access key ids that moto created.
"""
import copy
import json
import os
import unittest

from moto_support import ACCOUNT, MotoTestCase

SOURCE = os.environ.get("TQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
GUARDDUTY = os.path.join(SOURCE, "events", "guardduty")
POLICY_NAME = "tourniquet-revoke-older-sessions"

RESPONDER_ACTIONS = ["iam:GetUser", "iam:GetRole", "iam:ListAccessKeys",
                     "iam:UpdateAccessKey", "iam:PutUserPolicy", "iam:PutRolePolicy", "iam:TagUser", "iam:TagRole"]
RESPONDER_POLICY = [{"Effect": "Allow", "Action": RESPONDER_ACTIONS, "Resource": "*"}]


def load_sample(name):
    with open(os.path.join(GUARDDUTY, name)) as f:
        return json.load(f)


def finding(sample, user_name, key_id, user_type=None):
    """The sample with moto's account, principal and key; a fresh finding id so incidents do not collide."""
    event = copy.deepcopy(load_sample(sample))
    event["account"] = ACCOUNT
    detail = event["detail"]
    detail["accountId"] = ACCOUNT
    details = detail["resource"]["accessKeyDetails"]
    details["userName"] = user_name
    details["accessKeyId"] = key_id
    if user_type:
        details["userType"] = user_type
    return event


class CredentialContainment(MotoTestCase):
    def setUp(self):
        moto = self.moto
        with moto.fresh_account(RESPONDER_POLICY, responder="responder") as account:
            self.first, self.second = moto.user_with_keys("deploy-bot", 2)
            setup = moto.client("iam")
            trust = json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            for role in ("ci-deploy", "web-server-role"):
                setup.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
        self.responder_key, self.responder_secret = account.responder
        self.iam = moto.client("iam", *account.admin)

    def invoke(self, event, extra=None):
        code, out, err = self.moto.invoke_as((self.responder_key, self.responder_secret), event, extra)
        self.assertNotIn(self.responder_secret, out + err)
        return code, out, err

    def report(self, out, playbook="credential-containment"):
        response = json.loads(out)
        for r in response["reports"]:
            if r["playbook"] == playbook:
                return r
        self.fail(f"no {playbook} report in {out}")

    def key_status(self, user="deploy-bot"):
        keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in keys}

    def outcomes(self, report):
        return {a["action"]: a["outcome"] for a in report["actions"]}

    def test_iam_user_key_deactivated_sessions_denied_user_tagged_and_replay_converges(self):
        event = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "deploy-bot", self.first)
        code, out, err = self.invoke(event)
        self.assertEqual(code, 0, out + err)
        report = self.report(out)
        self.assertEqual(report["status"], "contained", out)
        self.assertEqual(self.outcomes(report)["deactivate-key"], "done")
        self.assertEqual(self.key_status(), {self.first: "Inactive", self.second: "Active"})

        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [POLICY_NAME])
        document = self.iam.get_user_policy(UserName="deploy-bot", PolicyName=POLICY_NAME)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        statement = document["Statement"][0]
        self.assertEqual((statement["Effect"], statement["Action"], statement["Resource"]), ("Deny", "*", "*"))
        self.assertIn("aws:TokenIssueTime", statement["Condition"]["DateLessThan"])

        tags = {t["Key"]: t["Value"] for t in self.iam.list_user_tags(UserName="deploy-bot")["Tags"]}
        self.assertEqual(tags["tourniquet:incident-id"], report["incidentId"])
        self.assertEqual(tags["tourniquet:access-key"], self.first)

        # A replay (Lambda and EventBridge deliver at least once): nothing more changes.
        code, out, err = self.invoke(event)
        self.assertEqual(code, 0, out + err)
        again = self.report(out)
        self.assertEqual(again["status"], "contained", out)
        self.assertEqual(again["incidentId"], report["incidentId"])
        self.assertEqual(self.outcomes(again)["deactivate-key"], "already")
        self.assertEqual(self.outcomes(again)["tag-user"], "already")
        self.assertEqual(self.outcomes(again)["revoke-user-sessions"], "done")  # refreshed, not added
        self.assertEqual(self.key_status(), {self.first: "Inactive", self.second: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [POLICY_NAME])

    def test_assumed_role_gets_the_deny_on_the_role(self):
        event = finding("pentest-iamuser-kali-linux-assumed-role.json", "ci-deploy", "ASIAQXYZ7EXAMPLESES2")
        code, out, err = self.invoke(event)
        self.assertEqual(code, 0, out + err)
        report = self.report(out)
        self.assertEqual(report["status"], "contained", out)
        self.assertEqual(report["target"], "ci-deploy")
        document = self.iam.get_role_policy(RoleName="ci-deploy", PolicyName=POLICY_NAME)["PolicyDocument"]
        self.assertIn("aws:TokenIssueTime", json.dumps(document))
        tags = {t["Key"]: t["Value"] for t in self.iam.list_role_tags(RoleName="ci-deploy")["Tags"]}
        self.assertEqual(tags["tourniquet:incident-id"], report["incidentId"])
        self.assertEqual(self.iam.list_role_policies(RoleName="web-server-role")["PolicyNames"], [])
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})

    def test_instance_credential_exfiltration_denies_the_instance_role(self):
        event = finding("unauthorizedaccess-iamuser-instance-credential-exfiltration-outside-aws.json",
                        "web-server-role", "ASIAQXYZ7EXAMPLEK3Y1")
        code, out, err = self.invoke(event)
        self.assertEqual(code, 0, out + err)
        report = self.report(out)
        self.assertEqual(report["status"], "contained", out)
        self.assertEqual(self.iam.list_role_policies(RoleName="web-server-role")["PolicyNames"], [POLICY_NAME])
        self.assertEqual(self.iam.list_role_policies(RoleName="ci-deploy")["PolicyNames"], [])

    def test_root_is_escalated_and_nothing_changes(self):
        event = finding("policy-iamuser-root-credential-usage.json", "Root", "ASIAQXYZ7EXAMPLEROOT")
        code, out, err = self.invoke(event, {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        # Escalation is a success for Lambda (a retry could not do more), and loud in the logs.
        self.assertEqual(code, 0, out + err)
        report = self.report(out)
        self.assertEqual(report["status"], "escalate", out)
        self.assertIn("root", report["reason"])
        self.assertNotIn("actions", report)
        logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        loud = [line for line in logs if line.get("level") == "ERROR" and "escalation" in line.get("message", "")]
        self.assertEqual(len(loud), 1, err)
        self.assertIn("root", loud[0]["reason"])
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})

    def test_the_function_never_acts_on_its_own_user(self):
        event = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "responder", self.responder_key)
        code, out, err = self.invoke(event)
        self.assertEqual(code, 0, out + err)
        report = self.report(out)
        self.assertEqual(report["status"], "ignored", out)
        self.assertIn("Tourniquet runs as", report["reason"])
        self.assertEqual(self.key_status("responder"), {self.responder_key: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="responder")["PolicyNames"], ["responder-policy"])

    def test_exempt_principals_are_left_alone(self):
        event = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "deploy-bot", self.first)
        code, out, err = self.invoke(event, {"TOURNIQUET_EXEMPT_PRINCIPALS": f"arn:aws:iam::{ACCOUNT}:user/deploy-bot"})
        self.assertEqual(code, 0, out + err)
        self.assertEqual(self.report(out)["status"], "ignored", out)
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})

    def test_dry_run_changes_nothing(self):
        event = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "deploy-bot", self.first)
        code, out, err = self.invoke(event, {"TOURNIQUET_DRY_RUN": "true"})
        self.assertEqual(code, 0, out + err)
        report = self.report(out)
        self.assertEqual(report["status"], "dry-run", out)
        self.assertEqual(set(self.outcomes(report).values()), {"planned"})
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [])
        self.assertEqual(self.iam.list_user_tags(UserName="deploy-bot")["Tags"], [])

    def test_a_missing_permission_is_reported_and_retried(self):
        # The responder may read but not deactivate: the report says which call was refused and Lambda retries.
        self.moto.open_auth()
        self.moto.client("iam").put_user_policy(
            UserName="responder", PolicyName="responder-policy", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
                    a for a in RESPONDER_ACTIONS if a != "iam:UpdateAccessKey"]}]}))
        self.moto.enforce_auth()
        event = finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "deploy-bot", self.first)
        code, out, err = self.invoke(event)
        self.assertEqual(code, 1, out + err)
        self.assertIn("ContainmentIncomplete", out)
        self.assertIn("AccessDenied", err)
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})


if __name__ == "__main__":
    unittest.main()
