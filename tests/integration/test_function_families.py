"""Function containment and escalation against moto with its signature and IAM checks on (moto_launcher.py:
Lambda's bodiless GETs and ARNs in paths are signed as AWS does), Tourniquet running as a user holding exactly
`tourniquet policy`: a function's concurrency goes to 0 and back on release (to "no limit" when it had none),
its role's older sessions are denied when no other function uses it and not when one does; replays, dry runs
and an exempt tag change nothing; an ECS finding escalates with its task ARN and contains its task role.
"""
import json
import unittest

from moto_support import ACCOUNT, run_tourniquet
from worlds import (CallerWorldTestCase, acl_of, function_finding, guardduty_finding, instance_in_subnet,
                    lambda_function, lambda_role)

POLICY_NAME = "tourniquet-revoke-older-sessions"


class FunctionFamilies(CallerWorldTestCase):
    def build_world(self, moto):
        iam, lam = moto.client("iam"), moto.client("lambda")
        self.alone_role = lambda_role(iam, "resizer-role")
        self.shared_role = lambda_role(iam, "shared-role")
        lambda_function(lam, "resizer", self.alone_role, reserved=5)
        lambda_function(lam, "unlimited", lambda_role(iam, "unlimited-role"))
        lambda_function(lam, "reports", self.shared_role)
        lambda_function(lam, "exports", self.shared_role)
        lambda_function(lam, "vendor", lambda_role(iam, "vendor-role"), tags={"tourniquet:exempt": "true"})
        lambda_role(iam, "checkout-task-role")

    def setUp(self):
        super().setUp()
        self.lam = self.moto.client("lambda", *self.admin)

    def report(self, response, playbook):
        for r in response["reports"]:
            if r["playbook"] == playbook:
                return r
        self.fail(f"no {playbook} report in {response}")

    def concurrency(self, name):
        return self.lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")

    def tags(self, name):
        return self.lam.get_function(FunctionName=name).get("Tags", {})

    def role_policies(self, role):
        return self.iam.list_role_policies(RoleName=role)["PolicyNames"]

    def contain(self, event, extra=None):
        code, response, err = self.invoke(event, extra)
        self.assertEqual(code, 0, err)
        return response

    def test_a_function_is_stopped_recorded_its_role_denied_and_released_back_to_its_concurrency(self):
        event = function_finding("resizer", self.alone_role)
        response = self.contain(event)
        report = self.report(response, "function-containment")
        self.assertEqual(report["status"], "contained", response)
        self.assertEqual(self.concurrency("resizer"), 0)
        tags = self.tags("resizer")
        self.assertEqual(tags["tourniquet:prior-concurrency"], "5")
        self.assertEqual(tags["tourniquet:incident-id"], report["incidentId"])
        self.assertEqual(tags["tourniquet:status"], "contained")
        self.assertEqual(self.role_policies("resizer-role"), [POLICY_NAME])
        document = self.iam.get_role_policy(RoleName="resizer-role", PolicyName=POLICY_NAME)["PolicyDocument"]
        self.assertIn("aws:TokenIssueTime", json.dumps(document))
        self.assertEqual(report["details"]["role"]["otherFunctions"], 0)
        # The first change within two round trips of the event (reads and GetFindings in one, then the stop).
        self.assertLessEqual(report["details"]["stoppedAfterRoundTrips"], 2, report)

        # A replay changes nothing on the function.
        again = self.report(self.contain(event), "function-containment")
        self.assertEqual(again["status"], "contained", again)
        done = [a for a in again["actions"] if a["outcome"] == "done" and a["target"].startswith("arn:aws:lambda")]
        self.assertEqual(done, [], again)
        self.assertEqual(self.tags("resizer"), tags)
        self.assertEqual(self.concurrency("resizer"), 0)

        # Release: the recorded 5 comes back, and who released is on record.
        code, out, err = run_tourniquet(["release", "arn:aws:lambda:us-east-1:%s:function:resizer" % ACCOUNT],
                                        self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, out + err)
        self.assertEqual(self.concurrency("resizer"), 5)
        tags = self.tags("resizer")
        self.assertEqual(tags["tourniquet:status"], "released")
        self.assertTrue(tags["tourniquet:released-by"].endswith(":user/responder"), tags)

        # The same finding delivered again after the release: the person's decision stands.
        redelivered = self.report(self.contain(event), "function-containment")
        self.assertEqual(redelivered["status"], "ignored", redelivered)
        self.assertEqual(self.concurrency("resizer"), 5)

    def test_the_server_of_a_function_in_a_vpc_is_denied_in_its_subnets_acl(self):
        self.moto.open_auth()
        ec2 = self.moto.client("ec2")
        _, subnet, _ = instance_in_subnet(ec2, "10.3.0.0/16", "10.3.1.0/24")
        role = lambda_role(self.moto.client("iam"), "webhook-role")
        lambda_function(self.moto.client("lambda"), "webhook", role, subnets=[subnet])
        acl = acl_of(ec2, subnet)
        self.moto.enforce_auth()
        event = function_finding("webhook", role, sample="backdoor-lambda-cc-activity-vpc.json", subnets=[subnet])
        response = self.contain(event)
        self.assertEqual(self.report(response, "function-containment")["status"], "contained", response)
        self.assertEqual(self.report(response, "network-block")["status"], "blocked", response)
        self.assertEqual(self.concurrency("webhook"), 0)
        entries = self.moto.client("ec2", *self.admin).describe_network_acls(NetworkAclIds=[acl])[
            "NetworkAcls"][0]["Entries"]
        denied = {(e["Egress"], e.get("CidrBlock")) for e in entries if e["RuleAction"] == "deny"}
        self.assertIn((False, "185.220.101.47/32"), denied)
        self.assertIn((True, "185.220.101.47/32"), denied)

    def test_a_function_with_no_limit_goes_back_to_no_limit(self):
        self.contain(function_finding("unlimited", "arn:aws:iam::%s:role/unlimited-role" % ACCOUNT))
        self.assertEqual(self.concurrency("unlimited"), 0)
        self.assertEqual(self.tags("unlimited")["tourniquet:prior-concurrency"], "none")
        code, out, err = run_tourniquet(["release", "unlimited"], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, out + err)
        self.assertIsNone(self.concurrency("unlimited"))

    def test_a_shared_role_is_not_denied_and_the_report_escalates_saying_how_many_share_it(self):
        response = self.contain(function_finding("reports", self.shared_role))
        report = self.report(response, "function-containment")
        self.assertEqual(report["status"], "escalate", response)
        self.assertEqual(self.concurrency("reports"), 0)
        self.assertEqual(report["details"]["role"]["otherFunctions"], 1)
        self.assertEqual(report["details"]["role"]["sharedWith"], ["exports"])
        self.assertIn("TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE", report["reason"])
        self.assertEqual(self.role_policies("shared-role"), [])
        self.assertIsNone(self.concurrency("exports"), "the other function is left alone")
        # With the option, the role is denied anyway.
        self.contain(function_finding("exports", self.shared_role), {"TOURNIQUET_REVOKE_SHARED_FUNCTION_ROLE": "true"})
        self.assertEqual(self.role_policies("shared-role"), [POLICY_NAME])

    def test_a_dry_run_changes_nothing(self):
        code, response, err = self.invoke(function_finding("resizer", self.alone_role), {"TOURNIQUET_DRY_RUN": "true"})
        self.assertEqual(code, 0, err)
        report = self.report(response, "function-containment")
        self.assertEqual(report["status"], "dry-run", response)
        self.assertIn("planned", [a["outcome"] for a in report["actions"]])
        self.assertEqual(self.concurrency("resizer"), 5)
        self.assertNotIn("tourniquet:incident-id", self.tags("resizer"))
        self.assertEqual(self.role_policies("resizer-role"), [])

    def test_a_function_exempt_as_the_finding_saw_it_is_left_alone(self):
        event = function_finding("vendor", "arn:aws:iam::%s:role/vendor-role" % ACCOUNT,
                                 tags={"tourniquet:exempt": "true"})
        response = self.contain(event, {"TOURNIQUET_EXEMPT_TAG": "tourniquet:exempt=true"})
        report = self.report(response, "function-containment")
        self.assertEqual(report["status"], "ignored", response)
        self.assertIn("exempt", report["reason"])
        self.assertIsNone(self.concurrency("vendor"))
        self.assertNotIn("tourniquet:incident-id", self.tags("vendor"))

    def test_an_ecs_finding_escalates_with_its_task_and_contains_its_task_role(self):
        event = guardduty_finding("execution-runtime-reverse-shell-ecs-task.json")
        response = self.contain(event)
        escalation = self.report(response, "escalation")
        self.assertEqual(escalation["status"], "escalate", response)
        task = "arn:aws:ecs:us-east-1:123456789012:task/shop-prod/3f2a1b0c9d8e4f7a6b5c4d3e2f1a0b9c"
        self.assertEqual(escalation["target"], task)
        self.assertIn("aws ecs stop-task --cluster arn:aws:ecs:us-east-1:123456789012:cluster/shop-prod --task " + task,
                      escalation["reason"])
        role = self.report(response, "credential-containment")
        self.assertEqual(role["status"], "contained", response)
        self.assertEqual(self.role_policies("checkout-task-role"), [POLICY_NAME])


if __name__ == "__main__":
    unittest.main()
