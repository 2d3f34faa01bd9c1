"""A record that always fits: instances tagged the way enterprises tag them (EC2 allows 50 tags per resource) are
contained, the invocation succeeds with status `escalate` saying where the record is, and `tourniquet release`
finds it there (on the interfaces, on the instance, or in the tags of the format before the record). The real
`tourniquet` against moto with its checks on (moto enforces the tag limit), as a principal holding exactly the
generated policy."""
import json
import unittest

from moto_support import ACCOUNT, MotoTestCase, generated_policy, invoke, run_tourniquet
from worlds import MEMBER_ROLE_NAME, InstanceWorld, incident_topic, instance_finding, instance_on_interface

TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:incidents"


class TaggedWorld(InstanceWorld):
    """An instance on two interfaces with the groups of InstanceWorld, in no Auto Scaling group: moto counts the
    `aws:autoscaling:groupName` tag it adds against the limit of 50 (EC2 does not), which would leave no instance
    that can hold 50 tags of its owner's."""

    def __init__(self, moto):
        ec2 = moto.client("ec2")
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone="us-east-1a")[
            "Subnet"]["SubnetId"] for i in (1, 2)]
        web = ec2.create_security_group(GroupName="web", Description="web", VpcId=self.vpc)["GroupId"]
        ssh = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=self.vpc)["GroupId"]
        self.instance, _ = instance_on_interface(ec2, subnets[0], [web, ssh], InstanceType="t3.micro")
        second = ec2.create_network_interface(SubnetId=subnets[1], Groups=[web])["NetworkInterface"]
        ec2.attach_network_interface(NetworkInterfaceId=second["NetworkInterfaceId"], InstanceId=self.instance,
                                     DeviceIndex=1)
        self.interfaces = {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                           for n in self.describe(ec2)["NetworkInterfaces"]}


