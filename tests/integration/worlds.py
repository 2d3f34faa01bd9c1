"""What the playbooks act on, made in moto (usually while its checks are off, inside `Moto.fresh_account`), and
the events that name it: instances, groups, ACLs, roles, trails and topics; GuardDuty findings, CloudTrail records
and CloudWatch Logs batches written from the samples in events/ with the real ids; and a test case that starts
each test on a fresh instance world."""
import base64
import copy
import gzip
import io
import json
import os
import uuid
import zipfile

from moto_support import ACCOUNT, REGION, MotoTestCase, generated_policy, invoke, policy_actions, policy_keeping
from standin_support import set_finding_arn

SOURCE = os.environ.get("TQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SAMPLE = os.path.join(SOURCE, "events", "guardduty", "backdoor-ec2-cc-activity.json")
AMI = "ami-12c6146b"
MEMBER_ROLE_NAME = "tourniquet-member"


# --- the world ------------------------------------------------------------------------------------------------

def instance_on_interface(ec2, subnet, groups=(), **launch):
    """An instance launched on a ready-made interface in `subnet` with `groups`; returns (instance, interface).
    moto reports an interface's groups as its own plus the groups the instance was launched with, so an instance
    launched with groups would never look isolated there (real EC2 keeps them apart)."""
    interface = ec2.create_network_interface(SubnetId=subnet, Groups=list(groups))["NetworkInterface"][
        "NetworkInterfaceId"]
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, **launch, NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": interface}])["Instances"][0]["InstanceId"]
    return instance, interface


def join_auto_scaling_group(autoscaling, ec2, instance, subnet, name):
    """Puts `instance` in a new Auto Scaling group `name` (with a launch template of that name)."""
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": AMI})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name},
                                          MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=subnet)
    autoscaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName=name)


def instance_in_subnet(ec2, vpc_cidr, subnet_cidr):
    """An instance launched straight into the one subnet of a new VPC; returns (vpc, subnet, instance)."""
    vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, SubnetId=subnet)["Instances"][0]["InstanceId"]
    return vpc, subnet, instance


def acl_of(ec2, subnet):
    """The network ACL associated with `subnet`."""
    acls = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
    return acls["NetworkAcls"][0]["NetworkAclId"]


def open_group(ec2, vpc, name, ports):
    """A security group `name` in `vpc` allowing TCP `ports` from anywhere (IPv4)."""
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
        for port in ports])
    return group


def ec2_role(iam, name):
    """A role EC2 instances may assume: the kind whose session credentials get stolen."""
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))


def trail(s3, cloudtrail, name, bucket=None):
    """A trail `name` logging to a new bucket (`bucket`, or one named like the trail); never started."""
    s3.create_bucket(Bucket=bucket or name)
    cloudtrail.create_trail(Name=name, S3BucketName=bucket or name)


def incident_topic(sns, sqs):
    """The SNS topic "incidents" with an SQS queue subscribed to it, which receives what a person would;
    returns (topic arn, queue url)."""
    topic = sns.create_topic(Name="incidents")["TopicArn"]
    queue = sqs.create_queue(QueueName="incidents")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, queue


class InstanceWorld:
    """An account with an instance worth containing: two interfaces in two subnets, several groups (SSH open
    to the world among them), three volumes, and membership of an Auto Scaling group."""

    def __init__(self, moto):
        ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.0.{i}.0/24",
                                          AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"] for i in (1, 2)]
        self.web = ec2.create_security_group(GroupName="web", Description="web", VpcId=self.vpc)["GroupId"]
        self.ssh = open_group(ec2, self.vpc, "ssh", [22])
        self.instance, _ = instance_on_interface(ec2, self.subnets[0], [self.web, self.ssh], InstanceType="t3.micro")
        join_auto_scaling_group(autoscaling, ec2, self.instance, self.subnets[0], "web-asg")
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
        self.instance, _ = instance_on_interface(self.ec2, subnet)  # so that isolation shows in moto


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


