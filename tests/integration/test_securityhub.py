"""Security Hub in and out end to end: the real `tourniquet invoke` against moto_server with its signature and IAM
checks on, acting as a principal that holds exactly the policy `tourniquet policy` prints with
TOURNIQUET_SECURITYHUB_UPDATES on; Security Hub is the local stand-in (tests/servers/securityhub_standin.py: moto has
no BatchUpdateFindings), which checks SigV4 with botocore and the same policy's securityhub actions."""
import copy
import unittest
import uuid

from moto_support import ACCOUNT, REGION, generated_policy, invoke, policy_actions
from standin_support import SecurityHubStandIn
from test_bucket_protection import with_moto_s3_names
from worlds import (MotoTestCase, InstanceWorld, instance_finding, instance_on_interface, lambda_function, lambda_role,
                    load_event)

UPDATES = {"TOURNIQUET_SECURITYHUB_UPDATES": "true"}
DETECTOR = "3ec5a1f2b8d94c6e9f0a7b2c4d6e8f10"
ACTION_ARN = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:action/custom/"


def gd_arn(finding_id):
    return f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/{DETECTOR}/finding/{finding_id}"


def custom_action(sample, action, finding_id=None, **resource):
    """The custom-action sample events/securityhub/`sample` as action `action`, its finding given a fresh id (or
    `finding_id`) and its first resource the fields of `resource`."""
    event = load_event("securityhub/" + sample)
    event["resources"] = [ACTION_ARN + action]
    finding = event["detail"]["findings"][0]
    finding["Id"] = gd_arn(finding_id or uuid.uuid4().hex)
    finding["Resources"][0].update(resource)
    return event


def instance_arn(instance):
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"