class RecordFitsTest(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME, TOURNIQUET_SNS_TOPIC_ARN=TOPIC)

    def build(self, tags, world=TaggedWorld):
        """A fresh `world` whose instance carries `tags` tags of its owner's, as a tagging policy puts them."""
        with self.moto.fresh_account(self.policy) as account:
            self.world = world(self.moto)
            self.moto.client("ec2").create_tags(Resources=[self.world.instance], Tags=[
                {"Key": f"cost-centre-{i}", "Value": "x"} for i in range(tags)])
            self.topic, self.queue = incident_topic(self.moto.client("sns"), self.moto.client("sqs"))
        self.responder, self.admin = account
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.sqs = self.moto.client("sqs", *self.admin)

    def invoke(self, event):
        return invoke(event, self.moto.env_for(*self.responder, {"TOURNIQUET_SNS_TOPIC_ARN": self.topic}))

    def release(self):
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        return json.loads(out)

    def contain(self, event=None):
        code, response, err = self.invoke(event or instance_finding(self.world.instance))
        self.assertEqual(code, 0, err)  # a tag limit is no failure: Lambda must not retry in vain
        return next(r for r in response["reports"] if r["playbook"] == "instance-containment")

    def instance_tags(self):
        return {t["Key"]: t["Value"] for t in self.world.describe(self.ec2).get("Tags", [])}

    def interfaces(self):
        """Each interface's groups (sorted) and tags."""
        found = self.ec2.describe_network_interfaces(NetworkInterfaceIds=list(self.world.interfaces))
        return {n["NetworkInterfaceId"]: (sorted(g["GroupId"] for g in n["Groups"]),
                                          {t["Key"]: t["Value"] for t in n.get("TagSet", [])})
                for n in found["NetworkInterfaces"]}

    def notifications(self):
        got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def assert_isolated(self):
        for interface, (groups, _) in self.interfaces().items():
            self.assertNotEqual(groups, self.world.interfaces[interface], f"{interface} is not isolated")
            self.assertEqual(len(groups), 1, interface)

    def test_48_tags_contained_escalated_with_the_record_named_and_released(self):
        self.build(48)
        report = self.contain()
        self.assertEqual(report["status"], "escalate", report)
        self.assertEqual(report["details"]["record"],
                         {"interfaces": list(self.world.interfaces), "instance": "full"}, report)
        for interface in self.world.interfaces:
            self.assertIn(interface, report["reason"])
        self.assert_isolated()
        tags = self.instance_tags()
        self.assertEqual(len(tags), 50)
        self.assertTrue(tags["tourniquet:record"].startswith("v1;n=1;"), tags)
        for interface, (_, own) in self.interfaces().items():
            self.assertEqual(sorted(own["tourniquet:prior-groups"].split(",")), self.world.interfaces[interface])
        # The person is told, and the notification says where the record is.
        sent = [n for n in self.notifications() if self.world.instance in n["Subject"]]
        self.assertTrue(any("needs a person" in n["Subject"] for n in sent), sent)
        message = json.loads(next(n["Message"] for n in sent if "needs a person" in n["Subject"]))
        self.assertEqual(message["details"]["record"], report["details"]["record"])

        released = self.release()
        self.assertEqual(released["status"], "released", released)
        self.assertEqual(released["details"]["recordFrom"], {i: "interface" for i in self.world.interfaces})
        self.assertEqual({i: g for i, (g, _) in self.interfaces().items()}, self.world.interfaces)

    def test_50_tags_the_record_on_the_interfaces_alone(self):
        self.build(50)
        report = self.contain()
        self.assertEqual(report["status"], "escalate", report)
        self.assertEqual(report["details"]["record"],
                         {"interfaces": list(self.world.interfaces), "instance": "none"}, report)
        self.assertIn("none of it", report["reason"])
        self.assert_isolated()
        self.assertFalse([k for k in self.instance_tags() if k.startswith("tourniquet:")])
        self.assertFalse([a for a in report["actions"] if a["outcome"] == "failed"], report)

        released = self.release()
        self.assertEqual(released["status"], "released", released)
        self.assertTrue(released["incidentId"].startswith("tq-"), released)
        self.assertEqual({i: g for i, (g, _) in self.interfaces().items()}, self.world.interfaces)
        # No room on the instance: the released state is on the interfaces.
        for interface, (_, own) in self.interfaces().items():
            self.assertEqual(own.get("tourniquet:status"), "released", interface)

    def test_a_write_ec2_refuses_for_the_tag_limit_escalates_too(self):
        # Counted 48 of 50, but moto counts its own aws: tag of the Auto Scaling group: the write meets
        # TagLimitExceeded, as it would when someone tags the instance between the read and the write.
        self.build(48, InstanceWorld)
        report = self.contain()
        self.assertEqual(report["status"], "escalate", report)
        self.assertEqual(report["details"]["record"]["instance"], "none", report)
        refused = [a for a in report["actions"] if a.get("error", {}).get("code") == "TagLimitExceeded"]
        self.assertTrue(refused, report)
        self.assertTrue(all(a["outcome"] == "skipped" for a in refused), refused)
        self.assert_isolated()
        self.assertEqual(self.release()["status"], "released")
        self.assertEqual({i: g for i, (g, _) in self.interfaces().items()}, self.world.interfaces)

    def test_an_instance_contained_by_the_previous_format_is_released(self):
        self.build(0)
        event = instance_finding(self.world.instance)
        report = self.contain(event)
        self.assertEqual(report["status"], "contained", report)
        # As the version before the record left it: the groups in one instance tag per interface, none on them.
        self.ec2.delete_tags(Resources=[self.world.instance], Tags=[{"Key": "tourniquet:record"}])
        self.ec2.delete_tags(Resources=list(self.world.interfaces), Tags=[{"Key": "tourniquet:prior-groups"},
                                                                          {"Key": "tourniquet:incident-id"}])
        self.ec2.create_tags(Resources=[self.world.instance], Tags=[
            {"Key": f"tourniquet:prior-groups:{i}", "Value": ",".join(g)} for i, g in self.world.interfaces.items()])
        replay = self.contain(event)  # a replay after the upgrade finds the old record whole: it writes nothing
        self.assertEqual({a["outcome"] for a in replay["actions"]}, {"already"}, replay)
        released = self.release()
        self.assertEqual(released["status"], "released", released)
        self.assertEqual(released["details"]["recordFrom"], {i: "instance-tags" for i in self.world.interfaces})
        self.assertEqual({i: g for i, (g, _) in self.interfaces().items()}, self.world.interfaces)


if __name__ == "__main__":
    unittest.main()