class CallerWorldTestCase(MotoTestCase):
    """Each test starts on an account where the user "deploy-bot" holds two access keys (`self.bot_keys`, the
    first the one abused) and Tourniquet acts as the user "responder" (`self.responder`, key id and secret), who
    holds the policy `tourniquet policy` prints; `self.iam` inspects as an admin. A subclass adds to the world in
    `build_world(moto)`, with the checks off."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy()

    def setUp(self):
        super().setUp()
        with self.moto.fresh_account(self.policy, responder="responder") as account:
            self.bot_keys = self.moto.user_with_keys("deploy-bot", 2)
            self.build_world(self.moto)
        self.responder, self.admin = account
        self.iam = self.moto.client("iam", *self.admin)

    def build_world(self, moto):
        pass

    def invoke(self, event, extra=None):
        """Runs Tourniquet as the responder with `extra` settings; its secret key is never printed."""
        code, response, err = invoke(event, self.moto.env_for(*self.responder, extra))
        self.assertNotIn(self.responder[1], json.dumps(response) + err)
        return code, response, err

    def take_away(self, action):
        """From here on the responder holds the generated policy without `action`."""
        self.moto.open_auth()
        self.moto.client("iam").put_user_policy(
            UserName="responder", PolicyName="responder-policy", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": policy_keeping(self.policy, lambda a: a != action)}))
        self.moto.enforce_auth()


# --- the events --------------------------------------------------------------------------------------------

def load_event(relative):
    """A sample from events/, say "guardduty/backdoor-ec2-cc-activity.json"."""
    with open(os.path.join(SOURCE, "events", relative)) as f:
        return json.load(f)


def guardduty_finding(sample, account=ACCOUNT, **detail):
    """The GuardDuty sample events/guardduty/`sample` in `account`, with a fresh finding id so incidents do not
    collide; `detail` overrides fields of its detail."""
    event = load_event("guardduty/" + sample)
    event["account"] = event["detail"]["accountId"] = account
    event["detail"]["id"] = uuid.uuid4().hex
    event["detail"].update(detail)
    set_finding_arn(event["detail"])  # GuardDuty's address of the finding follows its id and account
    return event


def instance_finding(instance, account=ACCOUNT, sample=SAMPLE, **detail):
    """The sample GuardDuty finding (an EC2 instance querying a command and control server, or the file
    `sample`) about `instance` in `account`, with a fresh finding id so incidents do not collide; `detail`
    overrides fields of its detail."""
    event = guardduty_finding(os.path.basename(sample), account, **detail)
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
    return event


def credential_finding(sample, user, key, **access):
    """The GuardDuty sample events/guardduty/`sample` about access key `key` of `user` (a user or a role name);
    `access` overrides more fields of its accessKeyDetails (say userType)."""
    event = guardduty_finding(sample)
    event["detail"]["resource"]["accessKeyDetails"].update(userName=user, accessKeyId=key, **access)
    return event


def port_probe_finding(instance, subnet, vpc, addresses=None):
    """The sample port probe finding about `instance` on an interface in `subnet` of `vpc`, probed from each of
    `addresses` (IPv4 or IPv6; the sample's own when None)."""
    event = guardduty_finding("recon-ec2-port-probe-unprotected-port.json")
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = instance
    details["networkInterfaces"][0].update(subnetId=subnet, vpcId=vpc)
    if addresses is not None:
        probes = event["detail"]["service"]["action"]["portProbeAction"]["portProbeDetails"]
        template = probes[0]
        probes.clear()
        for address in addresses:
            probe = copy.deepcopy(template)
            probe["remoteIpDetails"].pop("ipAddressV4", None)
            probe["remoteIpDetails"]["ipAddressV6" if ":" in address else "ipAddressV4"] = address
            probes.append(probe)
    return event


def cloudtrail_event(sample, user, key):
    """The CloudTrail sample events/cloudtrail/`sample` as a call by IAM user `user` with access key `key`."""
    event = load_event("cloudtrail/" + sample)
    event["account"] = ACCOUNT
    event["detail"].update(recipientAccountId=ACCOUNT, awsRegion=REGION, userIdentity={
        "type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT, "accessKeyId": key, "userName": user})
    return event


def cloudwatch_logs_event(records):
    """A CloudWatch Logs subscription batch (gzip, then base64) of the CloudTrail `records` (each an event detail)."""
    payload = {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "aws-cloudtrail-logs",
               "logStream": f"{ACCOUNT}_CloudTrail_{REGION}", "subscriptionFilters": ["tourniquet"],
               "logEvents": [{"id": str(i), "timestamp": 1742696071412 + i, "message": json.dumps(r)}
                             for i, r in enumerate(records)]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()}}


# --- Lambda functions --------------------------------------------------------------------------------------

def lambda_role(iam, name):
    """A role Lambda functions may assume (their execution role); returns its ARN."""
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]


def lambda_function(lam, name, role_arn, reserved=None, subnets=(), tags=None):
    """A function in moto (never invoked: no code runs); `reserved` its reserved concurrency. Returns its ARN."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("handler.py", "def handle(event, context):\n    return event\n")
    args = dict(FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="handler.handle",
                Code={"ZipFile": buffer.getvalue()}, Tags=tags or {})
    if subnets:
        args["VpcConfig"] = {"SubnetIds": list(subnets), "SecurityGroupIds": []}
    arn = lam.create_function(**args)["FunctionArn"]
    if reserved is not None:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    return arn


def function_finding(name, role_arn, sample="cryptocurrency-lambda-bitcointool.json", subnets=None, tags=None):
    """The GuardDuty sample `sample` about function `name` (with execution role `role_arn`), a fresh finding id;
    `subnets` puts it in a VPC as the finding saw it, `tags` are its tags as the finding saw them."""
    event = guardduty_finding(sample)
    details = event["detail"]["resource"]["lambdaDetails"]
    details.update(functionName=name, functionArn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}", role=role_arn)
    if subnets is not None:
        details["vpcConfig"] = {"subnetIds": subnets, "vpcId": "vpc-unknown", "securityGroups": []}
    if tags is not None:
        details["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    return event
