"""Acting where the resource is, against moto_server with its signature and IAM checks on: Tourniquet runs in
us-east-1 (AWS_REGION) as a user holding exactly the policy `tourniquet policy` prints, and the events name
resources in eu-west-1. Every region is served by the same moto, which keeps each region's state apart by the
region a request is signed for: a resource made in eu-west-1 is found only by a request signed for eu-west-1
(and the GuardDuty stand-in confirms a finding only in its own region, likewise)."""
import json
import time
import unittest

from moto_support import (ACCOUNT, MEMBER_ACCOUNT, REGION, MotoTestCase, generated_policy, invoke, policy_actions,
                          run_tourniquet)
from worlds import (MEMBER_ROLE_NAME, acl_of, cloudtrail_event, instance_finding, instance_on_interface, load_event,
                    open_group)

OTHER = "eu-west-1"
FORGED = "us-east-1.evil.example"


def in_region(event, region):
    """`event` (a GuardDuty finding) about a resource in `region`, as GuardDuty there would publish it."""
    from standin_support import set_finding_arn
    event["region"] = region
    event["detail"]["region"] = region
    set_finding_arn(event["detail"])
    return event


class ActingWhereTheResourceIs(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy(TOURNIQUET_ACCOUNT_ID=ACCOUNT, TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME)

    def setUp(self):
        super().setUp()
        with self.moto.fresh_account(self.policy) as account:
            self.build_world()
        self.responder, self.admin = account

    def build_world(self):
        ec2 = self.moto_client("ec2", OTHER)
        self.vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        self.subnet = ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.9.1.0/24",
                                        AvailabilityZone=OTHER + "a")["Subnet"]["SubnetId"]
        self.ssh = open_group(ec2, self.vpc, "ssh", [22])
        self.instance, self.interface = instance_on_interface(ec2, self.subnet, [self.ssh], InstanceType="t3.micro")

    def moto_client(self, service, region, principal=None):
        import boto3
        from botocore.config import Config
        key, secret, *token = principal or ("test", "test")
        return boto3.client(service, endpoint_url=self.moto.url, region_name=region, aws_access_key_id=key,
                            aws_secret_access_key=secret, aws_session_token=token[0] if token else None,
                            config=Config(retries={"max_attempts": 1}))

    def ec2(self, region):
        return self.moto_client("ec2", region, self.admin)

    def env(self, **extra):
        return self.moto.env_for(*self.responder, dict({"TOURNIQUET_ACCOUNT_ID": ACCOUNT}, **extra))

    def managed_groups(self, region):
        return self.ec2(region).describe_security_groups(
            Filters=[{"Name": "tag-key", "Values": ["tourniquet:role"]}])["SecurityGroups"]

    def interface_groups(self):
        interface = self.ec2(OTHER).describe_network_interfaces(NetworkInterfaceIds=[self.interface])
        return [g["GroupId"] for g in interface["NetworkInterfaces"][0]["Groups"]]

    # --- GuardDuty ---

    def test_a_finding_from_another_region_contains_the_instance_there(self):
        event = in_region(instance_finding(self.instance), OTHER)
        code, response, err = invoke(event, self.env())
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "contained", report)
        isolation = [g["GroupId"] for g in self.managed_groups(OTHER)
                     if {"Key": "tourniquet:role", "Value": "isolation"} in g["Tags"]]
        self.assertEqual(len(isolation), 1, self.managed_groups(OTHER))
        self.assertEqual(self.interface_groups(), isolation)
        tags = {t["Key"]: t["Value"] for t in self.ec2(OTHER).describe_tags(
            Filters=[{"Name": "resource-id", "Values": [self.instance]}])["Tags"]}
        self.assertEqual(tags["tourniquet:status"], "contained")
        # Nothing happened in the function's own region, and GuardDuty was asked where the finding is.
        self.assertEqual(self.managed_groups(REGION), [])
        self.assertEqual(self.ec2(REGION).describe_instances()["Reservations"], [])
        asked = {r["region"] for r in self.guardduty.requests() if r["operation"] == "GetFindings"}
        self.assertEqual(asked, {OTHER})

        # The operator releases it there.
        code, out, err = run_tourniquet(["release", self.instance, "--region", OTHER], self.env())
        self.assertEqual(code, 0, err + out)
        self.assertEqual(json.loads(out)["status"], "released")
        self.assertEqual(self.interface_groups(), [self.ssh])
        # Without --region, release looks in the function's own region, where the instance is not.
        code, out, err = run_tourniquet(["release", self.instance], self.env())
        self.assertNotEqual(code, 0, out)

    def test_a_forged_region_is_refused_and_nothing_is_sent_for_it(self):
        event = instance_finding(self.instance)
        event["region"] = event["detail"]["region"] = FORGED
        code, response, err = invoke(event, self.env(), store_finding=False)
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "ignored", report)
        self.assertTrue(report["forged"], report)
        self.assertEqual(report["error"]["code"], "InvalidRegion", report)
        self.assertIn(f"'{FORGED}'", report["reason"])
        self.assertIn("no AWS region name", report["reason"])
        self.assertEqual(report.get("actions", []), [], report)
        self.assertEqual(len(response["reports"]), 1, "the other jobs of a forged event are refused with it")
        self.assertIn("ERROR", err)
        # Not even GuardDuty was asked: a confirmation would have gone to the forged region.
        self.assertEqual([r for r in self.guardduty.requests() if r["operation"] == "GetFindings"], [])
        self.assertEqual(self.interface_groups(), [self.ssh])

    def test_a_region_outside_tourniquet_regions_is_escalated(self):
        event = in_region(instance_finding(self.instance), OTHER)
        code, response, err = invoke(event, self.env(TOURNIQUET_REGIONS="us-west-2"))
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "escalate", report)
        self.assertIn("outside TOURNIQUET_REGIONS (us-west-2)", report["reason"])
        self.assertEqual(self.interface_groups(), [self.ssh])
        # Listed, it acts there.
        code, response, err = invoke(event, self.env(TOURNIQUET_REGIONS="us-west-2,eu-west-1"))
        self.assertEqual((code, response["reports"][0]["status"]), (0, "contained"), err)

    def test_a_member_accounts_instance_in_another_region_is_contained_there(self):
        self.moto.open_auth()
        setup = self.moto.member_account_role(MEMBER_ROLE_NAME, f"arn:aws:iam::{ACCOUNT}:user/tourniquet",
                                              policy_actions(self.policy))
        member = self.moto_client("ec2", OTHER, (setup["AccessKeyId"], setup["SecretAccessKey"],
                                                 setup["SessionToken"]))
        vpc = member.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
        subnet = member.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
        instance, interface = instance_on_interface(member, subnet)
        self.moto.enforce_auth()
        event = in_region(instance_finding(instance, account=MEMBER_ACCOUNT), OTHER)
        # The GuardDuty stand-in cannot know the member session (as in test_instance_containment).
        code, response, err = invoke(event, self.env(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME,
                                                     TOURNIQUET_CONFIRM_FINDINGS="false"))
        self.assertEqual(code, 0, err)
        self.assertEqual(response["reports"][0]["status"], "contained", response)
        self.moto.open_auth()
        groups = member.describe_network_interfaces(NetworkInterfaceIds=[interface])["NetworkInterfaces"][0]["Groups"]
        self.assertEqual([g["GroupName"] for g in groups], [f"tourniquet-isolation-{vpc}"])

    # --- CloudTrail ---

    def test_a_cloudtrail_record_from_another_region_is_fixed_there(self):
        event = cloudtrail_event("authorize-sg-ingress-ssh-world-legacy.json", "deploy-bot", "AKIAEXAMPLEBOT00001")
        event["region"] = event["detail"]["awsRegion"] = OTHER
        detail = event["detail"]
        detail["requestParameters"]["groupId"] = self.ssh
        permission = detail["requestParameters"]["ipPermissions"]["items"][0]
        permission["fromPort"] = permission["toPort"] = 22
        permission["ipRanges"] = {"items": [{"cidrIp": "0.0.0.0/0"}]}
        code, response, err = invoke(event, self.env())
        self.assertEqual(code, 0, err)
        report = next(r for r in response["reports"] if r["playbook"] == "exposure-fix")
        self.assertEqual(report["status"], "contained", report)
        group = self.ec2(OTHER).describe_security_groups(GroupIds=[self.ssh])["SecurityGroups"][0]
        world = [p for p in group["IpPermissions"] if {"CidrIp": "0.0.0.0/0"} in p.get("IpRanges", [])]
        self.assertEqual(world, [], group)

    # --- network blocks and their expiry ---

    def test_blocks_in_two_regions_both_expire(self):
        home = self.ec2(REGION)
        self.moto.open_auth()
        home_vpc = home.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
        home_subnet = home.create_subnet(VpcId=home_vpc, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
        self.moto.enforce_auth()
        acls = {REGION: acl_of(home, home_subnet), OTHER: acl_of(self.ec2(OTHER), self.subnet)}
        for region, acl in acls.items():
            request = load_event("custom/block-addresses.json")
            request["region"] = region
            request["detail"].pop("instanceId")
            request["detail"].update(addresses=["203.0.113.31"], networkAclIds=[acl])
            code, response, err = invoke(request, self.env(TOURNIQUET_BLOCK_TTL_SECONDS="1"))
            self.assertEqual((code, response["reports"][0]["status"]), (0, "blocked"), err)
            self.assertEqual(len(self.denies(region, acl)), 2, region)
        time.sleep(2.1)

        schedule = load_event("scheduled/expire-blocks.json")
        code, response, err = invoke(schedule, self.env(TOURNIQUET_REGIONS=OTHER))
        self.assertEqual(code, 0, err)
        reports = {r["details"]["region"]: r for r in response["reports"] if r["playbook"] == "block-expiry"}
        self.assertEqual(set(reports), {REGION, OTHER}, response)
        for region, acl in acls.items():
            self.assertEqual(reports[region]["status"], "expired", reports[region])
            self.assertEqual([e["outcome"] for e in reports[region]["details"]["expired"]], ["removed"])
            self.assertEqual(self.denies(region, acl), [], region)

    def denies(self, region, acl):
        entries = self.ec2(region).describe_network_acls(NetworkAclIds=[acl])["NetworkAcls"][0]["Entries"]
        return [e for e in entries if e["RuleAction"] == "deny" and e["RuleNumber"] < 32767]


if __name__ == "__main__":
    unittest.main()
