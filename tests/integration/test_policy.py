"""The generated policy is exactly enough: every playbook's scenario succeeds as a principal holding just
`tourniquet policy` (moto's IAM checks on), and with any one action taken out, some scenario fails — so no
permission is there without a reason."""
import collections
import json
import time
import unittest

from moto_support import ACCOUNT, MotoTestCase, generated_policy, invoke, policy_actions, policy_keeping, run_tourniquet
from standin_support import SecurityHubStandIn
from test_bucket_protection import bucket_finding, with_moto_s3_names
from worlds import (acl_of, cloudtrail_event, credential_finding, ec2_role, function_finding, guardduty_finding,
                    incident_topic, instance_finding, instance_in_subnet, instance_on_interface,
                    join_auto_scaling_group, lambda_function, lambda_role, load_event, open_group,
                    port_probe_finding, trail)


def succeeds(event, env):
    return invoke(event, env)[0] == 0


def scenario_instance_containment(moto):
    """A first containment in a VPC (groups made, forensics access), of an instance in an Auto Scaling
    group, with the account found by sts:GetCallerIdentity; then its release."""
    ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    instance, _ = instance_on_interface(ec2, subnet, [web])
    ec2.modify_instance_attribute(InstanceId=instance, Attribute="instanceInitiatedShutdownBehavior", Value="terminate")
    join_auto_scaling_group(autoscaling, ec2, instance, subnet, "web-asg")
    event = instance_finding(instance)

    def run(env):
        env = dict(env, TOURNIQUET_FORENSICS_CIDRS="10.99.0.0/24")
        contained = succeeds(event, env)
        released = run_tourniquet(["release", instance], env)[0] == 0
        return contained and released
    return run