class SecurityHubTest(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hub = SecurityHubStandIn()
        cls.addClassCleanup(cls.hub.stop)
        cls.policy = with_moto_s3_names(generated_policy(**UPDATES))

    def setUp(self):
        super().setUp()
        self.hub.reset()
        with self.moto.fresh_account(self.policy) as account:
            self.world = InstanceWorld(self.moto)
            self.bot_keys = self.moto.user_with_keys("deploy-bot", 2)
        self.responder, self.admin = account
        self.hub.allow(self.responder, policy_actions(self.policy))
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.iam = self.moto.client("iam", *self.admin)

    def invoke(self, event, extra=None):
        env = self.moto.env_for(*self.responder, dict(self.hub.endpoint_env(), **UPDATES, **(extra or {})))
        code, response, err = invoke(event, env)
        self.assertEqual(code, 0, err)
        return response

    def interface_groups(self):
        instance = self.world.describe(self.ec2)
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"]) for n in instance["NetworkInterfaces"]}

    def report(self, response, playbook):
        for r in response["reports"]:
            if r["playbook"] == playbook:
                return r
        self.fail(f"no {playbook} report in {response}")

    def stored(self, finding_id):
        for f in self.hub.findings():
            if f["Id"] == finding_id:
                return f
        self.fail(f"the stand-in holds no finding {finding_id}")

    def test_contain_on_a_medium_finding_contains_its_instance_notes_it_and_a_replay_adds_no_note(self):
        event = custom_action("custom-action-contain-instance-medium.json", "TourniquetContain",
                              Id=instance_arn(self.world.instance))
        finding = event["detail"]["findings"][0]
        self.assertEqual(finding["Severity"]["Label"], "MEDIUM")
        self.hub.put_findings([finding])
        response = self.invoke(event)
        report = self.report(response, "instance-containment")
        self.assertEqual(report["status"], "contained", response)
        for interface, groups in self.interface_groups().items():
            self.assertNotEqual(groups, self.world.interfaces[interface], f"{interface} was not isolated")

        stored = self.stored(finding["Id"])
        self.assertEqual(stored["Workflow"]["Status"], "NOTIFIED")
        self.assertEqual(stored["Note"]["UpdatedBy"], "tourniquet")
        self.assertIn(report["incidentId"], stored["Note"]["Text"])
        self.assertIn("instance-containment " + self.world.instance + " contained", stored["Note"]["Text"])
        self.assertEqual([u["outcome"] for u in response["securityHubUpdates"]], ["done"], response)

        replay = self.invoke(event)
        self.assertEqual({a["outcome"] for a in self.report(replay, "instance-containment")["actions"]}, {"already"})
        self.assertEqual([u["outcome"] for u in replay["securityHubUpdates"]], ["already"], replay)
        self.assertEqual(self.stored(finding["Id"])["Note"], stored["Note"], "a replay added a second note")
        updates = [r for r in self.hub.requests() if r["operation"] == "BatchUpdateFindings"]
        self.assertEqual(len(updates), 1, updates)

    def test_contain_acts_in_the_resources_region_and_notes_the_finding_there(self):
        # Security Hub aggregates in us-east-1 (where the analyst clicks); the instance and its finding are in
        # eu-west-1: the aggregation region holds a copy of the finding, its home region the original.
        other = "eu-west-1"
        import boto3
        from botocore.config import Config
        ec2 = boto3.client("ec2", endpoint_url=self.moto.url, region_name=other, aws_access_key_id=self.admin[0],
                           aws_secret_access_key=self.admin[1], config=Config(retries={"max_attempts": 1}))
        self.moto.open_auth()
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone=other + "a")["Subnet"]["SubnetId"]
        instance, interface = instance_on_interface(ec2, subnet)
        before = ec2.describe_network_interfaces(NetworkInterfaceIds=[interface])["NetworkInterfaces"][0]["Groups"]
        self.moto.enforce_auth()
        event = custom_action("custom-action-contain-instance-medium.json", "TourniquetContain",
                              Id=f"arn:aws:ec2:{other}:{ACCOUNT}:instance/{instance}", Region=other)
        finding = event["detail"]["findings"][0]
        finding["Region"] = other
        self.hub.put_findings([finding], region=REGION)
        self.hub.put_findings([finding], region=other)
        response = self.invoke(event)
        report = self.report(response, "instance-containment")
        self.assertEqual(report["status"], "contained", response)
        after = ec2.describe_network_interfaces(NetworkInterfaceIds=[interface])["NetworkInterfaces"][0]["Groups"]
        self.assertNotEqual(after, before, "the instance in eu-west-1 was not isolated")
        updates = [r for r in self.hub.requests() if r["operation"] == "BatchUpdateFindings"]
        self.assertEqual([u["region"] for u in updates], [other], updates)
        confirmations = [r for r in self.hub.requests() if r["operation"] == "GetFindings"]
        self.assertIn(REGION, {c["region"] for c in confirmations})

    def test_dry_run_changes_nothing_and_notes_nothing(self):
        event = custom_action("custom-action-dry-run-instance.json", "TourniquetDryRun",
                              Id=instance_arn(self.world.instance))
        self.hub.put_findings(event["detail"]["findings"])
        response = self.invoke(event)
        self.assertEqual(self.report(response, "instance-containment")["status"], "dry-run", response)
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        self.assertNotIn("Note", self.stored(event["detail"]["findings"][0]["Id"]))
        self.assertEqual([r for r in self.hub.requests() if r["operation"] == "BatchUpdateFindings"], [])

    def test_release_puts_back_what_contain_changed_and_adds_a_note(self):
        finding_id = uuid.uuid4().hex
        contain = custom_action("custom-action-contain-instance-medium.json", "TourniquetContain", finding_id,
                                Id=instance_arn(self.world.instance))
        self.hub.put_findings(contain["detail"]["findings"])
        self.assertEqual(self.report(self.invoke(contain), "instance-containment")["status"], "contained")
        release = custom_action("custom-action-release-instance.json", "TourniquetRelease", finding_id,
                                Id=instance_arn(self.world.instance))
        response = self.invoke(release)
        self.assertEqual(self.report(response, "release")["status"], "released", response)
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        tags = {t["Key"]: t["Value"] for t in self.world.describe(self.ec2)["Tags"]}
        self.assertEqual(tags["tourniquet:status"], "released")
        self.assertEqual(tags["tourniquet:released-by"], ACTION_ARN + "TourniquetRelease")
        stored = self.stored(contain["detail"]["findings"][0]["Id"])
        self.assertIn("released", stored["Note"]["Text"])
        self.assertEqual(stored["Workflow"]["Status"], "NOTIFIED")  # left as containment set it

    def test_contain_on_an_access_key_finding_deactivates_the_key(self):
        first, second = self.bot_keys
        event = custom_action("custom-action-contain-access-key.json", "TourniquetContain",
                              Id=f"AWS::IAM::AccessKey:{first}")
        event["detail"]["findings"][0]["Resources"][0]["Details"]["AwsIamAccessKey"]["PrincipalName"] = "deploy-bot"
        self.hub.put_findings(event["detail"]["findings"])
        response = self.invoke(event)
        report = self.report(response, "credential-containment")
        self.assertEqual(report["status"], "contained", response)
        keys = {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]}
        self.assertEqual(keys, {first: "Inactive", second: "Active"})
        self.assertEqual(self.stored(event["detail"]["findings"][0]["Id"])["Workflow"]["Status"], "NOTIFIED")

    def test_a_custom_action_security_hub_does_not_hold_is_refused_as_forged(self):
        # Anyone allowed to invoke the function could hand it a custom action, which goes past the floors.
        first, second = self.bot_keys
        event = custom_action("custom-action-contain-access-key.json", "TourniquetContain",
                              Id=f"AWS::IAM::AccessKey:{first}")
        event["detail"]["findings"][0]["Resources"][0]["Details"]["AwsIamAccessKey"]["PrincipalName"] = "deploy-bot"
        held = copy.deepcopy(event["detail"]["findings"][0])
        held["Resources"][0]["Id"] = f"AWS::IAM::AccessKey:{second}"  # Security Hub's copy names another key
        self.hub.put_findings([held])
        for forged in (event, custom_action("custom-action-contain-instance-medium.json", "TourniquetContain",
                                            Id=instance_arn(self.world.instance))):
            response = self.invoke(forged)
            [report] = response["reports"]
            self.assertTrue(report.get("forged"), response)
            self.assertIn("not confirmed by Security Hub", report["reason"])
        keys = {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]}
        self.assertEqual(keys, {first: "Active", second: "Active"})
        self.assertEqual(self.interface_groups(), self.world.interfaces)

    def test_a_native_finding_security_hub_does_not_know_is_reported_and_the_invocation_succeeds(self):
        response = self.invoke(instance_finding(self.world.instance))
        self.assertEqual(self.report(response, "instance-containment")["status"], "contained", response)
        [update] = response["securityHubUpdates"]
        self.assertEqual(update["outcome"], "skipped", response)
        self.assertIn("does not know", update["detail"])
        self.assertEqual([r for r in self.hub.requests() if r["operation"] == "BatchUpdateFindings"], [])

    def test_the_analyst_goes_past_the_floors_but_not_the_exemptions(self):
        event = custom_action("custom-action-contain-instance-medium.json", "TourniquetContain",
                              Id=instance_arn(self.world.instance))
        self.hub.put_findings(event["detail"]["findings"])
        response = self.invoke(event, {"TOURNIQUET_EXEMPT_INSTANCES": self.world.instance})
        report = self.report(response, "instance-containment")
        self.assertEqual(report["status"], "ignored", response)
        self.assertIn("TOURNIQUET_EXEMPT_INSTANCES", report["reason"])
        self.assertEqual(self.interface_groups(), self.world.interfaces)

        first, second = self.bot_keys
        key = custom_action("custom-action-contain-access-key.json", "TourniquetContain",
                            Id=f"AWS::IAM::AccessKey:{first}")
        self.hub.put_findings(key["detail"]["findings"])
        response = self.invoke(key, {"TOURNIQUET_EXEMPT_PRINCIPALS": "deploy-bot"})
        self.assertEqual(self.report(response, "credential-containment")["status"], "ignored", response)
        keys = {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]}
        self.assertEqual(keys, {first: "Active", second: "Active"})

    def test_a_finding_native_then_imported_is_one_incident_and_nothing_more_is_done(self):
        native = instance_finding(self.world.instance)
        finding_id = native["detail"]["id"]
        imported = load_event("securityhub/imported-backdoor-ec2-cc-activity.json")
        asff = imported["detail"]["findings"][0]
        asff["Id"] = native["detail"]["arn"]
        asff["Resources"][0]["Id"] = instance_arn(self.world.instance)
        self.hub.put_findings([copy.deepcopy(asff)])

        first = self.invoke(native)
        contained = self.report(first, "instance-containment")
        self.assertEqual(contained["status"], "contained", first)
        note = self.stored(asff["Id"])["Note"]
        self.assertIn(contained["incidentId"], note["Text"])

        second = self.invoke(imported)  # the same finding through Security Hub (confirmed with GuardDuty too)
        again = self.report(second, "instance-containment")
        self.assertEqual(again["incidentId"], contained["incidentId"])
        self.assertEqual({a["outcome"] for a in again["actions"]}, {"already"}, second)
        self.assertEqual(self.stored(asff["Id"])["Note"], note, "the second delivery added a note")
        snapshots = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:tourniquet:finding-id", "Values": [finding_id]}])["Snapshots"]
        self.assertEqual(len(snapshots), 3, "the second delivery took new snapshots")

    def test_an_imported_finding_of_another_product_is_ignored_saying_why(self):
        imported = load_event("securityhub/imported-backdoor-ec2-cc-activity.json")
        asff = imported["detail"]["findings"][0]
        asff["ProductArn"] = f"arn:aws:securityhub:{REGION}::product/aws/inspector"
        asff["Resources"][0]["Id"] = instance_arn(self.world.instance)
        response = self.invoke(imported)
        self.assertEqual(response["reports"][0]["status"], "ignored")
        self.assertIn("only GuardDuty's", response["reports"][0]["reason"])
        self.assertEqual(self.interface_groups(), self.world.interfaces)


    def contain_then_release(self, sample, resource):
        """TourniquetContain then TourniquetRelease on the finding of `sample` naming `resource` (its first
        resource's fields), Security Hub holding the finding; returns both responses."""
        finding_id = uuid.uuid4().hex
        contain = custom_action(sample, "TourniquetContain", finding_id, **resource)
        self.hub.put_findings(contain["detail"]["findings"])
        contained = self.invoke(contain)
        release = custom_action(sample, "TourniquetRelease", finding_id, **resource)
        return contained, lambda: self.invoke(release)

    def test_contain_stops_a_function_and_release_puts_its_concurrency_back(self):
        self.moto.open_auth()
        lam = self.moto.client("lambda", *self.admin)
        arn = lambda_function(lam, "image-resizer", lambda_role(self.iam, "image-resizer-role"), reserved=5)
        self.moto.enforce_auth()
        contained, release = self.contain_then_release("custom-action-contain-lambda-function.json", {"Id": arn})
        report = self.report(contained, "function-containment")
        self.assertEqual(report["status"], "contained", contained)
        concurrency = lambda: lam.get_function_concurrency(FunctionName="image-resizer").get(
            "ReservedConcurrentExecutions")
        self.assertEqual(concurrency(), 0)
        self.assertEqual(lam.get_function(FunctionName="image-resizer")["Tags"]["tourniquet:prior-concurrency"], "5")
        released = release()
        self.assertEqual(self.report(released, "release")["status"], "released", released)
        self.assertEqual(concurrency(), 5)
        tags = lam.get_function(FunctionName="image-resizer")["Tags"]
        self.assertEqual(tags["tourniquet:status"], "released")
        self.assertEqual(tags["tourniquet:released-by"], ACTION_ARN + "TourniquetRelease")

    def test_contain_turns_a_buckets_public_access_block_on_and_release_puts_it_back(self):
        bucket = "acme-reports-archive"
        s3 = self.moto.client("s3", *self.admin)
        before = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                  "RestrictPublicBuckets": False}
        self.moto.open_auth()
        s3.create_bucket(Bucket=bucket)
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=before)
        self.moto.enforce_auth()
        block = lambda: s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        # A LOW finding: under bucket protection's automatic floor only by type; the analyst decided.
        contained, release = self.contain_then_release("custom-action-contain-s3-bucket.json",
                                                       {"Id": f"arn:aws:s3:::{bucket}"})
        self.assertEqual(self.report(contained, "bucket-protection")["status"], "contained", contained)
        self.assertEqual(block(), {k: True for k in before})
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        self.assertEqual(tags["tourniquet:prior-public-access-block"], "1000")
        released = release()
        self.assertEqual(self.report(released, "bucket-protection")["status"], "released", released)
        self.assertEqual(block(), before)
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
        self.assertEqual(tags["tourniquet:released-by"], ACTION_ARN + "TourniquetRelease")

    def test_an_exempt_bucket_is_left_alone_whoever_asks(self):
        bucket = "acme-public-site"
        s3 = self.moto.client("s3", *self.admin)
        self.moto.open_auth()
        s3.create_bucket(Bucket=bucket)
        self.moto.enforce_auth()
        event = custom_action("custom-action-contain-s3-bucket.json", "TourniquetContain",
                              Id=f"arn:aws:s3:::{bucket}")
        self.hub.put_findings(event["detail"]["findings"])
        response = self.invoke(event, {"TOURNIQUET_EXEMPT_BUCKETS": bucket})
        report = self.report(response, "bucket-protection")
        self.assertEqual(report["status"], "ignored", response)
        self.assertIn("TOURNIQUET_EXEMPT_BUCKETS", report["reason"])
        with self.assertRaises(s3.exceptions.ClientError):
            s3.get_public_access_block(Bucket=bucket)


if __name__ == "__main__":
    unittest.main()
