"""Bucket protection end to end against moto_server with its signature and IAM checks on, Tourniquet acting as a
principal holding the policy `tourniquet policy` prints (with moto's names for S3's public access block actions,
see `with_moto_s3_names`): an exposed bucket's public access block goes on, recorded with it, and back on release;
the account's goes on, recorded first on the principal Tourniquet acts as, and back on release ('s3://*');
a data finding deactivates its key and tags the bucket; exempt buckets and dry runs change nothing."""
import json
import unittest

from moto_support import ACCOUNT, generated_policy, run_tourniquet
from worlds import CallerWorldTestCase, credential_finding, guardduty_finding

EXPOSURE = "policy-s3-bucket-block-public-access-disabled.json"
DATA = "exfiltration-s3-malicious-ip-caller.json"
BUCKET = "acme-reports-archive"

# moto checks a bucket's public access block as s3:ListBucket (GET), s3:CreateBucket (PUT) and s3:DeleteBucket
# (DELETE): its ACTION_MAP looks for "public_access_block" in a query that says "publicAccessBlock". IAM has
# s3:GetBucketPublicAccessBlock and s3:PutBucketPublicAccessBlock (which DeletePublicAccessBlock needs too).
MOTO_S3_NAMES = {"s3:GetBucketPublicAccessBlock": ["s3:ListBucket"],
                 "s3:PutBucketPublicAccessBlock": ["s3:CreateBucket", "s3:DeleteBucket"],
                 "s3:GetAccountPublicAccessBlock": ["s3:GetPublicAccessBlock"],
                 "s3:PutAccountPublicAccessBlock": ["s3:PutPublicAccessBlock", "s3:DeletePublicAccessBlock"]}


def with_moto_s3_names(statements):
    """The statements with each S3 public access block action also under the name moto checks."""
    out = []
    for s in statements:
        actions = [s["Action"]] if isinstance(s["Action"], str) else list(s["Action"])
        extra = [m for a in actions for m in MOTO_S3_NAMES.get(a, [])]
        out.append(dict(s, Action=actions + extra))
    return out


def bucket_finding(sample, bucket):
    event = guardduty_finding(sample)
    details = event["detail"]["resource"]["s3BucketDetails"][0]
    details.update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    return event