def scenario_notification(moto):
    """An instance contained with TOURNIQUET_SNS_TOPIC_ARN set: the incident reaches the topic (an SQS queue
    subscribed to it). A failed notification never fails the invocation, so the queue is the proof."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    instance, _ = instance_on_interface(ec2, subnet)
    topic, queue = incident_topic(moto.client("sns"), moto.client("sqs"))
    reader = moto.client("sqs", *moto.user_with_policy("reader", [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]))
    event = instance_finding(instance)

    def run(env):
        invoke(event, dict(env, TOURNIQUET_SNS_TOPIC_ARN=topic, TOURNIQUET_ACCOUNT_ID=ACCOUNT))
        return bool(reader.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages"))
    return run


def scenario_credential_containment(moto):
    """Credential containment with both options on: an IAM user's key (console password removed, user
    quarantined) and an assumed role's sessions."""
    iam = moto.client("iam")
    [key] = moto.user_with_keys("leaky", 1)
    iam.create_login_profile(UserName="leaky", Password="Correct-Horse-9")
    iam.create_group(GroupName="quarantine")
    ec2_role(iam, "ci-deploy")
    events = [credential_finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "leaky", key),
              credential_finding("pentest-iamuser-kali-linux-assumed-role.json", "ci-deploy", "ASIAQXYZ7EXAMPLESES2")]

    def run(env):
        env = dict(env, TOURNIQUET_REMOVE_CONSOLE_ACCESS="true", TOURNIQUET_QUARANTINE_GROUP="quarantine")
        contained = all(succeeds(e, env) for e in events)
        # Then their release: the key by its id, the role by its ARN.
        released = all(run_tourniquet(["release", target], env)[0] == 0
                       for target in (key, f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"))
        return contained and released
    return run


def scenario_exposure_fix(moto):
    """Exposure fixes: SSH opened to the world (revoked, group tagged), and a trail stopped by a user (logging
    restarted, the user's key contained)."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    group = open_group(ec2, vpc, "exposed", [22])
    trail(moto.client("s3"), moto.client("cloudtrail"), "audit", bucket="audit-logs")
    [key] = moto.user_with_keys("trail-stopper", 1)
    ingress = cloudtrail_event("authorize-sg-ingress-ssh-world-legacy.json", "trail-stopper", key)
    ingress["detail"]["requestParameters"]["groupId"] = group
    stop = cloudtrail_event("stop-logging.json", "trail-stopper", key)
    stop["detail"]["requestParameters"] = {"name": "audit"}
    return lambda env: all(succeeds(e, env) for e in (ingress, stop))


def scenario_network_block(moto):
    """network-block: a port probe's addresses denied in the instance's subnet ACL (reads, entries, tag);
    block-expiry: a schedule removes an earlier block that is due (entries and tag)."""
    ec2 = moto.client("ec2")
    vpc, subnet, instance = instance_in_subnet(ec2, "10.1.0.0/16", "10.1.1.0/24")
    acl = acl_of(ec2, subnet)
    for egress in (False, True):  # an earlier block, due an hour ago
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=89, Protocol="-1", RuleAction="deny",
                                     Egress=egress, CidrBlock="203.0.113.89/32")
    ec2.create_tags(Resources=[acl], Tags=[{"Key": "tourniquet:block:89", "Value": "203.0.113.89/32|1|%d|tq-old"
                                            % (int(time.time()) - 3600)}])
    probe, schedule = port_probe_finding(instance, subnet, vpc), load_event("scheduled/expire-blocks.json")

    def run(env):
        blocked = succeeds(probe, env)
        code, response, _ = invoke(schedule, env)
        return blocked and code == 0 and "203.0.113.89/32" in json.dumps(response)
    return run


def scenario_opened_isolation_group(moto):
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
    event = instance_finding(instance)

    def run(env):
        return succeeds(event, env)
    return run


def scenario_function_containment(moto):
    """Two functions stopped (one with reserved concurrency, one with none; each role denied) and released:
    the recorded concurrency put back, and the limit deleted where there was none."""
    iam, lam = moto.client("iam"), moto.client("lambda")
    roles = {name: lambda_role(iam, f"{name}-role") for name in ("limited", "open")}
    lambda_function(lam, "limited", roles["limited"], reserved=3)
    lambda_function(lam, "open", roles["open"])
    events = [function_finding(name, role) for name, role in roles.items()]

    def run(env):
        contained = all(succeeds(e, env) for e in events)
        released = all(run_tourniquet(["release", name], env)[0] == 0 for name in roles)
        return contained and released
    return run


EVIDENCE_BUCKET = "tq-evidence-policy"


def scenario_evidence(moto):
    """An instance contained with TOURNIQUET_EVIDENCE_BUCKET set: its bundle (console output included) lands in an
    Object Lock bucket, through the statement limited to the bucket's prefix."""
    ec2, s3 = moto.client("ec2"), moto.client("s3")
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.1.0/24")["Subnet"]["SubnetId"]
    instance, _ = instance_on_interface(ec2, subnet)
    s3.create_bucket(Bucket=EVIDENCE_BUCKET, ObjectLockEnabledForBucket=True)
    event = instance_finding(instance)

    def run(env):
        code, response, _ = invoke(event, dict(env, TOURNIQUET_EVIDENCE_BUCKET=EVIDENCE_BUCKET,
                                               TOURNIQUET_EVIDENCE_PREFIX="incidents/"))
        return code == 0 and "console-output.txt" in json.dumps(response)
    return run


    return run


def scenario_instance_attachments(moto):
    """An instance holding a profile no other instance uses, in a target group as itself, in another by its
    address and in a classic load balancer: contained (profile detached, role revoked, all three
    deregistered), then released (profile and registrations back)."""
    ec2, iam = moto.client("ec2"), moto.client("iam")
    elbv2, elb = moto.client("elbv2"), moto.client("elb")
    vpc = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.3.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    instance, _ = instance_on_interface(ec2, subnet)
    ec2_role(iam, "app-role")
    profile = iam.create_instance_profile(InstanceProfileName="app-profile")["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName="app-profile", RoleName="app-role")
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile}, InstanceId=instance)
    address = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    for name, kind, target in (("app", "instance", instance), ("app-ip", "ip", address)):
        group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc,
                                          TargetType=kind)["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": target, "Port": 80}])
    elb.create_load_balancer(LoadBalancerName="legacy", Listeners=[
        {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}], AvailabilityZones=["us-east-1a"])
    elb.register_instances_with_load_balancer(LoadBalancerName="legacy", Instances=[{"InstanceId": instance}])
    event = instance_finding(instance)

    def run(env):
        code, response, _ = invoke(event, env)
        contained = code == 0 and response["reports"][0]["status"] == "contained"
        code, out, _ = run_tourniquet(["release", instance], env)
        return contained and code == 0 and json.loads(out)["status"] == "released"
    return run


# Actions AWS requires that moto never checks, so no scenario can show them needed: each with its reason.
UNCHECKABLE = {"iam:PassRole": "AssociateIamInstanceProfile passes the profile's role (release); moto checks no "
                               "PassRole"}

# Each playbook adds its scenario here: a function (moto) that builds its world with the checks
# off and returns run(env) -> True when the playbook did its whole job.
HUB = None  # the Security Hub stand-in (PolicyTest.setUpClass)


