"""Credential containment against moto_server with its signature and IAM checks on.

Tourniquet runs as a "responder" user holding exactly the policy `tourniquet policy` prints. Each test writes
its GuardDuty finding at test time: a sample from events/guardduty with the account, the user or role and the
access key ids that moto created.
"""
import json
import unittest

from moto_support import ACCOUNT
from worlds import CallerWorldTestCase, credential_finding, ec2_role

POLICY_NAME = "tourniquet-revoke-older-sessions"
MALICIOUS_IP_CALLER = "unauthorizedaccess-iamuser-malicious-ip-caller-custom.json"


class CredentialContainment(CallerWorldTestCase):
    def build_world(self, moto):
        for role in ("ci-deploy", "web-server-role"):
            ec2_role(moto.client("iam"), role)

    def setUp(self):
        super().setUp()
        self.first, self.second = self.bot_keys
        self.responder_key = self.responder[0]

    def report(self, response, playbook="credential-containment"):
        for r in response["reports"]:
            if r["playbook"] == playbook:
                return r
        self.fail(f"no {playbook} report in {response}")

    def key_status(self, user="deploy-bot"):
        keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in keys}

    def outcomes(self, report):
        return {a["action"]: a["outcome"] for a in report["actions"]}

    def test_iam_user_key_deactivated_sessions_denied_user_tagged_and_replay_converges(self):
        event = credential_finding(MALICIOUS_IP_CALLER, "deploy-bot", self.first)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "contained", response)
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
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        again = self.report(response)
        self.assertEqual(again["status"], "contained", response)
        self.assertEqual(again["incidentId"], report["incidentId"])
        self.assertEqual(self.outcomes(again)["deactivate-key"], "already")
        self.assertEqual(self.outcomes(again)["tag-user"], "already")
        self.assertEqual(self.outcomes(again)["revoke-user-sessions"], "done")  # refreshed, not added
        self.assertEqual(self.key_status(), {self.first: "Inactive", self.second: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [POLICY_NAME])

    def test_assumed_role_gets_the_deny_on_the_role(self):
        event = credential_finding("pentest-iamuser-kali-linux-assumed-role.json", "ci-deploy", "ASIAQXYZ7EXAMPLESES2")
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "contained", response)
        self.assertEqual(report["target"], "ci-deploy")
        document = self.iam.get_role_policy(RoleName="ci-deploy", PolicyName=POLICY_NAME)["PolicyDocument"]
        self.assertIn("aws:TokenIssueTime", json.dumps(document))
        tags = {t["Key"]: t["Value"] for t in self.iam.list_role_tags(RoleName="ci-deploy")["Tags"]}
        self.assertEqual(tags["tourniquet:incident-id"], report["incidentId"])
        self.assertEqual(self.iam.list_role_policies(RoleName="web-server-role")["PolicyNames"], [])
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})

    def test_instance_credential_exfiltration_denies_the_instance_role(self):
        event = credential_finding("unauthorizedaccess-iamuser-instance-credential-exfiltration-outside-aws.json",
                                   "web-server-role", "ASIAQXYZ7EXAMPLEK3Y1")
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "contained", response)
        self.assertEqual(self.iam.list_role_policies(RoleName="web-server-role")["PolicyNames"], [POLICY_NAME])
        self.assertEqual(self.iam.list_role_policies(RoleName="ci-deploy")["PolicyNames"], [])

    def test_root_is_escalated_and_nothing_changes(self):
        event = credential_finding("policy-iamuser-root-credential-usage.json", "Root", "ASIAQXYZ7EXAMPLEROOT")
        code, response, err = self.invoke(event, {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
        # Escalation is a success for Lambda (a retry could not do more), and loud in the logs.
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "escalate", response)
        self.assertIn("root", report["reason"])
        self.assertNotIn("actions", report)
        logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        loud = [line for line in logs if line.get("level") == "ERROR" and "escalation" in line.get("message", "")]
        self.assertEqual(len(loud), 1, err)
        self.assertIn("root", loud[0]["reason"])
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})

    def test_the_function_never_acts_on_its_own_user(self):
        event = credential_finding(MALICIOUS_IP_CALLER, "responder", self.responder_key)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "ignored", response)
        self.assertIn("Tourniquet runs as", report["reason"])
        self.assertEqual(self.key_status("responder"), {self.responder_key: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="responder")["PolicyNames"], ["responder-policy"])

    def test_exempt_principals_are_left_alone(self):
        event = credential_finding(MALICIOUS_IP_CALLER, "deploy-bot", self.first)
        exempt = {"TOURNIQUET_EXEMPT_PRINCIPALS": f"arn:aws:iam::{ACCOUNT}:user/deploy-bot"}
        code, response, err = self.invoke(event, exempt)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "ignored", response)
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})

    def test_dry_run_changes_nothing(self):
        event = credential_finding(MALICIOUS_IP_CALLER, "deploy-bot", self.first)
        code, response, err = self.invoke(event, {"TOURNIQUET_DRY_RUN": "true"})
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "dry-run", response)
        self.assertEqual(set(self.outcomes(report).values()), {"planned"})
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})
        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [])
        self.assertEqual(self.iam.list_user_tags(UserName="deploy-bot")["Tags"], [])

    def test_a_missing_permission_is_reported_and_retried(self):
        # The responder may read but not deactivate: the report says which call was refused and Lambda retries.
        self.take_away("iam:UpdateAccessKey")
        event = credential_finding(MALICIOUS_IP_CALLER, "deploy-bot", self.first)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 1, err)
        self.assertIn("ContainmentIncomplete", json.dumps(response))
        self.assertIn("AccessDenied", err)
        self.assertEqual(self.key_status(), {self.first: "Active", self.second: "Active"})


if __name__ == "__main__":
    unittest.main()
