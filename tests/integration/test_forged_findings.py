"""Findings GuardDuty does not confirm, end to end: the real `tourniquet invoke` against moto (checks on, as a
principal holding the generated policy) and the GuardDuty stand-in, which holds the findings GuardDuty made. A
finding it does not have, or has about another instance, changes nothing and is reported as forged (an ERROR
line, a Forged metric, a notification); an archived one is ignored; an unreachable GuardDuty fails the
invocation so that Lambda retries it."""
import json
import unittest

from moto_support import ACCOUNT, free_port, generated_policy, invoke
from worlds import (MEMBER_ROLE_NAME, CallerWorldTestCase, InstanceWorld, InstanceWorldTestCase, credential_finding,
                    incident_topic, instance_finding)

TOPIC_ENV = {"TOURNIQUET_SNS_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:incidents"}


def log_lines(stderr):
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


class ForgedFindingsTest(InstanceWorldTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME, **TOPIC_ENV)

    def setUp(self):
        with self.moto.fresh_account(self.policy) as account:
            self.world = InstanceWorld(self.moto)
            self.topic, self.queue = incident_topic(self.moto.client("sns"), self.moto.client("sqs"))
        self.responder, self.admin = account
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.sqs = self.moto.client("sqs", *self.admin)

    def invoke(self, event, extra=None, **options):
        env = self.moto.env_for(*self.responder, dict({"TOURNIQUET_SNS_TOPIC_ARN": self.topic,
                                                       "AWS_LAMBDA_LOG_FORMAT": "JSON"}, **(extra or {})))
        return invoke(event, env, **options)

    def interface_groups(self):
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                for n in self.world.describe(self.ec2)["NetworkInterfaces"]}

    def notified(self):
        got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got.get("Messages", [])]

    def assert_forged(self, code, response, err, why):
        self.assertEqual(code, 0, err)
        self.assertEqual(self.interface_groups(), self.world.interfaces, "nothing was changed")
        self.assertEqual(len(response["reports"]), 1, "a forgery is reported once, not once per playbook")
        for report in response["reports"]:
            self.assertEqual(report["status"], "ignored", report)
            self.assertTrue(report["forged"], report)
            self.assertTrue(report["reason"].startswith("not confirmed by GuardDuty: "), report)
            self.assertIn(why, report["reason"])
            self.assertEqual(report.get("actions", []), [], "nothing was done")
        lines = log_lines(err)
        errors = [line for line in lines if line.get("level") == "ERROR"]
        self.assertEqual([e["message"] for e in errors], ["finding not confirmed by GuardDuty"], err)
        metrics = [line for line in lines if "_aws" in line]
        self.assertTrue(metrics and all(m.get("Forged") == 1 for m in metrics), err)
        self.assertTrue(any(m.get("forged") for m in self.notified()), "the forgery is announced")

    def test_a_finding_guardduty_does_not_have_changes_nothing(self):
        event = instance_finding(self.world.instance)
        self.guardduty.add_detector(detector_id=event["detail"]["service"]["detectorId"])  # the account's, empty
        code, response, err = self.invoke(event, store_finding=False)
        self.assert_forged(code, response, err, "GuardDuty has no finding " + event["detail"]["id"])

    def test_a_real_finding_whose_copy_names_another_instance_is_a_forgery(self):
        real = instance_finding("i-0123456789abcdef0")
        self.guardduty.put_finding(real["detail"])
        forged = json.loads(json.dumps(real))
        forged["detail"]["resource"]["instanceDetails"]["instanceId"] = self.world.instance
        code, response, err = self.invoke(forged, store_finding=False)
        self.assert_forged(code, response, err, "i-0123456789abcdef0")

    def test_an_archived_finding_whose_event_says_active_is_ignored(self):
        event = instance_finding(self.world.instance)
        archived = json.loads(json.dumps(event["detail"]))
        archived["service"]["archived"] = True
        self.guardduty.put_finding(archived)
        code, response, err = self.invoke(event, store_finding=False)
        self.assertEqual(code, 0, err)
        for report in response["reports"]:
            self.assertEqual(report["status"], "ignored", report)
            self.assertIn("archived", report["reason"])
            self.assertNotIn("forged", report)
        self.assertEqual(self.interface_groups(), self.world.interfaces)

    def test_an_unreachable_guardduty_fails_the_invocation_and_changes_nothing(self):
        event = instance_finding(self.world.instance)
        self.guardduty.put_finding(event["detail"])
        nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        code, response, err = self.invoke(event, {"AWS_ENDPOINT_URL_GUARDDUTY": nowhere}, store_finding=False)
        self.assertEqual(code, 1, err)
        self.assertIn("not confirmed by GuardDuty", err)
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        reports = [line["report"] for line in log_lines(err) if line.get("message") == "playbook finished"]
        self.assertTrue(reports)
        for report in reports:
            self.assertEqual(report["status"], "failed", report)
            self.assertTrue(report["error"]["retryable"], report)
        # Lambda's retry, with GuardDuty back, contains the instance.
        code, response, err = self.invoke(event, store_finding=False)
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")

    def test_getfindings_goes_out_once_for_both_playbooks_of_a_finding(self):
        event = instance_finding(self.world.instance)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        self.assertEqual({r["playbook"]: r["status"] for r in response["reports"]},
                         {"instance-containment": "contained", "network-block": "blocked"})
        asked = [r for r in self.guardduty.requests() if r["operation"] == "GetFindings"]
        self.assertEqual(len(asked), 1, asked)
        self.assertEqual(asked[0]["accessKeyId"], self.responder[0])

    def test_with_confirmation_turned_off_the_event_is_believed(self):
        event = instance_finding(self.world.instance)
        code, response, err = self.invoke(event, {"TOURNIQUET_CONFIRM_FINDINGS": "false"}, store_finding=False)
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")
        self.assertEqual([r for r in self.guardduty.requests() if r["operation"] == "GetFindings"], [])


class ForgedCredentialFindingsTest(CallerWorldTestCase):
    """The defenders' own key named in a finding GuardDuty never made: it stays active."""

    def key_status(self):
        keys = self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in keys}

    def test_a_forged_finding_about_a_key_leaves_it_active(self):
        event = credential_finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "deploy-bot",
                                   self.bot_keys[0])
        before = self.key_status()
        self.guardduty.add_detector(detector_id=event["detail"]["service"]["detectorId"])
        code, response, err = invoke(event, self.moto.env_for(*self.responder), store_finding=False)
        self.assertEqual(code, 0, err)
        [report] = [r for r in response["reports"] if r["playbook"] == "credential-containment"]
        self.assertEqual(report["status"], "ignored", report)
        self.assertTrue(report["forged"], report)
        self.assertEqual(self.key_status(), before, "the key is untouched")
        self.assertIn("finding not confirmed by GuardDuty", err)


if __name__ == "__main__":
    unittest.main()
