"""The generated policy is exactly enough: every playbook's scenario succeeds as a principal holding just
`tourniquet policy` (moto's IAM checks on), and with any one action taken out, some scenario fails — so no
permission is there without a reason."""
import json
import os
import tempfile
import time
import unittest
import uuid

from moto_support import ACCOUNT, Moto, run_tourniquet

SOURCE = os.environ.get("TQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def load_event(relative):
    with open(os.path.join(SOURCE, "events", relative)) as f:
        return json.load(f)


def write_event(tmp, event):
    path = os.path.join(tmp, f"event-{uuid.uuid4().hex}.json")
    with open(path, "w") as f:
        json.dump(event, f)
    return path


def scenario_instance_containment(moto, tmp):
    """A first containment in a VPC (groups made, forensics access), of an instance in an Auto Scaling
    group, with the account found by sts:GetCallerIdentity; then its release."""
    ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[web])["NetworkInterface"]["NetworkInterfaceId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": eni}])["Instances"][0]["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=instance, Attribute="instanceInitiatedShutdownBehavior", Value="terminate")
    ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-12c6146b"})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="web-asg", LaunchTemplate={"LaunchTemplateName": "web"},
                                          MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=subnet)
    autoscaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName="web-asg")
    event = load_event("guardduty/backdoor-ec2-cc-activity.json")
    event["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
    path = write_event(tmp, event)

    def run(env):
        env = dict(env, TOURNIQUET_FORENSICS_CIDRS="10.99.0.0/24")
        contained = run_tourniquet(["invoke", path], env)[0] == 0
        released = run_tourniquet(["release", instance], env)[0] == 0
        return contained and released
    return run


def scenario_notification(moto, tmp):
    """[reliability] An instance contained with TOURNIQUET_SNS_TOPIC_ARN set: the incident reaches the topic
    (an SQS queue subscribed to it). A failed notification never fails the invocation, so the queue is the proof."""
    ec2, sns, sqs = moto.client("ec2"), moto.client("sns"), moto.client("sqs")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": eni}])["Instances"][0]["InstanceId"]
    topic = sns.create_topic(Name="incidents")["TopicArn"]
    queue = sqs.create_queue(QueueName="incidents")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    reader = moto.client("sqs", *moto.user_with_policy("reader", [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]))
    event = load_event("guardduty/backdoor-ec2-cc-activity.json")
    event["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
    path = write_event(tmp, event)

    def run(env):
        run_tourniquet(["invoke", path], dict(env, TOURNIQUET_SNS_TOPIC_ARN=topic, TOURNIQUET_ACCOUNT_ID=ACCOUNT))
        return bool(reader.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages"))
    return run


# [credentials] Credential containment with both options on: an IAM user's key (console password removed,
# user quarantined) and an assumed role's sessions.
def scenario_credential_containment(moto, tmp):
    iam = moto.client("iam")
    iam.create_user(UserName="leaky")
    key = iam.create_access_key(UserName="leaky")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="leaky", Password="Correct-Horse-9")
    iam.create_group(GroupName="quarantine")
    iam.create_role(RoleName="ci-deploy", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    paths = []
    for sample, name, key_id in (("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "leaky", key),
                                 ("pentest-iamuser-kali-linux-assumed-role.json", "ci-deploy", "ASIAQXYZ7EXAMPLESES2")):
        event = load_event("guardduty/" + sample)
        event["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
        event["detail"]["resource"]["accessKeyDetails"].update({"userName": name, "accessKeyId": key_id})
        paths.append(write_event(tmp, event))

    def run(env):
        env = dict(env, TOURNIQUET_REMOVE_CONSOLE_ACCESS="true", TOURNIQUET_QUARANTINE_GROUP="quarantine")
        return all(run_tourniquet(["invoke", p], env)[0] == 0 for p in paths)
    return run


# [credentials] Exposure fixes: SSH opened to the world (revoked, group tagged), and a trail stopped by a
# user (logging restarted, the user's key contained).
def scenario_exposure_fix(moto, tmp):
    ec2, iam = moto.client("ec2"), moto.client("iam")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="exposed", Description="exposed", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    moto.client("s3").create_bucket(Bucket="audit-logs")
    moto.client("cloudtrail").create_trail(Name="audit", S3BucketName="audit-logs")
    iam.create_user(UserName="trail-stopper")
    key = iam.create_access_key(UserName="trail-stopper")["AccessKey"]["AccessKeyId"]
    identity = {"type": "IAMUser", "arn": f"arn:aws:iam::{ACCOUNT}:user/trail-stopper", "accountId": ACCOUNT,
                "accessKeyId": key, "userName": "trail-stopper"}
    ingress = load_event("cloudtrail/authorize-sg-ingress-ssh-world-legacy.json")
    ingress["detail"].update({"userIdentity": identity, "recipientAccountId": ACCOUNT})
    ingress["detail"]["requestParameters"]["groupId"] = group
    stop = load_event("cloudtrail/stop-logging.json")
    stop["detail"].update({"userIdentity": identity, "recipientAccountId": ACCOUNT, "requestParameters": {"name": "audit"}})
    paths = [write_event(tmp, ingress), write_event(tmp, stop)]
    return lambda env: all(run_tourniquet(["invoke", p], env)[0] == 0 for p in paths)


def scenario_network_block(moto, tmp):
    """network-block: a port probe's addresses denied in the instance's subnet ACL (reads, entries, tag);
    block-expiry: a schedule removes an earlier block that is due (entries and tag)."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 SubnetId=subnet)["Instances"][0]["InstanceId"]
    acl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])
    acl = acl["NetworkAcls"][0]["NetworkAclId"]
    for egress in (False, True):  # an earlier block, due an hour ago
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=89, Protocol="-1", RuleAction="deny",
                                     Egress=egress, CidrBlock="203.0.113.89/32")
    ec2.create_tags(Resources=[acl], Tags=[{"Key": "tourniquet:block:89", "Value": "203.0.113.89/32|1|%d|tq-old"
                                            % (int(time.time()) - 3600)}])
    event = load_event("guardduty/recon-ec2-port-probe-unprotected-port.json")
    event["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = instance
    details["networkInterfaces"][0].update({"subnetId": subnet, "vpcId": vpc})
    probe, schedule = write_event(tmp, event), write_event(tmp, load_event("scheduled/expire-blocks.json"))

    def run(env):
        blocked = run_tourniquet(["invoke", probe], env)[0] == 0
        expired = run_tourniquet(["invoke", schedule], env)
        return blocked and expired[0] == 0 and "203.0.113.89/32" in expired[1]
    return run


def scenario_opened_isolation_group(moto, tmp):
    """An instance isolated after someone opened Tourniquet's isolation group: the stray rule is revoked
    before the instance moves in, and the interfaces that sat in the group while it was open are looked up."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": eni}])["Instances"][0]["InstanceId"]
    isolation = ec2.create_security_group(
        GroupName=f"tourniquet-isolation-{vpc}", Description="isolation", VpcId=vpc, TagSpecifications=[
            {"ResourceType": "security-group", "Tags": [{"Key": "tourniquet:role", "Value": "isolation"}]}])["GroupId"]
    ec2.revoke_security_group_egress(GroupId=isolation, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_ingress(GroupId=isolation, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    event = load_event("guardduty/backdoor-ec2-cc-activity.json")
    event["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
    path = write_event(tmp, event)

    def run(env):
        return run_tourniquet(["invoke", path], env)[0] == 0
    return run


# Each playbook adds its scenario here: a function (moto, tmp dir) that builds its world with the checks
# off and returns run(env) -> True when the playbook did its whole job.
SCENARIOS = [scenario_instance_containment, scenario_network_block, scenario_credential_containment,
             scenario_exposure_fix, scenario_notification,
             scenario_opened_isolation_group]


class PolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = Moto()
        # The policy of a configuration with every option on, as the scenarios use them all.
        code, out, err = run_tourniquet(["policy"], dict(os.environ, AWS_REGION="us-east-1",
                                                         TOURNIQUET_REMOVE_CONSOLE_ACCESS="true",
                                                         TOURNIQUET_QUARANTINE_GROUP="quarantine",
                                                         # [reliability] notifications on
                                                         TOURNIQUET_SNS_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:x"))
        assert code == 0, err
        cls.actions = json.loads(out)["Statement"][0]["Action"]

    @classmethod
    def tearDownClass(cls):
        cls.moto.stop()

    def outcomes(self, actions):
        """Runs every scenario as a principal allowed `actions`; returns {scenario name: succeeded}."""
        moto = self.moto
        moto.reset()
        key = moto.user_with_policy("tourniquet", [{"Effect": "Allow", "Action": actions, "Resource": "*"}])
        with tempfile.TemporaryDirectory() as tmp:
            runs = [(s.__name__, s(moto, tmp)) for s in SCENARIOS]
            moto.enforce_auth()
            env = moto.env_for(*key, {"AWS_MAX_ATTEMPTS": "1"})
            return {name: run(env) for name, run in runs}

    def test_the_generated_policy_is_enough(self):
        outcomes = self.outcomes(self.actions)
        self.assertTrue(all(outcomes.values()), outcomes)

    def test_every_action_is_needed_by_some_scenario(self):
        unneeded = []
        for action in self.actions:
            outcomes = self.outcomes([a for a in self.actions if a != action])
            if all(outcomes.values()):
                unneeded.append(action)
        self.assertEqual(unneeded, [], "these actions are in the policy but no scenario needs them")


if __name__ == "__main__":
    unittest.main()
