"""The GuardDuty and Security Hub stand-ins, driven by boto3 (a real botocore client) and by a raw signed client:
stored findings come back as stored, and requests are refused as AWS would refuse them: a bad signature, an
unknown key, a tampered body, an action the principal was not given."""
import copy
import hashlib
import http.client
import json
import unittest
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from moto_support import ACCOUNT, MEMBER_ACCOUNT, REGION
from standin_support import GuardDutyStandIn, SecurityHubStandIn, set_finding_arn
from worlds import instance_finding

RESPONDER = ("AKIARESPONDER0000001", "responder-secret")
READER = ("AKIAREADER0000000001", "reader-secret")  # may list detectors, not read findings
OTHER_REGION = "eu-west-1"


def error_code(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call succeeded")


def signed_request(url, path, body, principal, service="guardduty", region=REGION, extra_headers=None):
    """(headers, body) of a POST signed by botocore's SigV4Auth, as any SDK would sign it."""
    request = AWSRequest(method="POST", url=url + path, data=body,
                         headers={"Content-Type": "application/json", **(extra_headers or {})})
    SigV4Auth(Credentials(*principal), service, region).add_auth(request)
    return dict(request.headers.items())


def send(url, path, headers, body):
    """Sends exactly these headers and body; returns (status, x-amzn-ErrorType, JSON answer)."""
    connection = http.client.HTTPConnection(url.split("//")[1], timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("x-amzn-ErrorType"), json.loads(response.read())
    finally:
        connection.close()


class GuardDutyStandInTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.standin = GuardDutyStandIn()
        cls.addClassCleanup(cls.standin.stop)

    def setUp(self):
        self.standin.reset()
        self.standin.allow(RESPONDER, ["guardduty:GetFindings", "guardduty:ListDetectors",
                                       "guardduty:ArchiveFindings", "ec2:DescribeInstances"])
        self.standin.allow(READER, ["guardduty:List*"])
        self.finding = instance_finding("i-0123456789abcdef0")["detail"]
        set_finding_arn(self.finding)
        self.detector = self.standin.put_finding(self.finding)["detectorId"]
        self.guardduty = self.standin.client(RESPONDER)

    def get_raw(self, finding_ids, client=None):
        """GetFindings through boto3; returns (parsed answer, the raw body boto3 received)."""
        client = client or self.guardduty
        raw = []
        client.meta.events.register("before-parse.guardduty.GetFindings",
                                    lambda response_dict, **_: raw.append(response_dict["body"]))
        parsed = client.get_findings(DetectorId=self.detector, FindingIds=finding_ids)
        return parsed, raw[0]

    def test_a_stored_finding_comes_back_exactly_as_stored(self):
        parsed, raw = self.get_raw([self.finding["id"]])
        self.assertIn(json.dumps(self.finding).encode(), raw)
        self.assertEqual(json.loads(raw), {"findings": [self.finding]})
        self.assertEqual([(f["Id"], f["Arn"], f["Severity"]) for f in parsed["Findings"]],
                         [(self.finding["id"], self.finding["arn"], self.finding["severity"])])

    def test_unknown_ids_are_absent(self):
        _, raw = self.get_raw([uuid.uuid4().hex, self.finding["id"], uuid.uuid4().hex])
        self.assertEqual([f["id"] for f in json.loads(raw)["findings"]], [self.finding["id"]])
        parsed, _ = self.get_raw([uuid.uuid4().hex])
        self.assertEqual(parsed["Findings"], [])

    def test_detectors_are_per_region(self):
        self.assertEqual(self.guardduty.list_detectors()["DetectorIds"], [self.detector])
        other = self.standin.client(RESPONDER, OTHER_REGION)
        self.assertEqual(other.list_detectors()["DetectorIds"], [])
        abroad = copy.deepcopy(self.finding)
        abroad.update(region=OTHER_REGION, id=uuid.uuid4().hex)
        set_finding_arn(abroad, "eu0detector")
        self.standin.put_finding(abroad)
        self.assertEqual(other.list_detectors()["DetectorIds"], ["eu0detector"])
        self.assertEqual(error_code(lambda: other.get_findings(DetectorId=self.detector, FindingIds=[])),
                         ("BadRequestException", 400))
        found = other.get_findings(DetectorId="eu0detector", FindingIds=[abroad["id"], self.finding["id"]])
        self.assertEqual([f["Id"] for f in found["Findings"]], [abroad["id"]])

    def test_an_administrator_sees_a_member_finding_through_its_own_detector(self):
        member = instance_finding("i-0fedcba9876543210", account=MEMBER_ACCOUNT)["detail"]
        set_finding_arn(member, "member0detector")
        stored = self.standin.put_finding(member, administrator=ACCOUNT)
        self.assertEqual(stored["administratorDetectorId"], self.detector)
        found = self.guardduty.get_findings(DetectorId=self.detector, FindingIds=[member["id"], self.finding["id"]])
        self.assertEqual(sorted((f["AccountId"], f["Id"]) for f in found["Findings"]),
                         sorted([(MEMBER_ACCOUNT, member["id"]), (ACCOUNT, self.finding["id"])]))
        self.assertEqual(error_code(lambda: self.guardduty.get_findings(DetectorId="member0detector",
                                                                        FindingIds=[member["id"]])),
                         ("BadRequestException", 400))
        self.guardduty.archive_findings(DetectorId=self.detector, FindingIds=[member["id"]])
        archived = {f["id"]: f["service"]["archived"] for f in self.standin.findings()}
        self.assertEqual(archived, {member["id"]: True, self.finding["id"]: False})

    def test_an_unknown_detector_is_a_bad_request(self):
        status, kind, answer = self.raw_get_findings(RESPONDER, detector="0" * 32)
        self.assertEqual((status, kind, answer["__type"]), (400, "BadRequestException", "InvalidInputException"))

    def test_a_wrong_secret_is_refused(self):
        client = self.standin.client((RESPONDER[0], "not-the-secret"))
        self.assertEqual(error_code(lambda: client.get_findings(DetectorId=self.detector,
                                                                FindingIds=[self.finding["id"]])),
                         ("InvalidSignatureException", 403))
        self.assertEqual([(r["operation"], r["accessKeyId"], r["status"], r["error"]) for r in self.standin.requests()],
                         [("GetFindings", RESPONDER[0], 403, "InvalidSignatureException")])

    def test_an_unknown_key_is_refused(self):
        client = self.standin.client(("AKIAUNKNOWN000000000", RESPONDER[1]))
        self.assertEqual(error_code(client.list_detectors), ("UnrecognizedClientException", 403))

    def test_a_session_token_must_match(self):
        session = ("ASIASESSION000000001", "session-secret", "the-token")
        self.standin.allow(session, ["guardduty:ListDetectors"])
        self.assertEqual(self.standin.client(session).list_detectors()["DetectorIds"], [self.detector])
        self.assertEqual(error_code(self.standin.client(session[:2]).list_detectors),
                         ("UnrecognizedClientException", 403))
        self.assertEqual(error_code(self.standin.client((*session[:2], "another-token")).list_detectors),
                         ("UnrecognizedClientException", 403))

    def test_an_action_not_allowed_is_denied(self):
        reader = self.standin.client(READER)
        self.assertEqual(reader.list_detectors()["DetectorIds"], [self.detector])
        self.assertEqual(error_code(lambda: reader.get_findings(DetectorId=self.detector,
                                                                FindingIds=[self.finding["id"]])),
                         ("AccessDeniedException", 403))
        self.assertEqual(error_code(lambda: reader.archive_findings(DetectorId=self.detector,
                                                                    FindingIds=[self.finding["id"]])),
                         ("AccessDeniedException", 403))
        self.assertFalse(self.standin.findings()[0]["service"]["archived"])

    def test_archive_sets_archived(self):
        self.assertFalse(self.finding["service"]["archived"])
        self.guardduty.archive_findings(DetectorId=self.detector, FindingIds=[self.finding["id"]])
        _, raw = self.get_raw([self.finding["id"]])
        self.assertTrue(json.loads(raw)["findings"][0]["service"]["archived"])
        self.assertEqual(error_code(lambda: self.standin.client(RESPONDER).unarchive_findings(
            DetectorId=self.detector, FindingIds=[self.finding["id"]])), ("AccessDeniedException", 403))

    def raw_get_findings(self, principal, body=None, tampered=None, detector=None, **signing):
        path = f"/detector/{detector or self.detector}/findings/get"
        body = body or json.dumps({"findingIds": [self.finding["id"]]}).encode()
        headers = signed_request(self.standin.url, path, body, principal, **signing)
        return send(self.standin.url, path, headers, body if tampered is None else tampered)

    def test_a_raw_signed_request_is_served_and_a_tampered_body_refused(self):
        status, _, answer = self.raw_get_findings(RESPONDER)
        self.assertEqual((status, answer), (200, {"findings": [self.finding]}))
        tampered = json.dumps({"findingIds": [self.finding["id"], "x"]}).encode()
        status, kind, _ = self.raw_get_findings(RESPONDER, tampered=tampered)
        self.assertEqual((status, kind), (403, "InvalidSignatureException"))

    def test_a_body_that_does_not_match_its_signed_hash_is_refused(self):
        body = json.dumps({"findingIds": [self.finding["id"]]}).encode()
        digest = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
        self.assertEqual(self.raw_get_findings(RESPONDER, body, extra_headers=digest)[0], 200)
        tampered = json.dumps({"findingIds": ["x" * len(self.finding["id"])]}).encode()
        status, kind, _ = self.raw_get_findings(RESPONDER, body, tampered=tampered, extra_headers=digest)
        self.assertEqual((status, kind), (403, "InvalidSignatureException"))

    def test_a_signature_for_another_service_is_refused(self):
        status, kind, _ = self.raw_get_findings(RESPONDER, service="securityhub")
        self.assertEqual((status, kind), (403, "InvalidSignatureException"))

    def test_a_finding_whose_arn_disagrees_is_not_stored(self):
        wrong = dict(self.finding, id=uuid.uuid4().hex)
        with self.assertRaises(Exception) as refused:
            self.standin.put_finding(wrong)
        self.assertEqual(getattr(refused.exception, "code", None), 400)
        self.assertEqual(len(self.standin.findings()), 1)


def asff(finding_id, product_arn, account=ACCOUNT, region=REGION):
    return {"SchemaVersion": "2018-10-08", "Id": finding_id, "ProductArn": product_arn, "GeneratorId": "tests",
            "AwsAccountId": account, "Region": region, "Types": ["TTPs/Command and Control"],
            "CreatedAt": "2025-03-04T10:15:52.413Z", "UpdatedAt": "2025-03-04T10:15:52.413Z",
            "Severity": {"Label": "HIGH", "Normalized": 70}, "Title": "C&C activity", "Description": "a test finding",
            "Resources": [{"Type": "AwsEc2Instance", "Id": f"arn:aws:ec2:{region}:{account}:instance/i-0123"}]}


class SecurityHubStandInTest(unittest.TestCase):
    DEFAULT_PRODUCT = f"arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default"
    GUARDDUTY_PRODUCT = f"arn:aws:securityhub:{REGION}::product/aws/guardduty"

    @classmethod
    def setUpClass(cls):
        cls.standin = SecurityHubStandIn()
        cls.addClassCleanup(cls.standin.stop)

    def setUp(self):
        self.standin.reset()
        self.standin.allow(RESPONDER, ["securityhub:BatchImportFindings", "securityhub:GetFindings",
                                       "securityhub:BatchUpdateFindings"])
        self.standin.allow(READER, ["securityhub:GetFindings"])
        self.hub = self.standin.client(RESPONDER)

    def by_id(self, finding_id, client=None):
        return (client or self.hub).get_findings(
            Filters={"Id": [{"Value": finding_id, "Comparison": "EQUALS"}]})["Findings"]

    def test_import_get_and_batch_update_round_trip(self):
        finding = asff("finding-1", self.DEFAULT_PRODUCT)
        self.assertEqual(self.hub.batch_import_findings(Findings=[finding])["SuccessCount"], 1)
        self.hub.batch_import_findings(Findings=[asff("finding-2", self.DEFAULT_PRODUCT)])
        [got] = self.by_id("finding-1")
        self.assertEqual((got["Workflow"], got["RecordState"], got["Resources"]),
                         ({"Status": "NEW"}, "ACTIVE", finding["Resources"]))
        answer = self.hub.batch_update_findings(
            FindingIdentifiers=[{"Id": "finding-1", "ProductArn": self.DEFAULT_PRODUCT},
                                {"Id": "nowhere", "ProductArn": self.DEFAULT_PRODUCT}],
            Note={"Text": "contained by Tourniquet", "UpdatedBy": "tourniquet"}, Workflow={"Status": "RESOLVED"})
        self.assertEqual(answer["ProcessedFindings"], [{"Id": "finding-1", "ProductArn": self.DEFAULT_PRODUCT}])
        self.assertEqual([(u["FindingIdentifier"]["Id"], u["ErrorCode"]) for u in answer["UnprocessedFindings"]],
                         [("nowhere", "FindingNotFound")])
        [got] = self.by_id("finding-1")
        self.assertEqual((got["Workflow"]["Status"], got["Note"]["Text"]), ("RESOLVED", "contained by Tourniquet"))
        self.assertEqual(self.by_id("finding-2")[0]["Workflow"]["Status"], "NEW")
        self.hub.batch_import_findings(Findings=[finding])  # a provider's re-import keeps the customer's workflow
        self.assertEqual(self.by_id("finding-1")[0]["Workflow"]["Status"], "RESOLVED")

    def test_a_guardduty_finding_put_by_the_test_is_found_by_product(self):
        arn = f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/d/finding/{uuid.uuid4().hex}"
        self.standin.put_findings([asff(arn, self.GUARDDUTY_PRODUCT)])
        self.hub.batch_import_findings(Findings=[asff("mine", self.DEFAULT_PRODUCT)])
        found = self.hub.get_findings(Filters={
            "ProductArn": [{"Value": self.GUARDDUTY_PRODUCT, "Comparison": "EQUALS"}]})["Findings"]
        self.assertEqual([f["Id"] for f in found], [arn])
        self.assertEqual(self.hub.batch_update_findings(
            FindingIdentifiers=[{"Id": arn, "ProductArn": self.GUARDDUTY_PRODUCT}],
            Workflow={"Status": "NOTIFIED"})["UnprocessedFindings"], [])
        self.assertEqual(self.standin.findings()[0]["Workflow"], {"Status": "NOTIFIED"})

    def test_import_takes_only_the_callers_own_findings(self):
        unchecked = self.standin.client(RESPONDER, parameter_validation=False)  # let the stand-in judge them
        answer = unchecked.batch_import_findings(Findings=[
            asff("theirs", self.GUARDDUTY_PRODUCT), asff("other-account", self.DEFAULT_PRODUCT, account="210987654321"),
            {k: v for k, v in asff("no-title", self.DEFAULT_PRODUCT).items() if k != "Title"}])
        self.assertEqual((answer["SuccessCount"], answer["FailedCount"]), (0, 3))
        self.assertEqual(self.standin.findings(), [])

    def test_findings_are_per_region(self):
        self.hub.batch_import_findings(Findings=[asff("here", self.DEFAULT_PRODUCT)])
        self.assertEqual(self.by_id("here", self.standin.client(RESPONDER, OTHER_REGION)), [])

    def test_an_action_not_allowed_is_denied_and_changes_nothing(self):
        self.hub.batch_import_findings(Findings=[asff("f", self.DEFAULT_PRODUCT)])
        reader = self.standin.client(READER)
        self.assertEqual(len(self.by_id("f", reader)), 1)
        self.assertEqual(error_code(lambda: reader.batch_update_findings(
            FindingIdentifiers=[{"Id": "f", "ProductArn": self.DEFAULT_PRODUCT}], Workflow={"Status": "RESOLVED"})),
            ("AccessDeniedException", 403))
        self.assertEqual(self.by_id("f")[0]["Workflow"]["Status"], "NEW")

    def test_a_wrong_secret_is_refused(self):
        client = self.standin.client((RESPONDER[0], "not-the-secret"))
        self.assertEqual(error_code(lambda: client.get_findings()), ("InvalidSignatureException", 403))

    def test_an_unsupported_filter_is_refused_not_ignored(self):
        self.assertEqual(error_code(lambda: self.hub.get_findings(
            Filters={"CreatedAt": [{"DateRange": {"Value": 1, "Unit": "DAYS"}}]})), ("InvalidInputException", 400))


if __name__ == "__main__":
    unittest.main()