class BucketProtectionTest(CallerWorldTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = with_moto_s3_names(generated_policy())

    def build_world(self, moto):
        s3 = moto.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": "team", "Value": "finance"}]})
        s3.put_public_access_block(Bucket=BUCKET, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False})

    def setUp(self):
        super().setUp()
        self.s3 = self.moto.client("s3", *self.admin)

    def block(self, bucket=BUCKET):
        try:
            return self.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        except self.s3.exceptions.ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration":
                return None
            raise

    def tags(self, bucket=BUCKET):
        return {t["Key"]: t["Value"] for t in self.s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}

    def report(self, response, playbook="bucket-protection"):
        found = [r for r in response["reports"] if r["playbook"] == playbook]
        self.assertTrue(found, response)
        return found[0]

    def release(self, target):
        code, out, err = run_tourniquet(["release", target], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        return json.loads(out)

    def test_the_block_goes_on_recorded_first_and_back_on_release(self):
        event = bucket_finding(EXPOSURE, BUCKET)
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(self.block(), {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                                             "RestrictPublicBuckets")})
        tags = self.tags()
        self.assertEqual(tags["team"], "finance", "the other tags are kept")
        self.assertEqual(tags["tourniquet:prior-public-access-block"], "1000")
        self.assertEqual(tags["tourniquet:incident-id"], report["incidentId"])
        # The figure: event -> bucket blocked in at most 2 round trips (the read, then record + block).
        self.assertLessEqual(report["details"]["blockedAfterRoundTrips"], 2, report)

        code, response, err = self.invoke(event)  # a replay changes nothing
        self.assertEqual(code, 0, err)
        again = self.report(response)
        self.assertEqual(again["status"], "contained")
        self.assertEqual({a["outcome"] for a in again["actions"]}, {"already"}, again)
        self.assertEqual(self.tags(), tags)

        released = self.release(f"s3://{BUCKET}")
        self.assertEqual(released["status"], "released", released)
        self.assertEqual(self.block(), {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                                        "RestrictPublicBuckets": False})
        self.assertIn(":user/", self.tags()["tourniquet:released-by"])
        self.assertEqual(self.tags()["team"], "finance")

        code, response, err = self.invoke(event)  # the same finding after the release: the decision stands
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "ignored")
        self.assertFalse(self.block()["IgnorePublicAcls"])

    def test_a_bucket_without_a_block_gets_one_and_loses_it_on_release(self):
        self.moto.open_auth()
        self.moto.client("s3").create_bucket(Bucket="acme-bare")
        self.moto.enforce_auth()
        code, response, err = self.invoke(bucket_finding(EXPOSURE, "acme-bare"))
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "contained", response)
        self.assertEqual(self.tags("acme-bare")["tourniquet:prior-public-access-block"], "none")
        self.assertTrue(all(self.block("acme-bare").values()))
        self.assertEqual(self.release("arn:aws:s3:::acme-bare")["status"], "released")
        self.assertIsNone(self.block("acme-bare"))

    def test_a_data_finding_deactivates_its_key_and_tags_the_bucket(self):
        event = bucket_finding(DATA, BUCKET)
        event["detail"]["resource"]["accessKeyDetails"].update(userName="deploy-bot", accessKeyId=self.bot_keys[0])
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response, "credential-containment")["status"], "contained", response)
        keys = {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]}
        self.assertEqual(keys, {self.bot_keys[0]: "Inactive", self.bot_keys[1]: "Active"})
        bucket = self.report(response)
        self.assertEqual(bucket["status"], "contained", bucket)
        self.assertEqual(self.tags()["tourniquet:incident-id"], bucket["incidentId"])
        self.assertNotIn("tourniquet:prior-public-access-block", self.tags(), "only tagged")
        self.assertFalse(self.block()["IgnorePublicAcls"])

    def test_exempt_buckets_are_left_alone(self):
        before = (self.block(), self.tags())
        code, response, err = self.invoke(bucket_finding(EXPOSURE, BUCKET), {"TOURNIQUET_EXEMPT_BUCKETS": BUCKET})
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "ignored")
        event = bucket_finding(EXPOSURE, BUCKET)
        event["detail"]["resource"]["s3BucketDetails"][0]["tags"].append({"key": "public-website", "value": "true"})
        code, response, err = self.invoke(event, {"TOURNIQUET_EXEMPT_TAG": "public-website=true"})
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "ignored")
        self.assertIn("public-website=true", report["reason"])
        self.assertEqual((self.block(), self.tags()), before)

    def account_control(self):
        # boto3 puts the account id in front of the host, which moto's address cannot take: it is taken off
        # before the request is signed (moto checks the signature against the host it was sent to).
        control = self.moto.client("s3control", *self.admin)
        control.meta.events.register("before-sign.s3-control.*", lambda request, **_: setattr(
            request, "url", request.url.replace(f"//{ACCOUNT}.", "//")))
        return control

    def responder_tags(self):
        return {t["Key"]: t["Value"] for t in self.iam.list_user_tags(UserName="responder")["Tags"]}

    def test_the_account_level_block_goes_on_recorded_on_the_responder_and_back_on_release(self):
        control = self.account_control()
        control.put_public_access_block(AccountId=ACCOUNT, PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False})
        event = guardduty_finding("policy-s3-account-block-public-access-disabled.json")
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        report = self.report(response)
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(report["target"], f"account {ACCOUNT}")
        self.assertEqual(report["details"]["publicAccessBlockBefore"], "0100")
        self.assertIn(":user/responder", report["details"]["recordOn"])
        block = control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]
        self.assertTrue(all(block.values()), block)
        # Tourniquet acts as the user "responder" here (a role's session in Lambda): the record is on it.
        self.assertEqual(self.responder_tags()["tourniquet:prior-account-public-access-block"], "0100")
        code, response, err = self.invoke(event)  # a replay changes nothing
        self.assertEqual({a["outcome"] for a in self.report(response)["actions"]}, {"already"})

        released = self.release("s3://*")
        self.assertEqual(released["status"], "released", released)
        block = control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]
        self.assertEqual(block, {"BlockPublicAcls": False, "IgnorePublicAcls": True, "BlockPublicPolicy": False,
                                 "RestrictPublicBuckets": False})
        tags = self.responder_tags()
        self.assertTrue(tags["tourniquet:account-public-access-block-status"].startswith("released at "), tags)
        self.assertEqual(tags["tourniquet:prior-account-public-access-block"], "0100", "the record stays")

        code, response, err = self.invoke(event)  # the same finding after the release: the decision stands
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "ignored", response)
        self.assertFalse(control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]
                         ["BlockPublicAcls"])

    def test_an_account_without_a_block_gets_one_and_loses_it_on_release(self):
        control = self.account_control()
        code, response, err = self.invoke(guardduty_finding("policy-s3-account-block-public-access-disabled.json"))
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "contained", response)
        self.assertEqual(self.responder_tags()["tourniquet:prior-account-public-access-block"], "none")
        self.assertTrue(all(control.get_public_access_block(AccountId=ACCOUNT)["PublicAccessBlockConfiguration"]
                            .values()))
        self.assertEqual(self.release("s3://*")["status"], "released")
        with self.assertRaises(control.exceptions.ClientError) as gone:
            control.get_public_access_block(AccountId=ACCOUNT)
        self.assertEqual(gone.exception.response["Error"]["Code"], "NoSuchPublicAccessBlockConfiguration")

    def test_a_dry_run_changes_nothing(self):
        before = (self.block(), self.tags())
        code, response, err = self.invoke(bucket_finding(EXPOSURE, BUCKET), {"TOURNIQUET_DRY_RUN": "true"})
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response)["status"], "dry-run")
        self.assertEqual((self.block(), self.tags()), before)


if __name__ == "__main__":
    unittest.main()
