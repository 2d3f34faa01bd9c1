"""Attack sequences end to end: one AttackSequence:S3/CompromisedData finding naming an instance (and its interface),
an access key (and the actor using it), a bucket and two remote endpoints, against moto_server with its signature
and IAM checks on, Tourniquet acting as a principal that holds exactly the policy `tourniquet policy` prints. One
invocation contains every member with the playbook of its kind; a replay changes nothing; a dry run changes
nothing."""
import copy
import unittest

from moto_support import ACCOUNT, generated_policy, invoke
from proxy_support import AwsProxy, round_trip_depths
from test_bucket_protection import with_moto_s3_names
from worlds import MEMBER_ROLE_NAME, InstanceWorldTestCase, acl_of, guardduty_finding

SAMPLE = "attacksequence-s3-compromised-data.json"
BUCKET = "acme-customer-exports"
ENDPOINTS = ("198.51.100.23", "203.0.113.77")


class AttackSequenceTest(InstanceWorldTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = with_moto_s3_names(generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME))

    def setUp(self):
        super().setUp()
        self.moto.open_auth()
        self.keys = self.moto.user_with_keys("deploy-bot", 2)
        s3 = self.moto.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "data-class", "Value": "confidential"}]})
        self.moto.enforce_auth()
        self.ec2 = self.moto.client("ec2", *self.admin)
        self.iam = self.moto.client("iam", *self.admin)
        self.s3 = self.moto.client("s3", *self.admin)

    def sequence_event(self):
        """The sample sequence, naming this world's instance, its first interface and deploy-bot's first key."""
        event = guardduty_finding(SAMPLE)
        sequence = event["detail"]["service"]["detection"]["sequence"]
        first_interface = sorted(self.world.interfaces)[0]
        instance, interface, key, _ = sequence["resources"]
        instance["uid"] = self.world.instance
        instance["data"]["ec2Instance"]["ec2NetworkInterfaceUids"] = [first_interface]
        interface["uid"] = first_interface
        interface["data"]["ec2NetworkInterface"].update(subNetId=self.world.subnets[0], vpcId=self.world.vpc)
        key["uid"] = sequence["actors"][0]["user"]["credentialUid"] = self.keys[0]
        event["detail"]["resource"]["accessKeyDetails"]["accessKeyId"] = self.keys[0]
        return event

    def run_event(self, event, args=()):
        code, response, err = invoke(event, self.moto.env_for(*self.responder), args)
        self.assertEqual(code, 0, err)
        return {(r["playbook"], r.get("target", "")): r for r in response["reports"]}, response

    def bucket_tags(self):
        return {t["Key"]: t["Value"] for t in self.s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}

    def key_status(self):
        keys = self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in keys}

    def interface_groups(self):
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                for n in self.world.describe(self.ec2)["NetworkInterfaces"]}

    def denied(self, subnet):
        acl = self.ec2.describe_network_acls(NetworkAclIds=[acl_of(self.ec2, subnet)])["NetworkAcls"][0]
        return sorted({e["CidrBlock"] for e in acl["Entries"] if e["RuleAction"] == "deny" and e["RuleNumber"] < 100})

    def test_one_invocation_contains_every_member_and_a_replay_changes_nothing(self):
        event = self.sequence_event()
        reports, response = self.run_event(event)
        instance = reports[("instance-containment", self.world.instance)]
        self.assertEqual(instance["status"], "contained", instance)
        credentials = reports[("credential-containment", "deploy-bot")]
        self.assertEqual(credentials["status"], "contained", credentials)
        self.assertEqual(credentials["details"]["accessKeyId"], self.keys[0])
        block = reports[("network-block", self.world.instance)]
        self.assertEqual(block["status"], "blocked", block)
        bucket = reports[("bucket-protection", BUCKET)]
        self.assertEqual(bucket["status"], "contained", bucket)
        incidents = {r["incidentId"] for r in response["reports"] if r.get("incidentId")}
        self.assertEqual(len(incidents), 1, "one sequence, one incident")
        passed = reports[("attack-sequence", "")]
        self.assertEqual(passed["status"], "ignored")
        self.assertIn(f"interface {sorted(self.world.interfaces)[0]} is contained with its instance", passed["reason"])
        self.assertIn(f"{self.keys[0]} is already contained", passed["reason"])

        self.assertEqual(self.key_status(), {self.keys[0]: "Inactive", self.keys[1]: "Active"})
        self.assertEqual(self.bucket_tags(), {"data-class": "confidential", "tourniquet:incident-id": incidents.pop(),
                                              "tourniquet:finding-id": event["detail"]["id"]})
        groups = self.interface_groups()
        isolation = groups[sorted(groups)[0]]
        self.assertEqual(len(isolation), 1)
        self.assertTrue(all(g == isolation for g in groups.values()), groups)
        self.assertNotIn(self.world.ssh, isolation)
        for subnet in self.world.subnets:  # where the instance sits: both its interfaces' subnets
            self.assertEqual(self.denied(subnet), sorted(f"{a}/32" for a in ENDPOINTS), subnet)

        # A replay (EventBridge and Lambda deliver at least once): nothing changes.
        reports, _ = self.run_event(event)
        self.assertEqual(reports[("instance-containment", self.world.instance)]["status"], "contained")
        again = reports[("credential-containment", "deploy-bot")]
        self.assertEqual({a["action"]: a["outcome"] for a in again["actions"]}["deactivate-key"], "already")
        self.assertEqual(self.key_status(), {self.keys[0]: "Inactive", self.keys[1]: "Active"})
        self.assertEqual(self.interface_groups(), groups)
        self.assertEqual(reports[("bucket-protection", BUCKET)]["status"], "contained")
        self.assertEqual(len(self.bucket_tags()), 3)
        for subnet in self.world.subnets:
            self.assertEqual(self.denied(subnet), sorted(f"{a}/32" for a in ENDPOINTS))

    def test_its_jobs_run_together_in_the_round_trips_of_the_longest(self):
        # Through the proxy, whose log tells which calls came after which answers (proxy_support.round_trip_depths).
        proxy = AwsProxy(self.moto.url, delay_ms=100)
        self.addCleanup(proxy.stop)
        env = self.moto.env_for(*self.responder, {"AWS_ENDPOINT_URL": proxy.url, "TOURNIQUET_ACCOUNT_ID": ACCOUNT})
        code, response, err = invoke(self.sequence_event(), env)
        self.assertEqual(code, 0, err[-3000:])
        jobs = [r for r in response["reports"] if r["playbook"] != "attack-sequence"]
        self.assertGreaterEqual(len({r["playbook"] for r in jobs}), 4, response)  # instance, key, bucket, block
        calls = round_trip_depths(proxy.log())
        longest = max(r["timing"]["roundTrips"] for r in jobs)
        trace = [(c["action"], c["depth"]) for c in calls]
        # The event's round trips, as its transport counted them (the proxy's order is in the message only: a
        # loaded machine can start one batch's transfers apart). Each of a job's round trips is one of the
        # event's, so the event has at least the longest job's; together they take no more.
        self.assertEqual(response["roundTrips"], longest, (trace, [(r["playbook"], r["timing"]) for r in jobs]))
        # One after the other they would take the sum of their round trips.
        self.assertLess(longest, sum(r["timing"]["roundTrips"] for r in jobs))

    def test_a_dry_run_changes_nothing(self):
        before = self.interface_groups()
        reports, response = self.run_event(self.sequence_event(), ["--dry-run"])
        self.assertTrue(response["dryRun"])
        self.assertEqual(reports[("instance-containment", self.world.instance)]["status"], "dry-run")
        self.assertEqual(reports[("credential-containment", "deploy-bot")]["status"], "dry-run")
        self.assertEqual(self.key_status(), {k: "Active" for k in self.keys})
        self.assertEqual(self.interface_groups(), before)
        self.assertEqual(self.bucket_tags(), {"data-class": "confidential"})
        # The network ACLs are not checked here: moto ignores DryRun on CreateNetworkAclEntry (EC2 answers
        # DryRunOperation); the report says what a real dry run does.
        self.assertEqual(reports[("network-block", self.world.instance)]["status"], "dry-run")

    def test_a_member_guardduty_does_not_name_is_not_contained(self):
        event = self.sequence_event()
        stored = copy.deepcopy(event)
        # GuardDuty's copy names another key: the event's key is a forgery's, and is left alone.
        stored["detail"]["service"]["detection"]["sequence"]["resources"][2]["uid"] = "AKIAQXYZ7EXAMPLEOTHR"
        stored["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"]["credentialUid"] = "AKIAQXYZ7EXAMPLEOTHR"
        from moto_support import store_guardduty_finding
        env = self.moto.env_for(*self.responder)
        store_guardduty_finding(stored, env)
        code, response, err = invoke(event, env, store_finding=False)
        self.assertEqual(code, 0, err)
        reports = {(r["playbook"], r.get("target", "")): r for r in response["reports"]}
        self.assertEqual(reports[("credential-containment", "deploy-bot")]["status"], "ignored", response)
        self.assertEqual(self.key_status(), {k: "Active" for k in self.keys})
        self.assertEqual(reports[("instance-containment", self.world.instance)]["status"], "contained")


if __name__ == "__main__":
    unittest.main()
