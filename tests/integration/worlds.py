"""What the instance playbooks act on, made in moto while its checks are off (inside `Moto.fresh_account`):
an instance worth containing in the main account, one in the member account, and the GuardDuty finding that
names either; and a test case that starts each test on a fresh instance world."""
import json
import os
import uuid

from moto_support import ACCOUNT, MotoTestCase, generated_policy, policy_actions

SOURCE = os.environ.get("TQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLE = os.path.join(SOURCE, "events", "guardduty", "backdoor-ec2-cc-activity.json")
AMI = "ami-12c6146b"
MEMBER_ROLE_NAME = "tourniquet-member"


class InstanceWorld:
    """An account with an instance worth containing: two interfaces in two subnets, several groups (SSH open
    to the world among them), three volumes, and membership of an Auto Scaling group."""

    def __init__(self, moto):
        ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
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
        self.instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                          NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId":
                                                              primary["NetworkInterface"]["NetworkInterfaceId"]}])[
            "Instances"][0]["InstanceId"]
        ec2.create_launch_template(LaunchTemplateName="web-template", LaunchTemplateData={
            "ImageId": AMI, "InstanceType": "t3.micro"})
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


class MemberInstance:
    """An instance in the member account, which Tourniquet (the user "tourniquet") reaches by assuming the role
    MEMBER_ROLE_NAME there, allowed every action of `policy`. `ec2` sets up and inspects with the setup
    credentials `setup` (secrets too: AssumeRole handed them out)."""

    def __init__(self, moto, policy):
        self.setup = moto.member_account_role(MEMBER_ROLE_NAME, f"arn:aws:iam::{ACCOUNT}:user/tourniquet",
                                              policy_actions(policy))
        self.ec2 = moto.client("ec2", self.setup["AccessKeyId"], self.setup["SecretAccessKey"],
                               self.setup["SessionToken"])
        self.vpc = self.ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
        # On a ready-made interface, like InstanceWorld's, so that isolation shows in moto.
        interface = self.ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
        self.instance = self.ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, NetworkInterfaces=[
            {"DeviceIndex": 0, "NetworkInterfaceId": interface}])["Instances"][0]["InstanceId"]


class InstanceWorldTestCase(MotoTestCase):
    """Each test starts on a fresh InstanceWorld (`self.world`), Tourniquet acting as `self.responder`, who holds
    the policy `tourniquet policy` prints with the member account's role named; `self.admin` inspects."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME)

    def setUp(self):
        super().setUp()
        with self.moto.fresh_account(self.policy) as account:
            self.world = InstanceWorld(self.moto)
        self.responder, self.admin = account


def launch_on_interface(ec2, subnet, groups):
    """Another instance, launched on a ready-made interface in `subnet` with `groups` (see InstanceWorld for
    why); returns (instance id, interface id)."""
    interface = ec2.create_network_interface(SubnetId=subnet, Groups=groups)["NetworkInterface"][
        "NetworkInterfaceId"]
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": interface}])["Instances"][0]["InstanceId"]
    return instance, interface


def instance_finding(instance, account=ACCOUNT, sample=SAMPLE, **detail):
    """The sample GuardDuty finding (an EC2 instance querying a command and control server, or the file
    `sample`) about `instance` in `account`, with a fresh finding id so incidents do not collide; `detail`
    overrides fields of its detail."""
    with open(sample) as f:
        event = json.load(f)
    event["account"] = event["detail"]["accountId"] = account
    event["detail"]["id"] = uuid.uuid4().hex
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
    event["detail"].update(detail)
    return event


def write_event(directory, event):
    """Writes the event to a new file in `directory` for `tourniquet invoke`; returns its path."""
    path = os.path.join(directory, f"finding-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(event, f)
    return path
