"""Instance containment end to end: the real `tourniquet invoke` against moto_server with its signature and
IAM policy checks on, acting as a principal that holds exactly the policy `tourniquet policy` prints."""
import json
import unittest

from moto_support import MEMBER_ACCOUNT, invoke, run_tourniquet
from worlds import MEMBER_ROLE_NAME, InstanceWorldTestCase, MemberInstance, instance_finding


class InstanceContainmentTest(InstanceWorldTestCase):
    def setUp(self):
        super().setUp()
        # From here on every call is checked: inspection goes through the admin user.
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.autoscaling = self.moto.client("autoscaling", *self.admin)

    def finding(self, instance=None, **detail):
        event = instance_finding(instance or self.world.instance, **detail)
        return event, event["detail"]["id"]

    def invoke(self, event, extra_env=None, args=()):
        return invoke(event, self.moto.env_for(*self.responder, extra_env), args)

    def snapshots(self, finding_id):
        return self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:tourniquet:finding-id", "Values": [finding_id]}])["Snapshots"]

    def interface_groups(self):
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                for n in self.world.describe(self.ec2)["NetworkInterfaces"]}

    def interface_tags(self):
        return {n["NetworkInterfaceId"]: {t["Key"]: t["Value"] for t in n.get("TagSet", [])}
                for n in self.ec2.describe_network_interfaces(Filters=[
                    {"Name": "attachment.instance-id", "Values": [self.world.instance]}])["NetworkInterfaces"]}

    def managed_groups(self):
        return self.ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": ["tourniquet:role"]}])[
            "SecurityGroups"]

    def test_a_finding_contains_the_instance_and_replays_change_nothing(self):
        event, finding_id = self.finding()
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "contained", report)

        groups = {g["GroupId"]: g for g in self.managed_groups()}
        roles = {g["GroupId"]: {t["Key"]: t["Value"] for t in g["Tags"]}["tourniquet:role"] for g in groups.values()}
        isolation = [g for g, r in roles.items() if r == "isolation"]
        untrack = [g for g, r in roles.items() if r == "untrack"]
        self.assertEqual((len(isolation), len(untrack)), (1, 1))
        self.assertEqual(groups[isolation[0]]["IpPermissionsEgress"], [], "the isolation group lets traffic out")
        self.assertEqual(groups[isolation[0]]["IpPermissions"], [])
        for interface, now in self.interface_groups().items():
            self.assertEqual(now, isolation, f"{interface} is not isolated")
        self.assertEqual(len(self.world.interfaces), 2)

        untrack_rules = groups[untrack[0]]
        cidrs = {r.get("CidrIp") for p in untrack_rules["IpPermissions"] for r in p["IpRanges"]}
        cidrs6 = {r.get("CidrIpv6") for p in untrack_rules["IpPermissions"] for r in p["Ipv6Ranges"]}
        self.assertEqual((cidrs, cidrs6), ({"0.0.0.0/0"}, {"::/0"}), "the untrack group must allow all both ways")

        instance = self.world.describe(self.ec2)
        protection = self.ec2.describe_instance_attribute(InstanceId=self.world.instance, Attribute="disableApiTermination")
        self.assertTrue(protection["DisableApiTermination"]["Value"])
        shutdown = self.ec2.describe_instance_attribute(InstanceId=self.world.instance,
                                                        Attribute="instanceInitiatedShutdownBehavior")
        self.assertEqual(shutdown["InstanceInitiatedShutdownBehavior"]["Value"], "stop")
        self.assertEqual(len(instance["BlockDeviceMappings"]), 3)
        self.assertTrue(all(not b["Ebs"]["DeleteOnTermination"] for b in instance["BlockDeviceMappings"]))
        self.assertEqual(len(self.snapshots(finding_id)), 3)
        self.assertEqual(self.autoscaling.describe_auto_scaling_instances(InstanceIds=[self.world.instance])[
            "AutoScalingInstances"], [], "the instance is still in its Auto Scaling group")
        tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
        self.assertEqual(tags["tourniquet:status"], "contained")
        self.assertTrue(tags["tourniquet:incident-id"].startswith("tq-"))
        # The record: each interface its own groups, the instance one versioned tag naming them all.
        self.assertTrue(tags["tourniquet:record"].startswith(f"v1;n=1;f={finding_id};"), tags)
        interface_tags = self.interface_tags()
        for interface, before in self.world.interfaces.items():
            self.assertEqual(sorted(interface_tags[interface]["tourniquet:prior-groups"].split(",")), before)
            self.assertIn(f"{interface}:", tags["tourniquet:record"])
        self.assertEqual(report["details"]["record"],
                         {"interfaces": list(self.world.interfaces), "instance": "full"}, report)
        order = [a["action"] for a in report["actions"] if a["outcome"] == "done"]
        self.assertLess(order.index("untrack-interface"), order.index("isolate-interface"))

        for _ in range(3):
            code, replay, err = self.invoke(event)
            self.assertEqual(code, 0, err)
            outcomes = {a["outcome"] for a in replay["reports"][0]["actions"]}
            self.assertEqual(outcomes, {"already"}, replay)
        self.assertEqual(len(self.snapshots(finding_id)), 3, "a replay took new snapshots")
        self.assertEqual(len(self.managed_groups()), 2, "a replay made new groups")

    def test_release_puts_back_each_interfaces_groups(self):
        event, finding_id = self.finding()
        self.assertEqual(self.invoke(event)[0], 0)
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        self.assertEqual(json.loads(out)["status"], "released")
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        tags = {t["Key"]: t["Value"] for t in self.world.describe(self.ec2)["Tags"]}
        self.assertEqual(tags["tourniquet:status"], "released")
        self.assertEqual(len(self.snapshots(finding_id)), 3, "release must keep the evidence")

    def test_exempt_sample_and_dry_run_change_nothing(self):
        self.ec2.create_tags(Resources=[self.world.instance], Tags=[{"Key": "incident-response", "Value": "exempt"}])
        # An exemption counts only when the finding saw it too (test_instance_trust: one added after detection).
        event, finding_id = self.finding()
        event["detail"]["resource"]["instanceDetails"]["tags"].append({"key": "incident-response", "value": "exempt"})
        code, response, err = self.invoke(event, {"TOURNIQUET_EXEMPT_TAG": "incident-response=exempt"})
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "ignored")
        self.assertIn("exemption tag", response["reports"][0]["reason"])

        sample, _ = self.finding(title="[SAMPLE] Command and Control server domain name queried by EC2 instance")
        code, response, err = self.invoke(sample)
        self.assertEqual((code, response["reports"][0]["status"]), (0, "ignored"), err)

        code, response, err = self.invoke(event, args=["--dry-run"])
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "dry-run")
        self.assertTrue(any("permission confirmed" in a.get("detail", "") for a in report["actions"]), report)
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        self.assertEqual(self.managed_groups(), [])
        self.assertEqual(self.snapshots(finding_id), [])
        self.assertNotIn("tourniquet:status", {t["Key"] for t in self.world.describe(self.ec2).get("Tags", [])})

    def test_a_missing_instance_is_a_failure_that_names_it(self):
        event, _ = self.finding(instance="i-0000000000000dead")
        code, response, err = self.invoke(event)
        self.assertEqual(code, 1, err)
        self.assertIn("i-0000000000000dead", err)

    def test_a_member_account_instance_is_contained_there(self):
        self.moto.open_auth()
        member = MemberInstance(self.moto, self.policy)
        self.moto.enforce_auth()
        event, _ = self.finding(instance=member.instance, account=MEMBER_ACCOUNT)
        # The GuardDuty stand-in cannot know the session Tourniquet assumes in the member account, so this run
        # does without confirmation (tests/integration/test_forged_findings.py covers it in the own account).
        code, response, err = self.invoke(event, {"TOURNIQUET_MEMBER_ROLE_NAME": MEMBER_ROLE_NAME,
                                                  "TOURNIQUET_CONFIRM_FINDINGS": "false"})
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")
        self.moto.open_auth()
        described = member.ec2.describe_instances(InstanceIds=[member.instance])["Reservations"][0]["Instances"][0]
        groups = described["NetworkInterfaces"][0]["Groups"]
        self.assertEqual([g["GroupName"] for g in groups], [f"tourniquet-isolation-{member.vpc}"])


if __name__ == "__main__":
    unittest.main()
