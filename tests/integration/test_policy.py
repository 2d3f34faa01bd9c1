"""The generated policy is exactly enough: every playbook's scenario succeeds as a principal holding just
`tourniquet policy` (moto's IAM checks on), and with any one action taken out, some scenario fails — so no
permission is there without a reason."""
import json
import os
import tempfile
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


# Each playbook adds its scenario here: a function (moto, tmp dir) that builds its world with the checks
# off and returns run(env) -> True when the playbook did its whole job.
SCENARIOS = [scenario_instance_containment, scenario_notification]


class PolicyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.moto = Moto()
        code, out, err = run_tourniquet(["policy"], dict(os.environ, AWS_REGION="us-east-1"))
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
