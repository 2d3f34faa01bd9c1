"""Incident notifications and metrics end to end: the real `tourniquet invoke` contains an instance in moto
(checks on, as a principal holding the generated policy) with TOURNIQUET_SNS_TOPIC_ARN set; an SQS queue
subscribed to the topic receives what a person would. A notification that fails is reported and logged but
never fails the containment."""
import json
import unittest

from moto_support import ACCOUNT, MotoTestCase, generated_policy, invoke, policy_keeping
from worlds import MEMBER_ROLE_NAME, InstanceWorld, incident_topic, instance_finding

TOPIC_ENV = {"TOURNIQUET_SNS_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:incidents"}


def emf_lines(stderr):
    """The Embedded Metric Format documents among the log lines."""
    docs = []
    for line in stderr.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


class NotificationTest(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # With notifications on: sns:Publish is in the generated policy only then.
        cls.policy = generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME, **TOPIC_ENV)

    def setUp(self):
        moto = self.moto
        with moto.fresh_account(self.policy) as account:
            self.world = InstanceWorld(moto)
            self.topic, self.queue = incident_topic(moto.client("sns"), moto.client("sqs"))
        self.responder = account.responder
        self.sqs = moto.client("sqs", *account.admin)
        self.sns = moto.client("sns", *account.admin)

    def finding(self):
        return instance_finding(self.world.instance)

    def invoke(self, event, principal=None, topic=None):
        return invoke(event, self.moto.env_for(*(principal or self.responder), {
            "TOURNIQUET_SNS_TOPIC_ARN": topic or self.topic, "AWS_LAMBDA_LOG_FORMAT": "JSON"}))

    def received(self):
        messages = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not got.get("Messages"):
                return messages
            for m in got["Messages"]:
                messages.append(json.loads(m["Body"]))  # the SNS envelope: Subject, Message, TopicArn
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])

    def test_a_containment_is_announced_once_with_its_report(self):
        event = self.finding()
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        # The sample calls for two playbooks: the instance is contained and its remote address blocked.
        reports = {r["playbook"]: r for r in response["reports"]}
        self.assertEqual({p: r["status"] for p, r in reports.items()},
                         {"instance-containment": "contained", "network-block": "blocked"})
        report = reports["instance-containment"]
        self.assertEqual([n["outcome"] for n in response["notifications"]], ["done", "done"], response)

        messages = {json.loads(m["Message"])["playbook"]: m for m in self.received()}
        self.assertEqual(sorted(messages), ["instance-containment", "network-block"], "one message per report")
        subject = f"Tourniquet contained {self.world.instance} ({event['detail']['type']}) in {ACCOUNT}"
        message = messages["instance-containment"]
        self.assertEqual(message["Subject"], subject)
        self.assertEqual(message["TopicArn"], self.topic)
        self.assertEqual(json.loads(message["Message"]), report, "the message is the report itself")
        self.assertEqual(messages["network-block"]["Subject"],
                         f"Tourniquet blocked {self.world.instance} ({event['detail']['type']}) in {ACCOUNT}")
        self.assertEqual(json.loads(messages["network-block"]["Message"]), reports["network-block"])

        metrics = emf_lines(err)
        self.assertEqual([m["Playbook"] for m in metrics], ["instance-containment", "network-block"], err)
        self.assertNotIn("ColdStart", metrics[1], "the invocation's figures are counted once, on the first line")
        doc = metrics[0]
        self.assertEqual(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Tourniquet")
        self.assertEqual(doc["Playbook"], "instance-containment")
        self.assertEqual(doc["ActionsDone"], sum(1 for a in report["actions"] if a["outcome"] == "done"))
        self.assertEqual(doc["ActionsFailed"], 0)
        self.assertEqual(doc["Passes"], 1, "AWS answered every call: one pass")
        self.assertEqual(doc["ContainmentMs"], report["timing"]["isolatedAfterMs"])
        self.assertEqual(doc["ColdStart"], 1, "every `tourniquet invoke` is a new process")
        self.assertEqual(doc["NotificationsFailed"], 0)
        self.assertEqual(doc["incidentId"], report["incidentId"])

        # A replay finds everything in place: nothing new to tell anyone.
        code, replay, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        self.assertNotIn("notifications", replay)
        self.assertEqual(self.received(), [])
        self.assertNotIn("ContainmentMs", emf_lines(err)[0], "a replay isolates nothing, so measures nothing")

    def test_a_failed_notification_does_not_fail_the_containment(self):
        self.sns.delete_topic(TopicArn=self.topic)
        code, response, err = self.invoke(self.finding())
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")
        self.assertEqual(response["status"], "done", "the invocation succeeds all the same")
        notice = response["notifications"][0]
        self.assertEqual((notice["action"], notice["outcome"], notice["target"]),
                         ("notify-incident", "failed", self.topic), response)
        self.assertEqual(notice["error"]["code"], "NotFound")
        self.assertEqual({n["outcome"] for n in response["notifications"]}, {"failed"})
        warnings = [json.loads(line) for line in err.splitlines()
                    if line.startswith("{") and "incident notification failed" in line]
        self.assertEqual(len(warnings), len(response["notifications"]), err)
        self.assertEqual(warnings[0]["level"], "WARN")
        self.assertEqual(emf_lines(err)[0]["NotificationsFailed"], 1)

    def test_a_principal_without_sns_publish_still_contains(self):
        without = policy_keeping(self.policy, lambda action: action != "sns:Publish")
        self.moto.open_auth()
        limited = self.moto.user_with_policy("limited", without)
        self.moto.enforce_auth()
        code, response, err = self.invoke(self.finding(), principal=limited)
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")
        self.assertEqual(response["notifications"][0]["outcome"], "failed")
        self.assertIn(response["notifications"][0]["error"]["code"], ("AccessDenied", "AuthorizationError"))
        self.assertEqual(self.received(), [])

    def test_a_topic_elsewhere_is_a_configuration_error(self):
        code, _, err = self.invoke(self.finding(), topic="arn:aws:sns:eu-west-1:123456789012:incidents")
        self.assertEqual(code, 2, err)
        self.assertIn("TOURNIQUET_SNS_TOPIC_ARN", err)


if __name__ == "__main__":
    unittest.main()
