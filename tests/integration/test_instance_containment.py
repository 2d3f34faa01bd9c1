"""Instance containment end to end: the real `tourniquet invoke` against moto_server with its signature and
IAM policy checks on, acting as a principal that holds exactly the policy `tourniquet policy` prints."""
import copy
import json
import os
import tempfile
import unittest
import uuid

from moto_support import ACCOUNT, MEMBER_ACCOUNT, Moto, run_tourniquet

SOURCE = os.environ.get("TQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLE = os.path.join(SOURCE, "events", "guardduty", "backdoor-ec2-cc-activity.json")


def generated_policy():
    code, out, err = run_tourniquet(["policy"], dict(os.environ, AWS_REGION="us-east-1",
                                                     TOURNIQUET_MEMBER_ROLE_NAME="tourniquet-member"))
    assert code == 0, err
    return json.loads(out)["Statement"]


class World:
    """An account with an instance worth containing: two interfaces in two subnets, several groups (SSH open
    to the world among them), three volumes, and membership of an Auto Scaling group."""

    def __init__(self, moto, ec2, autoscaling):
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24",
                                          AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"] for i in (1, 2)]
        self.web = ec2.create_security_group(GroupName="web", Description="web", VpcId=self.vpc)["GroupId"]
        self.ssh = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=self.vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=self.ssh, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        # The instance is launched on a ready-made interface and then attached to its Auto Scaling group.
        # moto reports an interface's groups as its own plus the groups the instance was launched with, so an
        # instance launched with groups would never look isolated there (real EC2 keeps them apart).
        primary = ec2.create_network_interface(SubnetId=self.subnets[0], Groups=[self.web, self.ssh])
        self.instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                          NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId":
                                                              primary["NetworkInterface"]["NetworkInterfaceId"]}])[
            "Instances"][0]["InstanceId"]
        ec2.create_launch_template(LaunchTemplateName="web-template", LaunchTemplateData={
            "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="web-asg", LaunchTemplate={"LaunchTemplateName": "web-template"},
            MinSize=0, MaxSize=2, DesiredCapacity=0, VPCZoneIdentifier=self.subnets[0])
        autoscaling.attach_instances(InstanceIds=[self.instance], AutoScalingGroupName="web-asg")
        second = ec2.create_network_interface(SubnetId=self.subnets[1], Groups=[self.web])
        ec2.attach_network_interface(NetworkInterfaceId=second["NetworkInterface"]["NetworkInterfaceId"],
                                     InstanceId=self.instance, DeviceIndex=1)
        for device in ("/dev/sdf", "/dev/sdg"):
            volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
            ec2.attach_volume(VolumeId=volume, InstanceId=self.instance, Device=device)
        self.interfaces = {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                           for n in self.describe(ec2)["NetworkInterfaces"]}

    def describe(self, ec2):
        return ec2.describe_instances(InstanceIds=[self.instance])["Reservations"][0]["Instances"][0]


class InstanceContainmentTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = Moto()
        cls.policy = generated_policy()

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def setUp(self):
        moto = self.moto
        moto.reset()
        self.responder = moto.user_with_policy("tourniquet", self.policy)
        admin_key, admin_secret = moto.admin()
        self.ec2 = moto.client("ec2")
        self.autoscaling = moto.client("autoscaling")
        self.world = World(moto, self.ec2, self.autoscaling)
        moto.enforce_auth()
        # From here on every call is checked: inspection goes through the admin user.
        self.ec2 = moto.client("ec2", admin_key, admin_secret)
        self.autoscaling = moto.client("autoscaling", admin_key, admin_secret)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def finding(self, instance=None, account=ACCOUNT, **detail):
        with open(SAMPLE) as f:
            event = json.load(f)
        event["account"] = account
        event["detail"]["accountId"] = account
        event["detail"]["id"] = detail.pop("finding_id", uuid.uuid4().hex)
        event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance or self.world.instance
        event["detail"].update(detail)
        path = os.path.join(self.tmp.name, f"finding-{uuid.uuid4().hex}.json")
        with open(path, "w") as f:
            json.dump(event, f)
        return path, event["detail"]["id"]

    def invoke(self, path, extra_env=None, args=()):
        env = self.moto.env_for(*self.responder, extra_env)
        code, out, err = run_tourniquet(["invoke", path, *args], env)
        return code, (json.loads(out) if out.strip().startswith("{") else None), err

    def snapshots(self, finding_id):
        return self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:tourniquet:finding-id", "Values": [finding_id]}])["Snapshots"]

    def interface_groups(self):
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                for n in self.world.describe(self.ec2)["NetworkInterfaces"]}

    def managed_groups(self):
        return self.ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": ["tourniquet:role"]}])[
            "SecurityGroups"]

    def test_a_finding_contains_the_instance_and_replays_change_nothing(self):
        path, finding_id = self.finding()
        code, response, err = self.invoke(path)
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
        self.assertEqual(tags["tourniquet:finding-id"], finding_id)
        self.assertEqual(tags["tourniquet:status"], "contained")
        self.assertTrue(tags["tourniquet:incident-id"].startswith("tq-"))
        for interface, before in self.world.interfaces.items():
            self.assertEqual(sorted(tags[f"tourniquet:prior-groups:{interface}"].split(",")), before)
        order = [a["action"] for a in report["actions"] if a["outcome"] == "done"]
        self.assertLess(order.index("untrack-interface"), order.index("isolate-interface"))

        for _ in range(3):
            code, replay, err = self.invoke(path)
            self.assertEqual(code, 0, err)
            outcomes = {a["outcome"] for a in replay["reports"][0]["actions"]}
            self.assertEqual(outcomes, {"already"}, replay)
        self.assertEqual(len(self.snapshots(finding_id)), 3, "a replay took new snapshots")
        self.assertEqual(len(self.managed_groups()), 2, "a replay made new groups")

    def test_release_puts_back_each_interfaces_groups(self):
        path, finding_id = self.finding()
        self.assertEqual(self.invoke(path)[0], 0)
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        self.assertEqual(json.loads(out)["status"], "released")
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        tags = {t["Key"]: t["Value"] for t in self.world.describe(self.ec2)["Tags"]}
        self.assertEqual(tags["tourniquet:status"], "released")
        self.assertEqual(len(self.snapshots(finding_id)), 3, "release must keep the evidence")

    def test_exempt_sample_and_dry_run_change_nothing(self):
        self.ec2.create_tags(Resources=[self.world.instance], Tags=[{"Key": "incident-response", "Value": "exempt"}])
        path, finding_id = self.finding()
        code, response, err = self.invoke(path, {"TOURNIQUET_EXEMPT_TAG": "incident-response=exempt"})
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "ignored")
        self.assertIn("exemption tag", response["reports"][0]["reason"])

        sample, _ = self.finding(title="[SAMPLE] Command and Control server domain name queried by EC2 instance")
        code, response, err = self.invoke(sample)
        self.assertEqual((code, response["reports"][0]["status"]), (0, "ignored"), err)

        code, response, err = self.invoke(path, args=["--dry-run"])
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "dry-run")
        self.assertTrue(any("permission confirmed" in a.get("detail", "") for a in report["actions"]), report)
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        self.assertEqual(self.managed_groups(), [])
        self.assertEqual(self.snapshots(finding_id), [])
        self.assertNotIn("tourniquet:status", {t["Key"] for t in self.world.describe(self.ec2).get("Tags", [])})

    def test_a_missing_instance_is_a_failure_that_names_it(self):
        path, _ = self.finding(instance="i-0000000000000dead")
        code, response, err = self.invoke(path)
        self.assertEqual(code, 1, err)
        self.assertIn("i-0000000000000dead", err)

    def test_a_member_account_instance_is_contained_there(self):
        self.moto.open_auth()
        setup = self.moto.member_account_role("tourniquet-member", "arn:aws:iam::123456789012:user/tourniquet",
                                              [a for s in self.policy for a in
                                               ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])])
        member = self.moto.client("ec2", setup["AccessKeyId"], setup["SecretAccessKey"], setup["SessionToken"])
        vpc = member.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        subnet = member.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
        interface = member.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        instance = member.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, NetworkInterfaces=[
            {"DeviceIndex": 0, "NetworkInterfaceId": interface}])["Instances"][0]["InstanceId"]
        self.moto.enforce_auth()
        path, _ = self.finding(instance=instance, account=MEMBER_ACCOUNT)
        code, response, err = self.invoke(path, {"TOURNIQUET_MEMBER_ROLE_NAME": "tourniquet-member"})
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained")
        self.moto.open_auth()
        described = member.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
        groups = described["NetworkInterfaces"][0]["Groups"]
        self.assertEqual([g["GroupName"] for g in groups], [f"tourniquet-isolation-{vpc}"])


if __name__ == "__main__":
    unittest.main()
