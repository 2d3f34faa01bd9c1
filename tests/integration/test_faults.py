"""Fault runs: every playbook, run many times against moto through tests/servers/aws_proxy.py answering a share
of the calls (30% by default) with throttling, 500, 503, dropped connections, answers dropped after the call
happened, and answers slower than the client's attempt timeout. Each run invokes the event, and re-invokes it
as Lambda retries a failed asynchronous invocation (twice), until `tourniquet invoke` exits 0: a run that needs
a fourth invocation fails, as it would not converge in Lambda. Then the world is read straight from moto (not
through the proxy) and must be exactly the contained state. No invocation may crash.

GuardDuty (the stand-in, where `invoke` stores each finding) is reached directly, not through the fault proxy.
TQ_FAULT_RUNS (default 100) sets the runs per playbook, TQ_FAULT_SHARE (0.3) the share of faulted calls,
TQ_FAULT_WORKERS (3) how many runs go at once, TQ_FAULT_MAX_ATTEMPTS Tourniquet's AWS_MAX_ATTEMPTS (default 3).
moto serves one call at a time and slows as its state grows (DescribeSnapshots and the security groups filtered
by tag scan everything), so moto is reset every TQ_FAULT_BATCH (20) runs: run 100 meets the moto run 1 met.
A summary per playbook (invocations needed, faults served) is printed, and written to $TQ_FAULT_SUMMARY if set.
"""
import collections
import concurrent.futures
import json
import os
import sys
import time
import unittest
import uuid

from moto_support import MotoTestCase, generated_policy, invoke
from proxy_support import AwsProxy
from test_bucket_protection import bucket_finding, with_moto_s3_names
from worlds import (acl_of, cloudtrail_event, cloudwatch_logs_event, credential_finding, ec2_role, function_finding,
                    instance_finding, instance_in_subnet, instance_on_interface, join_auto_scaling_group,
                    lambda_function, lambda_role, open_group, port_probe_finding, trail)

# Every option that makes a playbook do more is on, so that all of it runs under faults.
OPTIONS = {"TOURNIQUET_REMOVE_CONSOLE_ACCESS": "true", "TOURNIQUET_QUARANTINE_GROUP": "quarantine"}
SESSIONS_POLICY = "tourniquet-revoke-older-sessions"

RUNS = int(os.environ.get("TQ_FAULT_RUNS", "100"))
FAULT_SHARE = float(os.environ.get("TQ_FAULT_SHARE", "0.3"))
WORKERS = int(os.environ.get("TQ_FAULT_WORKERS", "3"))  # runs at once (each its own world)
BATCH = int(os.environ.get("TQ_FAULT_BATCH", "20"))      # runs between two resets of moto
LAMBDA_INVOCATIONS = 3  # Lambda's asynchronous invocation: the first and two retries
MAX_INVOCATIONS = LAMBDA_INVOCATIONS  # a run that needs more would not converge in Lambda
ATTEMPT_TIMEOUT_MS = 1000  # short, so that slow answers cost little; long enough for a busy moto's reads
SLOW_MS = 1300             # a "slow" answer comes after the client gave the attempt up
# Lambda retries a failed asynchronous invocation after a minute or more, long after any late call landed;
# here the wait only has to outlast the proxy's slow calls.
RETRY_DELAY_S = (SLOW_MS - ATTEMPT_TIMEOUT_MS) / 1000 + 0.3
ALL_FAULTS = ["ec2-throttle", "iam-throttle", "json-throttle", "500", "503", "drop", "slow", "drop-after"]
CRASH_MARKS = ("Sanitizer", "terminate called", "Segmentation fault", "Assertion", "runtime error")


