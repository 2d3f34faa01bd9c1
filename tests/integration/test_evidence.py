"""The evidence bundle end to end: the real `tourniquet invoke` contains an instance in moto (signature and IAM
checks on) as a principal holding exactly `tourniquet policy` with TOURNIQUET_EVIDENCE_BUCKET set, and writes
finding.json, instance.json, console-output.txt, report.json and manifest.json to an Object Lock bucket made as
the template makes it. A replay adds its own report and manifest and overwrites nothing; a dry run writes
nothing; a bucket the function cannot write fails the evidence action while the instance is still isolated."""
import hashlib
import json

from moto_support import MotoTestCase, generated_policy, invoke
from worlds import MEMBER_ROLE_NAME, InstanceWorld, instance_finding

BUCKET = "tq-evidence-123456789012"
PREFIX = "incidents/"


class EvidenceTest(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy(TOURNIQUET_MEMBER_ROLE_NAME=MEMBER_ROLE_NAME,
                                      TOURNIQUET_EVIDENCE_BUCKET=BUCKET, TOURNIQUET_EVIDENCE_PREFIX=PREFIX)

    def setUp(self):
        super().setUp()
        with self.moto.fresh_account(self.policy) as account:
            self.world = InstanceWorld(self.moto)
            s3 = self.moto.client("s3")
            # As packaging/template.yaml makes it: Object Lock (and so versioning) with a compliance retention.
            s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
            s3.put_object_lock_configuration(Bucket=BUCKET, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
        self.responder, self.admin = account
        self.s3 = self.moto.client("s3", *self.admin)
        self.ec2 = self.moto.client("ec2", *self.admin)

    def invoke(self, event, extra=None, args=()):
        env = {"TOURNIQUET_EVIDENCE_BUCKET": BUCKET, "TOURNIQUET_EVIDENCE_PREFIX": PREFIX}
        env.update(extra or {})
        return invoke(event, self.moto.env_for(*self.responder, env), args)

    def objects(self):
        """{key: [(version id, bytes)]} of every version in the bucket."""
        found = {}
        for v in self.s3.list_object_versions(Bucket=BUCKET).get("Versions", []):
            body = self.s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
            found.setdefault(v["Key"], []).append((v["VersionId"], body))
        return found

    def isolated(self):
        groups = {g["GroupId"]: {t["Key"]: t["Value"] for t in g.get("Tags", [])}.get("tourniquet:role")
                  for g in self.ec2.describe_security_groups()["SecurityGroups"]}
        interfaces = self.world.describe(self.ec2)["NetworkInterfaces"]
        return all([groups.get(g["GroupId"]) for g in n["Groups"]] == ["isolation"] for n in interfaces)

    def test_one_invocation_writes_the_bundle_and_a_replay_adds_without_overwriting(self):
        event = instance_finding(self.world.instance)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "contained", report)
        self.assertTrue(self.isolated())
        incident = report["incidentId"]
        base = f"{PREFIX}{incident}/"

        first = self.objects()
        self.assertEqual(sorted(first), sorted(base + n for n in [
            "finding.json", "instance.json", "console-output.txt", "report.json", "manifest.json"]))
        self.assertEqual(json.loads(first[base + "finding.json"][0][1]), event, "the event as received")
        instance = json.loads(first[base + "instance.json"][0][1])
        self.assertEqual(instance["instanceId"], self.world.instance)
        self.assertTrue(instance["readBeforeChanges"], json.dumps(report, indent=1)[:6000])
        self.assertIn("ec2:DescribeInstances", [r["call"] for r in instance["reads"]])
        before = {i["id"]: i["groups"] for i in instance["parsed"]["interfaces"]}
        self.assertTrue(all(g and g != ["isolation"] for g in before.values()), before)
        self.assertEqual(json.loads(first[base + "report.json"][0][1])["incidentId"], incident)

        manifest = json.loads(first[base + "manifest.json"][0][1])
        self.assertEqual(manifest["incidentId"], incident)
        self.assertEqual(manifest["findingId"], event["detail"]["id"])
        self.assertTrue(manifest["writer"]["accessKeyId"])
        listed = {o["key"]: o for o in manifest["objects"]}
        self.assertEqual(sorted(listed), sorted(k for k in first if not k.endswith("manifest.json")))
        for key, entry in listed.items():
            body = first[key][0][1]
            self.assertEqual(entry["size"], len(body), key)
            self.assertEqual(entry["sha256"], hashlib.sha256(body).hexdigest(), key)
            self.assertEqual(entry["versionId"], first[key][0][0], key)

        # A replay of the same finding: its own report and manifest, and not one byte of the first changed.
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        evidence = [a for a in response["reports"][0]["actions"] if a["action"] == "write-evidence"]
        self.assertTrue(any(a["outcome"] == "already" for a in evidence), evidence)
        after = self.objects()
        for key, versions in first.items():
            self.assertEqual(after[key], versions, f"{key} was overwritten")
        added = sorted(set(after) - set(first))
        self.assertEqual(len(added), 2, added)
        self.assertTrue(added[0].startswith(base + "manifest-") and added[1].startswith(base + "report-"), added)
        later = json.loads(after[added[0]][0][1])
        self.assertEqual([o["key"] for o in later["objects"]], [added[1]])
        self.assertIn(base + "finding.json", later["keptFromEarlierDelivery"])

    def test_a_dry_run_writes_nothing(self):
        code, response, err = self.invoke(instance_finding(self.world.instance), args=["--dry-run"])
        self.assertEqual(code, 0, err)
        report = response["reports"][0]
        self.assertEqual(report["status"], "dry-run", report)
        planned = [a for a in report["actions"] if a["action"] == "write-evidence"]
        self.assertTrue(planned and all(a["outcome"] == "planned" for a in planned), planned)
        self.assertEqual(self.objects(), {})

    def test_a_bucket_that_cannot_be_written_fails_the_evidence_but_not_the_isolation(self):
        code, response, err = self.invoke(instance_finding(self.world.instance),
                                          {"TOURNIQUET_EVIDENCE_BUCKET": "tq-evidence-missing"})
        self.assertNotEqual(code, 0)
        self.assertTrue(self.isolated(), "isolation must not wait for evidence")
        self.assertEqual(self.objects(), {})
        self.assertIn("write-evidence", err)