def scenario_securityhub(moto):
    """An analyst's TourniquetContain on a MEDIUM finding, confirmed with Security Hub (GetFindings), and the
    finding's note written back (TOURNIQUET_SECURITYHUB_UPDATES): the stand-in holding the note is the proof."""
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    instance, _ = instance_on_interface(ec2, subnet)
    event = load_event("securityhub/custom-action-contain-instance-medium.json")
    finding = event["detail"]["findings"][0]
    finding["Resources"][0]["Id"] = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{instance}"
    HUB.put_findings([finding])

    def run(env):
        code, response, _ = invoke(event, dict(env, TOURNIQUET_SECURITYHUB_UPDATES="true", **HUB.endpoint_env()))
        noted = [f for f in HUB.findings() if f["Id"] == finding["Id"] and "Note" in f]
        return code == 0 and bool(noted) and response["reports"][0]["status"] == "contained"
    return run


def scenario_bucket_protection(moto):
    """An exposed bucket whose public access block goes on (its record in its tags), and the account's."""
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="exposed")
    s3.put_bucket_tagging(Bucket="exposed", Tagging={"TagSet": [{"Key": "team", "Value": "finance"}]})
    s3.put_public_access_block(Bucket="exposed", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False, "RestrictPublicBuckets": False})
    bucket = bucket_finding("policy-s3-bucket-block-public-access-disabled.json", "exposed")
    account = guardduty_finding("policy-s3-account-block-public-access-disabled.json")

    def run(env):
        return succeeds(bucket, env) and succeeds(account, env)
    return run


SCENARIOS = [scenario_instance_containment, scenario_network_block, scenario_credential_containment,
             scenario_exposure_fix, scenario_notification,
             scenario_opened_isolation_group, scenario_function_containment, scenario_evidence,
             scenario_instance_attachments, scenario_securityhub, scenario_bucket_protection]


class PolicyTest(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The policy of a configuration with every option on, as the scenarios use them all.
        cls.policy = generated_policy(TOURNIQUET_REMOVE_CONSOLE_ACCESS="true", TOURNIQUET_QUARANTINE_GROUP="quarantine",
                                      TOURNIQUET_SNS_TOPIC_ARN=f"arn:aws:sns:us-east-1:{ACCOUNT}:x",
                                      TOURNIQUET_EVIDENCE_BUCKET=EVIDENCE_BUCKET, TOURNIQUET_EVIDENCE_PREFIX="incidents/",
                                      TOURNIQUET_SECURITYHUB_UPDATES="true")
        global HUB
        HUB = SecurityHubStandIn()
        cls.addClassCleanup(HUB.stop)
        cls.actions = policy_actions(cls.policy)

    def outcomes(self, statements, scenarios=SCENARIOS):
        """Runs `scenarios` as a principal allowed `statements`; returns {scenario name: succeeded}."""
        HUB.reset()
        # moto checks S3's public access block under names of its own: each IAM name brings moto's along.
        with self.moto.fresh_account(with_moto_s3_names(statements)) as account:
            runs = [(s.__name__, s(self.moto)) for s in scenarios]
        HUB.allow(account.responder, policy_actions(statements))
        env = self.moto.env_for(*account.responder, {"AWS_MAX_ATTEMPTS": "1"})
        return {name: run(env) for name, run in runs}

    def test_the_generated_policy_is_enough(self):
        outcomes = self.outcomes(self.policy)
        self.assertTrue(all(outcomes.values()), outcomes)

    def test_every_action_is_needed_by_some_scenario(self):
        # One failing scenario shows an action needed, so each runs alone (in an account of its own) until one
        # fails: first those that needed the most actions of the same service so far, then the rest. About
        # 2.5 scenarios per action were tried when this was written (170 runs in all, with the 11 alone), not 11.
        alone = {s.__name__: all(self.outcomes(self.policy, [s]).values()) for s in SCENARIOS}
        self.assertTrue(all(alone.values()), f"with the whole policy, a scenario alone must succeed: {alone}")
        unneeded, needing = [], collections.defaultdict(collections.Counter)  # service -> {scenario: actions}
        for action in [a for a in self.actions if a not in UNCHECKABLE]:
            keeping = policy_keeping(self.policy, lambda a: a != action)
            service = action.split(":")[0]
            order = sorted(SCENARIOS, key=lambda s: -needing[service][s])  # stable: ties in SCENARIOS' order
            failed = next((s for s in order if not all(self.outcomes(keeping, [s]).values())), None)
            if failed is None:
                unneeded.append(action)
            else:
                needing[service][failed] += 1
        self.assertEqual(unneeded, [], "these actions are in the policy but no scenario needs them")


if __name__ == "__main__":
    unittest.main()