def tags_of(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def report_of(response, playbook):
    reports = [r for r in response["reports"] if r["playbook"] == playbook]
    assert len(reports) == 1, f"one {playbook} report expected: {response}"
    return reports[0]


class FaultRunsTest(MotoTestCase):
    summaries = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = with_moto_s3_names(generated_policy(**OPTIONS))
        cls.proxy = AwsProxy(cls.moto.url, slow_ms=SLOW_MS, seed=8)

    @classmethod
    def fresh_moto(cls):
        """An empty moto with the responder's user (the generated policy), an admin and the quarantine group."""
        with cls.moto.fresh_account(cls.policy) as account:
            cls.moto.client("iam").create_group(GroupName="quarantine")
        cls.responder = account.responder
        cls.ec2 = cls.moto.client("ec2", *account.admin)
        cls.autoscaling = cls.moto.client("autoscaling", *account.admin)
        cls.iam = cls.moto.client("iam", *account.admin)
        cls.cloudtrail = cls.moto.client("cloudtrail", *account.admin)
        cls.s3 = cls.moto.client("s3", *account.admin)
        cls.lam = cls.moto.client("lambda", *account.admin)
        cls.elbv2 = cls.moto.client("elbv2", *account.admin)

    def setUp(self):
        self.fresh_moto()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        lines = [f"fault runs, {FAULT_SHARE:.0%} of calls faulted:"]
        for name, s in cls.summaries.items():
            needed = ", ".join(f"{k} invocation{'s' if k > 1 else ''}: {v}" for k, v in sorted(s["needed"].items()))
            lines.append(f"  {name}: {s['runs']} runs in {s['seconds']:.0f} s; {needed}; "
                         f"calls {s['proxy']['requests']}, faults {json.dumps(s['proxy']['faults'], sort_keys=True)}")
        print("\n".join(lines), file=sys.stderr)
        if os.environ.get("TQ_FAULT_SUMMARY"):
            with open(os.environ["TQ_FAULT_SUMMARY"], "w") as f:
                json.dump(cls.summaries, f, indent=2, sort_keys=True)

    def env(self, extra=None):
        return self.moto.env_for(*self.responder, dict({
            "AWS_ENDPOINT_URL": self.proxy.url, "TOURNIQUET_ATTEMPT_TIMEOUT_MS": str(ATTEMPT_TIMEOUT_MS),
            "TOURNIQUET_LOCAL_TIMEOUT_MS": "30000", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_MAX_ATTEMPTS": os.environ.get("TQ_FAULT_MAX_ATTEMPTS", "3"), **OPTIONS}, **(extra or {})))

    def converge(self, event, env):
        """Invokes as Lambda would (the first time and two retries) until exit 0; returns (invocations, response)."""
        why = []
        for invocation in range(1, MAX_INVOCATIONS + 1):
            code, response, err = invoke(event, env, timeout=90)
            crashed = [m for m in CRASH_MARKS if m in err]
            self.assertFalse(crashed or code not in (0, 1), f"invocation {invocation} crashed (exit {code}):\n{err[-3000:]}")
            if code == 0:
                return invocation, response
            # The error says what was and was not done: what a failed run is judged by.
            why.append(next((l for l in err.splitlines() if l.startswith("tourniquet invoke:")), err[-2000:])[:2000])
            if os.environ.get("TQ_FAULT_LOG"):  # why invocations fail, for whoever tunes this
                with open(os.environ["TQ_FAULT_LOG"], "a") as f:
                    f.write(why[-1] + "\n")
            time.sleep(RETRY_DELAY_S)
        self.fail(f"no convergence in {MAX_INVOCATIONS} invocations:\n" + "\n".join(why))

    def run_many(self, name, make_world, make_event, check):
        """RUNS runs of one playbook: a fresh world each, the event re-invoked until it succeeds, the state checked."""
        self.proxy.configure(fault_share=FAULT_SHARE, faults=ALL_FAULTS, actions=[], limit=None)
        self.proxy.reset()
        needed = collections.Counter()
        started = time.monotonic()
        failures = []

        def one(run):
            world = make_world(run)
            invocations, response = self.converge(make_event(world), self.env())
            check(world, response)
            return invocations

        for first in range(0, RUNS, BATCH):
            if first > 0:
                self.fresh_moto()  # between batches, when no run is under way
            with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
                futures = {pool.submit(one, run): run for run in range(first, min(first + BATCH, RUNS))}
                for future in concurrent.futures.as_completed(futures):
                    try:
                        needed[future.result()] += 1
                    except Exception as e:  # an assertion, or a state so wrong that reading it failed
                        failures.append(f"run {futures[future]}: {type(e).__name__}: {e}")
        stats = self.proxy.stats()
        self.summaries[name] = {"runs": RUNS, "seconds": time.monotonic() - started, "needed": dict(needed),
                                "proxy": stats, "failures": failures}
        self.assertEqual(failures, [], f"{len(failures)} of {RUNS} runs went wrong")
        self.assertGreater(sum(stats["faults"].values()), RUNS, "the proxy served too few faults to mean anything")

    # --- instance containment ---------------------------------------------------------------------------

    def instance_world(self, run):
        ec2, autoscaling = self.ec2, self.autoscaling
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]  # a new VPC: its groups are made under faults
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
        ssh = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
        instance, eni = instance_on_interface(ec2, subnet, [web, ssh], InstanceType="t3.micro")
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
        join_auto_scaling_group(autoscaling, ec2, instance, subnet, f"asg-{run}-{uuid.uuid4().hex[:6]}")
        # Its own instance profile (so its role is revoked) and a target group it serves.
        name = f"r{run}-{uuid.uuid4().hex[:6]}"
        ec2_role(self.iam, name)
        profile = self.iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
        self.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile}, InstanceId=instance)
        group = self.elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc,
                                               TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        self.elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance, "Port": 80}])
        return {"vpc": vpc, "instance": instance, "interfaces": {eni: sorted([web, ssh])},
                "finding": uuid.uuid4().hex, "acl": acl_of(ec2, subnet), "role": name, "profile": profile,
                "target_group": group}

    def instance_event(self, world):
        return instance_finding(world["instance"], id=world["finding"])

    def check_instance(self, world, response):
        ec2 = self.ec2
        self.assertEqual(report_of(response, "instance-containment")["status"], "contained", response)
        # The sample's remote address is denied in the instance's subnet too.
        self.assertEqual(report_of(response, "network-block")["status"], "blocked", response)
        self.check_denied(world["acl"], ["198.51.100.23/32"])
        instance = ec2.describe_instances(InstanceIds=[world["instance"]])["Reservations"][0]["Instances"][0]
        managed = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [world["vpc"]]},
                                                        {"Name": "tag-key", "Values": ["tourniquet:role"]}])["SecurityGroups"]
        roles = collections.defaultdict(list)
        for g in managed:
            roles[tags_of(g)["tourniquet:role"]].append(g)
        self.assertEqual((len(roles["isolation"]), len(roles["untrack"])), (1, 1), f"managed groups: {managed}")
        isolation, untrack = roles["isolation"][0], roles["untrack"][0]
        self.assertEqual((isolation["IpPermissions"], isolation["IpPermissionsEgress"]), ([], []),
                         "the isolation group must let nothing in or out")
        for direction in ("IpPermissions", "IpPermissionsEgress"):
            rules = [p for p in untrack[direction] if p["IpProtocol"] == "-1"]
            self.assertEqual(({r["CidrIp"] for p in rules for r in p["IpRanges"]},
                              {r["CidrIpv6"] for p in rules for r in p["Ipv6Ranges"]}),
                             ({"0.0.0.0/0"}, {"::/0"}), f"untrack group {direction}")
        for n in instance["NetworkInterfaces"]:
            self.assertEqual([g["GroupId"] for g in n["Groups"]], [isolation["GroupId"]], "an interface is not isolated")
        attribute = lambda name: ec2.describe_instance_attribute(InstanceId=world["instance"], Attribute=name)
        self.assertTrue(attribute("disableApiTermination")["DisableApiTermination"]["Value"])
        self.assertEqual(attribute("instanceInitiatedShutdownBehavior")["InstanceInitiatedShutdownBehavior"]["Value"], "stop")
        self.assertTrue(all(not b["Ebs"]["DeleteOnTermination"] for b in instance["BlockDeviceMappings"]))
        self.assertEqual(self.autoscaling.describe_auto_scaling_instances(InstanceIds=[world["instance"]])[
            "AutoScalingInstances"], [], "still in its Auto Scaling group")
        snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:tourniquet:finding-id", "Values": [world["finding"]]}])["Snapshots"]
        volumes = sorted(b["Ebs"]["VolumeId"] for b in instance["BlockDeviceMappings"])
        self.assertEqual(sorted(s["VolumeId"] for s in snapshots), volumes, "one snapshot per volume, no more")
        tags = tags_of(instance)
        self.assertEqual(tags.get("tourniquet:status"), "contained")
        self.assertEqual(ec2.describe_iam_instance_profile_associations(Filters=[
            {"Name": "instance-id", "Values": [world["instance"]]}])["IamInstanceProfileAssociations"], [],
            "the instance profile is still attached")
        self.assertEqual(tags.get("tourniquet:instance-profile"), world["profile"])
        self.assertEqual(self.iam.list_role_policies(RoleName=world["role"])["PolicyNames"], [SESSIONS_POLICY])
        self.assertEqual(self.elbv2.describe_target_health(TargetGroupArn=world["target_group"])[
            "TargetHealthDescriptions"], [], "still registered in its target group")
        self.assertIn("tourniquet:load-balancers", tags)
        record = tags.get("tourniquet:record", "")
        self.assertTrue(record.startswith(f"v1;n=1;f={world['finding']};"), tags)
        in_record = dict(entry.split(":") for entry in record.split(";i=")[1].split(","))
        for eni, before in world["interfaces"].items():
            own = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
            own = {t["Key"]: t["Value"] for t in own.get("TagSet", [])}
            self.assertIn("tourniquet:prior-groups", own, "the groups to restore on release are lost")
            self.assertEqual(sorted(own["tourniquet:prior-groups"].split(",")), before)
            self.assertEqual(sorted(in_record[eni].split("+")), before, record)

    def test_instance_containment_converges_under_faults(self):
        # The sample finding calls for instance containment and a network block at once.
        self.run_many("instance-containment + network-block", self.instance_world, self.instance_event,
                      self.check_instance)

    # --- network block --------------------------------------------------------------------------------

    def check_denied(self, acl_id, cidrs, window=(71, 90)):
        """Each CIDR denied both ways under one rule number in the window, recorded in one tag; nothing else."""
        acl = self.ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]
        denies = collections.defaultdict(set)
        for e in acl["Entries"]:
            if e["RuleAction"] == "deny" and window[0] <= e["RuleNumber"] <= window[1]:
                denies[e["RuleNumber"]].add((e["Egress"], e.get("CidrBlock") or e.get("Ipv6CidrBlock")))
        by_cidr = collections.defaultdict(list)
        for number, entries in denies.items():
            self.assertEqual(len({c for _, c in entries}), 1, f"rule {number} mixes addresses: {entries}")
            self.assertEqual({egress for egress, _ in entries}, {True, False}, f"rule {number} denies one way only")
            by_cidr[next(iter(entries))[1]].append(number)
        self.assertEqual(sorted(by_cidr), sorted(cidrs), f"denied: {dict(by_cidr)}")
        for cidr, numbers in by_cidr.items():
            self.assertEqual(len(numbers), 1, f"{cidr} is denied under several rule numbers: {numbers}")
        tags = {k: v for k, v in tags_of(acl).items() if k.startswith("tourniquet:block:")}
        self.assertEqual({k: v.split("|")[0] for k, v in tags.items()},
                         {f"tourniquet:block:{n[0]}": c for c, n in by_cidr.items()}, "the tags and the rules disagree")

    def probe_world(self, run):
        vpc, subnet, instance = instance_in_subnet(self.ec2, "10.0.0.0/16", "10.0.1.0/24")
        addresses = [f"203.0.113.{(run * 3 + i) % 250 + 1}" for i in range(3)]
        return {"vpc": vpc, "subnet": subnet, "instance": instance, "acl": acl_of(self.ec2, subnet),
                "addresses": addresses}

    def probe_event(self, world):
        return port_probe_finding(world["instance"], world["subnet"], world["vpc"], world["addresses"])

    def check_probe(self, world, response):
        self.assertEqual(report_of(response, "network-block")["status"], "blocked", response)
        self.check_denied(world["acl"], [a + "/32" for a in world["addresses"]])

    def test_network_block_converges_under_faults(self):
        self.run_many("network-block", self.probe_world, self.probe_event, self.check_probe)

    # --- credential containment -----------------------------------------------------------------------

    def credential_world(self, run):
        user = f"leaky-{run}-{uuid.uuid4().hex[:6]}"
        self.iam.create_user(UserName=user)
        keys = [self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)]
        self.iam.create_login_profile(UserName=user, Password="Correct-Horse-9")
        return {"user": user, "stolen": keys[0], "other": keys[1]}

    def credential_event(self, world):
        return credential_finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", world["user"],
                                  world["stolen"])

    def check_caller_contained(self, user, stolen, other):
        iam = self.iam
        keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
        self.assertEqual(keys, {stolen: "Inactive", other: "Active"}, "only the stolen key is deactivated")
        self.assertEqual(iam.list_user_policies(UserName=user)["PolicyNames"], [SESSIONS_POLICY])
        document = iam.get_user_policy(UserName=user, PolicyName=SESSIONS_POLICY)["PolicyDocument"]
        self.assertIn("aws:TokenIssueTime", json.dumps(document))
        with self.assertRaises(iam.exceptions.NoSuchEntityException, msg="the console password is still there"):
            iam.get_login_profile(UserName=user)
        self.assertEqual([g["GroupName"] for g in iam.list_groups_for_user(UserName=user)["Groups"]], ["quarantine"])
        self.assertEqual(tags_of({"Tags": iam.list_user_tags(UserName=user)["Tags"]}).get("tourniquet:access-key"), stolen)

    def check_credentials(self, world, response):
        self.assertEqual(report_of(response, "credential-containment")["status"], "contained", response)
        self.check_caller_contained(world["user"], world["stolen"], world["other"])

    def test_credential_containment_converges_under_faults(self):
        self.run_many("credential-containment", self.credential_world, self.credential_event, self.check_credentials)

    # --- exposure fixes -------------------------------------------------------------------------------

    def exposure_world(self, run):
        world = self.credential_world(run)
        ec2 = self.ec2
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        world["group"] = open_group(ec2, vpc, "web", [22, 443])
        world["trail"] = f"audit-{run}-{uuid.uuid4().hex[:6]}"
        trail(self.s3, self.cloudtrail, world["trail"])
        return world  # the trail was never started: as good as stopped

    def exposure_event(self, world):
        """A CloudWatch Logs batch of two records by the same user: SSH opened to the world, the trail stopped."""
        caller = world["user"], world["stolen"]
        ingress = cloudtrail_event("authorize-sg-ingress-ssh-world-legacy.json", *caller)["detail"]
        ingress["requestParameters"]["groupId"] = world["group"]
        stop = cloudtrail_event("stop-logging.json", *caller)["detail"]
        stop["requestParameters"]["name"] = world["trail"]
        return cloudwatch_logs_event([ingress, stop])

    def check_exposure(self, world, response):
        fixes = [r for r in response["reports"] if r["playbook"] == "exposure-fix"]
        self.assertEqual(sorted(r["status"] for r in fixes), ["contained", "contained"], response)
        rules = self.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [world["group"]]}])[
            "SecurityGroupRules"]
        self.assertEqual(sorted((r["FromPort"], r.get("CidrIpv4")) for r in rules if not r["IsEgress"]),
                         [(443, "0.0.0.0/0")], "SSH is still open to the world, or 443 was closed")
        self.assertTrue(self.cloudtrail.get_trail_status(Name=world["trail"])["IsLogging"], "the trail is not logging")
        self.check_caller_contained(world["user"], world["stolen"], world["other"])

    def test_exposure_fixes_converge_under_faults(self):
        self.run_many("exposure-fix", self.exposure_world, self.exposure_event, self.check_exposure)

    # --- function containment -------------------------------------------------------------------------

    def function_world(self, run):
        name = f"fn-{run}-{uuid.uuid4().hex[:6]}"
        role = lambda_role(self.iam, f"{name}-role")
        lambda_function(self.lam, name, role, reserved=5)
        return {"name": name, "role": role}

    def function_event(self, world):
        return function_finding(world["name"], world["role"])

    def check_function(self, world, response):
        self.assertEqual(report_of(response, "function-containment")["status"], "contained", response)
        name = world["name"]
        self.assertEqual(self.lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions"), 0)
        tags = self.lam.get_function(FunctionName=name).get("Tags", {})
        self.assertEqual(tags.get("tourniquet:prior-concurrency"), "5", "the record of its concurrency is lost")
        self.assertEqual(tags.get("tourniquet:status"), "contained")
        role = world["role"].rsplit("/", 1)[1]
        self.assertEqual(self.iam.list_role_policies(RoleName=role)["PolicyNames"], [SESSIONS_POLICY])

    def test_function_containment_converges_under_faults(self):
        self.run_many("function-containment", self.function_world, self.function_event, self.check_function)
    # --- bucket protection ------------------------------------------------------------------------------

    def bucket_world(self, run):
        bucket = f"exposed-{run}-{uuid.uuid4().hex[:6]}"
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "finance"}]})
        self.s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False})
        return {"bucket": bucket}

    def bucket_event(self, world):
        return bucket_finding("policy-s3-bucket-block-public-access-disabled.json", world["bucket"])

    def check_bucket(self, world, response):
        self.assertEqual(report_of(response, "bucket-protection")["status"], "contained", response)
        block = self.s3.get_public_access_block(Bucket=world["bucket"])["PublicAccessBlockConfiguration"]
        self.assertTrue(all(block.values()), block)
        tags = {t["Key"]: t["Value"] for t in self.s3.get_bucket_tagging(Bucket=world["bucket"])["TagSet"]}
        self.assertEqual(tags["team"], "finance", "the bucket's own tags are kept")
        self.assertEqual(tags["tourniquet:prior-public-access-block"], "1000", "the record is what was there before")
        self.assertEqual(tags["tourniquet:status"], "contained")

    def test_bucket_protection_converges_under_faults(self):
        self.run_many("bucket-protection", self.bucket_world, self.bucket_event, self.check_bucket)

    # --- the two faults that once left a wrong state, one at a time ------------------------------------

    def fault_once(self, kind, action, times=1):
        self.proxy.configure(fault_share=1.0, faults=[kind], actions=[action], limit=times)
        self.proxy.reset()
        self.addCleanup(self.proxy.configure, fault_share=0.0, actions=[], limit=None)

    def test_snapshots_whose_answer_was_lost_are_not_taken_twice(self):
        world = self.instance_world(0)
        event = self.instance_event(world)
        self.fault_once("drop-after", "CreateSnapshots")  # CreateSnapshots happens; its answer is lost
        # Not sent again blind: the next pass of the same invocation reads the snapshots, finds them and is done.
        code, response, err = invoke(event, self.env())
        self.assertEqual(code, 0, err)
        self.assertEqual(self.proxy.stats()["faults"], {"drop-after": 1})
        report = report_of(response, "instance-containment")
        self.assertEqual(report["details"]["passes"], [{"pass": 1, "status": "incomplete",
                                                        "failed": [f"snapshot-volumes {world['instance']}: ConnectionError"]}])
        self.assertIn("must not be done twice", err)
        self.check_instance(world, response)  # exactly one snapshot per volume

    def test_a_throttled_isolation_is_finished_by_another_pass(self):
        world = self.instance_world(0)
        event = self.instance_event(world)
        # The untrack call is throttled on all three attempts: the isolation behind it cannot go out.
        self.fault_once("ec2-throttle", "ModifyNetworkInterfaceAttribute", times=3)
        code, response, err = invoke(event, self.env({"TOURNIQUET_MAX_PASSES": "1"}))
        self.assertEqual(code, 1, "with one pass the invocation is left incomplete: " + err)
        self.assertIn("RequestLimitExceeded", err)

        world = self.instance_world(1)
        event = self.instance_event(world)
        self.fault_once("ec2-throttle", "ModifyNetworkInterfaceAttribute", times=3)
        code, response, err = invoke(event, self.env())
        self.assertEqual(code, 0, "the second pass of the same invocation isolates: " + err)
        self.assertEqual(self.proxy.stats()["faults"], {"ec2-throttle": 3})
        report = report_of(response, "instance-containment")
        self.assertEqual([p["pass"] for p in report["details"]["passes"]], [1])
        self.assertTrue(any("RequestLimitExceeded" in f for f in report["details"]["passes"][0]["failed"]), report)
        self.check_instance(world, response)

    def test_a_rule_whose_answer_was_lost_is_in_place_not_failed(self):
        world = self.instance_world(0)
        event = self.instance_event(world)
        # The untrack group's first rule is added, its answer lost; the retry is refused as a duplicate.
        self.fault_once("drop-after", "AuthorizeSecurityGroupIngress")
        code, response, err = invoke(event, self.env({"TOURNIQUET_MAX_PASSES": "1"}))
        self.assertEqual(code, 0, "a duplicate of a rule just added is that rule in place: " + err)
        self.assertEqual(self.proxy.stats()["faults"], {"drop-after": 1})
        report = report_of(response, "instance-containment")
        details = [a.get("detail", "") for a in report["actions"] if a["outcome"] == "already"]
        self.assertTrue(any("in place already: InvalidPermission.Duplicate" in d for d in details), report)
        self.check_instance(world, response)

    def test_a_deny_whose_answer_was_lost_is_adopted_not_orphaned(self):
        world = self.probe_world(7)
        event = self.probe_event(world)
        # The first create (the claim on a rule number) happens, its answer is lost, and the retry is refused
        # as a duplicate: the deny must still end up complete, recorded, and under one number.
        self.fault_once("drop-after", "CreateNetworkAclEntry")
        invocations, response = self.converge(event, self.env())
        self.assertEqual(self.proxy.stats()["faults"], {"drop-after": 1})
        self.check_probe(world, response)

    def test_an_untrack_call_landing_late_cannot_leave_the_interface_open(self):
        world = self.instance_world(0)
        event = self.instance_event(world)
        # The first interface call (the untrack) reaches EC2 only after the client gave up on it, retried it,
        # and isolated the interface: it lands last and opens the interface again.
        self.fault_once("slow", "ModifyNetworkInterfaceAttribute")
        code, response, err = invoke(event, self.env({"TOURNIQUET_MAX_PASSES": "1"}))
        self.assertEqual(code, 1, "one pass cannot know where the late call lands: " + err)
        self.assertIn("IsolationUnverified", err)
        time.sleep(RETRY_DELAY_S)
        untrack = self.ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [world["vpc"]]}, {"Name": "tag:tourniquet:role", "Values": ["untrack"]}])[
            "SecurityGroups"][0]["GroupId"]
        self.assertEqual(self.interface_groups(world), [untrack], "the late untrack call did land last")
        invocations, response = self.converge(event, self.env())
        self.assertEqual(invocations, 1)
        self.check_instance(world, response)

    def test_the_next_pass_waits_for_a_late_untrack_call_and_isolates_again(self):
        world = self.instance_world(1)
        event = self.instance_event(world)
        self.fault_once("slow", "ModifyNetworkInterfaceAttribute")
        code, response, err = invoke(event, self.env())
        self.assertEqual(code, 0, "the second pass waits out the lost call, reads the interface, isolates it: " + err)
        report = report_of(response, "instance-containment")
        self.assertEqual(report["details"]["passes"][0]["failed"],
                         [f"read-instance {next(iter(world['interfaces']))}: IsolationUnverified"], report)
        time.sleep(RETRY_DELAY_S)  # nothing is left in flight to land later still
        self.check_instance(world, response)

    def interface_groups(self, world):
        return [g["GroupId"] for g in self.ec2.describe_network_interfaces(
            NetworkInterfaceIds=list(world["interfaces"]))["NetworkInterfaces"][0]["Groups"]]

if __name__ == "__main__":
    unittest.main()
