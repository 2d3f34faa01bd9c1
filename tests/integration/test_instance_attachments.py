"""Instance containment's credential and load balancer steps end to end, against moto_server with its signature
and IAM checks on, Tourniquet acting as a principal holding exactly the generated policy: the instance profile
detached and its role's older sessions denied (unless another instance shares it), the instance deregistered
from an instance target group and an IP target group, a replay that changes nothing, release putting both back,
and a dry run that changes nothing. Through tests/servers/aws_proxy.py, the round trips: a warm containment with
a profile and target groups done in 5, isolated in 3, nothing detached before its record landed; attachment
reads that fail holding isolation back by none."""
import json

from moto_support import ACCOUNT, run_tourniquet
from proxy_support import AwsProxy, round_trip_depths
from worlds import InstanceWorldTestCase, ec2_role, instance_finding, instance_on_interface

REVOKE_POLICY = "tourniquet-revoke-older-sessions"


class InstanceAttachmentsTest(InstanceWorldTestCase):
    def setUp(self):
        super().setUp()
        self.moto.open_auth()
        ec2, iam, elbv2 = self.moto.client("ec2"), self.moto.client("iam"), self.moto.client("elbv2")
        ec2_role(iam, "web-role")
        self.profile = iam.create_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName="web-profile", RoleName="web-role")
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": self.profile}, InstanceId=self.world.instance)
        self.address = self.world.describe(ec2)["PrivateIpAddress"]
        self.by_instance = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=self.world.vpc,
                                                     TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        self.by_address = elbv2.create_target_group(Name="api", Protocol="HTTP", Port=8443, VpcId=self.world.vpc,
                                                    TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=self.by_instance, Targets=[{"Id": self.world.instance, "Port": 80}])
        elbv2.register_targets(TargetGroupArn=self.by_address, Targets=[{"Id": self.address, "Port": 8443}])
        self.moto.enforce_auth()
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.iam = self.moto.client("iam", *self.admin)
        self.elbv2 = self.moto.client("elbv2", *self.admin)

    def invoke(self, event, extra=None, args=()):
        from moto_support import invoke
        code, response, err = invoke(event, self.moto.env_for(*self.responder, extra), args)
        self.assertEqual(code, 0, err)
        return response["reports"][0]

    def associated(self, instance=None):
        return [a["IamInstanceProfile"]["Arn"] for a in self.ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance or self.world.instance]}])[
            "IamInstanceProfileAssociations"] if a["State"] in ("associated", "associating")]

    def role_policies(self):
        return self.iam.list_role_policies(RoleName="web-role")["PolicyNames"]

    def targets(self, group):
        return sorted((t["Target"]["Id"], t["Target"].get("Port")) for t in
                      self.elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"])

    def tags(self):
        return {t["Key"]: t["Value"] for t in self.world.describe(self.ec2).get("Tags", [])}

    def test_one_invocation_detaches_revokes_and_deregisters_and_a_replay_changes_nothing(self):
        event = instance_finding(self.world.instance)
        report = self.invoke(event)
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(self.associated(), [], "the instance profile is still attached")
        self.assertEqual(self.role_policies(), [REVOKE_POLICY])
        document = self.iam.get_role_policy(RoleName="web-role", PolicyName=REVOKE_POLICY)["PolicyDocument"]
        condition = document["Statement"][0]["Condition"]["DateLessThan"]
        self.assertIn("aws:TokenIssueTime", condition)
        self.assertEqual(self.targets(self.by_instance), [])
        self.assertEqual(self.targets(self.by_address), [])
        tags = self.tags()
        self.assertEqual(tags["tourniquet:instance-profile"], self.profile)
        self.assertTrue(tags["tourniquet:load-balancers"].startswith("v1;n=1;"), tags)
        self.assertEqual(report["details"]["instanceProfile"]["sharedWith"], 0)
        self.assertEqual(len(report["details"]["loadBalancers"]["targets"]), 2, report)

        before = (self.tags(), self.iam.get_role_policy(RoleName="web-role", PolicyName=REVOKE_POLICY))
        replay = self.invoke(event)
        self.assertEqual({a["outcome"] for a in replay["actions"]}, {"already"}, replay)
        after = (self.tags(), self.iam.get_role_policy(RoleName="web-role", PolicyName=REVOKE_POLICY))
        self.assertEqual(before[0], after[0])
        self.assertEqual(before[1]["PolicyDocument"], after[1]["PolicyDocument"], "a replay moved the revoke")

        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        self.assertEqual(json.loads(out)["status"], "released", out)
        self.assertEqual(self.associated(), [self.profile])
        self.assertEqual(self.targets(self.by_instance), [(self.world.instance, 80)])
        self.assertEqual(self.targets(self.by_address), [(self.address, 8443)])
        self.assertEqual(self.role_policies(), [REVOKE_POLICY], "release must keep the revoke: it is evidence")
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        again = json.loads(out)
        done = [a for a in again["actions"] if a["outcome"] == "done"]
        self.assertEqual(done, [], "a replayed release changed something")
        self.assertEqual(self.associated(), [self.profile])
        # A person lifts the revoke by releasing the role, as for any role credential containment revoked.
        code, out, err = run_tourniquet(["release", f"arn:aws:iam::{ACCOUNT}:role/web-role"],
                                        self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        self.assertEqual(self.role_policies(), [], "the role's release did not lift the revoke")

    def test_release_never_associates_a_profile_the_instance_tag_was_rewritten_to_name(self):
        self.moto.open_auth()
        iam = self.moto.client("iam")
        ec2_role(iam, "admin-role")
        admin = iam.create_instance_profile(InstanceProfileName="admin-profile")["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName="admin-profile", RoleName="admin-role")
        self.moto.enforce_auth()
        self.assertEqual(self.invoke(instance_finding(self.world.instance))["status"], "contained")
        tags = self.iam.get_instance_profile(InstanceProfileName="web-profile")["InstanceProfile"]["Tags"]
        self.assertIn(f"tourniquet:detached-from:{self.world.instance}", [t["Key"] for t in tags])
        # Whoever holds a role that may tag the instance names a more powerful profile.
        self.ec2.create_tags(Resources=[self.world.instance], Tags=[{"Key": "tourniquet:instance-profile",
                                                                      "Value": admin}])
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(self.associated(), [], "release associated the profile a rewritten tag names")
        report = json.loads(out)
        self.assertEqual(report["status"], "incomplete", report)
        self.assertTrue(any("does not say it was detached" in a.get("detail", "") for a in report["actions"]), report)

    def test_a_shared_profile_is_detached_but_its_role_not_revoked_and_the_report_says_so(self):
        self.moto.open_auth()
        ec2 = self.moto.client("ec2")
        other, _ = instance_on_interface(ec2, self.world.subnets[1])
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": self.profile}, InstanceId=other)
        self.moto.enforce_auth()
        report = self.invoke(instance_finding(self.world.instance))
        self.assertEqual(report["status"], "escalate", report)
        self.assertIn("1 other instance", report["reason"])
        self.assertIn("TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE=true", report["reason"])
        self.assertEqual(self.associated(), [])
        self.assertEqual(self.associated(other), [self.profile], "the other instance lost its profile")
        self.assertEqual(self.role_policies(), [])
        self.assertEqual(self.targets(self.by_instance), [])

        forced = self.invoke(instance_finding(self.world.instance), {"TOURNIQUET_REVOKE_SHARED_INSTANCE_ROLE": "true"})
        self.assertEqual(forced["status"], "contained", forced)
        self.assertEqual(self.role_policies(), [REVOKE_POLICY])

    def warm_and_proxied(self, **faults):
        """Another instance of the VPC contained first (the untrack and isolation groups are there already),
        then a proxy that answers after 100 ms, so that a batch's calls all arrive before any answer; returns
        the proxy and the environment that goes through it, as bench/containment_bench.py measures: the account
        known (no sts call), the playbook alone (the finding's network block off)."""
        self.moto.open_auth()
        other, _ = instance_on_interface(self.moto.client("ec2"), self.world.subnets[1])
        self.moto.enforce_auth()
        self.assertEqual(self.invoke(instance_finding(other))["status"], "contained")
        proxy = AwsProxy(self.moto.url, delay_ms=100)
        self.addCleanup(proxy.stop)
        if faults:
            proxy.configure(**faults)
        return proxy, {"AWS_ENDPOINT_URL": proxy.url, "TOURNIQUET_ACCOUNT_ID": ACCOUNT,
                       "TOURNIQUET_BLOCK_MIN_SEVERITY": "10"}

    def isolation_depth(self, report, calls, trace):
        isolation = {a["detail"].split("-> ")[-1] for a in report["actions"] if a["action"] == "isolate-interface"}
        isolations = [c for c in calls if c["action"] == "ModifyNetworkInterfaceAttribute"
                      and c["params"].get("SecurityGroupId.1") in isolation]
        self.assertEqual(len(isolations), 2, trace)
        for n in self.ec2.describe_network_interfaces(Filters=[
                {"Name": "attachment.instance-id", "Values": [self.world.instance]}])["NetworkInterfaces"]:
            self.assertEqual([g["GroupId"] for g in n["Groups"]], list(isolation), "an interface is not isolated")
        return max(c["depth"] for c in isolations)

    def test_a_warm_containment_with_a_profile_and_target_groups_takes_five_round_trips(self):
        proxy, env = self.warm_and_proxied()
        report = self.invoke(instance_finding(self.world.instance), env)
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(self.associated(), [])
        self.assertEqual(self.targets(self.by_instance), [])
        calls = round_trip_depths(proxy.log())
        trace = "\n".join(f"{c['depth']} {c['action']}" for c in calls)
        self.assertLessEqual(self.isolation_depth(report, calls, trace), 3, trace)
        self.assertLessEqual(max(c["depth"] for c in calls), 5, trace)
        self.assertEqual(report["timing"]["roundTrips"], max(c["depth"] for c in calls), "the report counts them")
        # Nothing is detached or deregistered before the record of it has landed.
        record = [c for c in calls if c["action"] == "CreateTags"
                  and "tourniquet:instance-profile" in c["params"].values()]
        changes = [c for c in calls if c["action"] in ("DisassociateIamInstanceProfile", "DeregisterTargets")]
        self.assertEqual(len(record), 1, trace)
        self.assertEqual(len(changes), 3, trace)
        self.assertTrue(all(c["time"] >= record[0]["answered"] for c in changes), trace)

    def test_the_targets_of_many_target_groups_are_read_after_isolation(self):
        self.moto.open_auth()
        elbv2 = self.moto.client("elbv2")
        for i in range(20):  # with the two of setUp, more than are read beside the untrack
            elbv2.create_target_group(Name=f"idle-{i}", Protocol="HTTP", Port=80, VpcId=self.world.vpc,
                                      TargetType="instance")
        self.moto.enforce_auth()
        proxy, env = self.warm_and_proxied()
        report = self.invoke(instance_finding(self.world.instance), env)
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(report["details"]["loadBalancers"]["targetGroupsSearched"], 22, report)
        self.assertEqual((self.targets(self.by_instance), self.targets(self.by_address)), ([], []))
        calls = round_trip_depths(proxy.log())
        trace = "\n".join(f"{c['depth']} {c['action']}" for c in calls)
        self.assertLessEqual(self.isolation_depth(report, calls, trace), 3, trace)
        health = [c for c in calls if c["action"] == "DescribeTargetHealth"]
        isolated = max(c["answered"] for c in calls if c["action"] == "ModifyNetworkInterfaceAttribute")
        self.assertEqual(len(health), 22, trace)
        self.assertTrue(all(c["time"] >= isolated for c in health), trace)

    def test_attachment_reads_that_fail_hold_isolation_back_by_no_round_trip_and_change_nothing_of_theirs(self):
        # The association and the listings answer 500 (no retry): what they would have found is not known.
        proxy, env = self.warm_and_proxied(fault_share=1.0, faults=["500"], actions=[
            "DescribeIamInstanceProfileAssociations", "DescribeTargetGroups", "DescribeLoadBalancers"])
        from moto_support import invoke
        code, response, err = invoke(instance_finding(self.world.instance),
                                     self.moto.env_for(*self.responder, dict(env, AWS_MAX_ATTEMPTS="1")))
        self.assertNotEqual(code, 0, "an incomplete containment fails the invocation, for Lambda to retry")
        self.assertEqual(response["errorType"], "Function.ContainmentIncomplete", response)
        finished = [line for line in err.splitlines() if "playbook finished" in line]
        report = json.loads(finished[-1].split("report=", 1)[1])
        self.assertEqual(report["status"], "incomplete", report)
        calls = round_trip_depths(proxy.log())
        trace = "\n".join(f"{c['depth']} {c['action']} {c['status']}" for c in calls)
        self.assertLessEqual(self.isolation_depth(report, calls, trace), 3, trace)
        self.assertEqual(self.associated(), [self.profile], "detached with its association unread")
        self.assertEqual(self.targets(self.by_instance), [(self.world.instance, 80)])
        failed = {(a["action"], a["target"]) for a in report["actions"] if a["outcome"] == "failed"}
        self.assertEqual(failed, {("read-instance-profile", self.world.instance),
                                  ("read-load-balancers", "target groups"),
                                  ("read-load-balancers", "classic load balancers")}, report)
        unfinished = [a["action"] for a in report["actions"] if a["outcome"] == "skipped"]
        self.assertIn("detach-instance-profile", unfinished, report)
        self.assertIn("record-attachments", unfinished, report)

    def test_a_dry_run_changes_nothing(self):
        report = self.invoke(instance_finding(self.world.instance), args=["--dry-run"])
        self.assertEqual(report["status"], "dry-run", report)
        planned = {a["action"] for a in report["actions"] if a["outcome"] == "planned"}
        self.assertTrue({"detach-instance-profile", "revoke-instance-role", "deregister-target"} <= planned, report)
        self.assertEqual(self.associated(), [self.profile])
        self.assertEqual(self.role_policies(), [])
        self.assertEqual(self.targets(self.by_instance), [(self.world.instance, 80)])
        self.assertEqual(self.targets(self.by_address), [(self.address, 8443)])
        self.assertNotIn("tourniquet:instance-profile", self.tags())

    def test_options_off_leave_profile_and_load_balancers_alone(self):
        report = self.invoke(instance_finding(self.world.instance), {"TOURNIQUET_DETACH_INSTANCE_PROFILE": "false",
                                                                     "TOURNIQUET_DEREGISTER_FROM_LOAD_BALANCERS": "false"})
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(self.associated(), [self.profile])
        self.assertEqual(self.targets(self.by_instance), [(self.world.instance, 80)])
