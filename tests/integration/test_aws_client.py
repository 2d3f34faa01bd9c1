"""Runs the client's server tests: retries against the fault server, signed calls against moto with its
signature and IAM checks on. The C++ side is aws_retry_test and aws_client_moto_test."""
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile

from moto_support import MotoTestCase, build_dir

HERE = os.path.dirname(os.path.abspath(__file__))
# The responder's calls in aws_client_moto_test; it checks that ones outside them (DescribeVpcs,
# UpdateDetector) are refused.
RESPONDER_POLICY = [{"Effect": "Allow", "Resource": "*", "Action": [
    "ec2:DescribeInstances", "iam:GetUser", "sts:GetCallerIdentity", "sts:AssumeRole",
    "cloudtrail:GetTrailStatus", "lambda:PutFunctionConcurrency",
    # S3 as moto names its actions, which IAM does not: a bucket's public access block is checked as
    # s3:CreateBucket (PUT) and s3:ListBucket (GET) (moto's ACTION_MAP looks for "public_access_block" in a
    # query that says "publicAccessBlock"), the account's as s3:Put/GetPublicAccessBlock, where IAM has
    # s3:Put/GetBucketPublicAccessBlock and s3:Put/GetAccountPublicAccessBlock.
    "s3:PutObject", "s3:GetObject", "s3:CreateBucket", "s3:ListBucket", "s3:PutPublicAccessBlock",
    "s3:GetPublicAccessBlock"]}]


def make_function(moto, name):
    """A Lambda function in moto (never invoked, so no container is needed)."""
    role = moto.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": []}))["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    moto.client("lambda").create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler",
                                          Code={"ZipFile": code.getvalue()})


def run_gtest(name, env):
    done = subprocess.run([os.path.join(build_dir(), "tests", name)], env=env, capture_output=True, text=True,
                          timeout=300)
    return done.returncode, done.stdout + done.stderr


class RetriesAgainstFaultServer(unittest.TestCase):
    def test_retries(self):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            server = subprocess.Popen([sys.executable, os.path.join(HERE, "..", "servers", "fault_server.py"), port_file])
            try:
                for _ in range(100):
                    if os.path.exists(port_file) and open(port_file).read():
                        break
                    time.sleep(0.05)
                env = dict(os.environ, FAULT_URL=f"http://127.0.0.1:{open(port_file).read()}",
                           AWS_LAMBDA_LOG_LEVEL="DEBUG")
                code, output = run_gtest("aws_retry_test", env)
                self.assertEqual(code, 0, output)
                self.assertIn("PASSED", output)
                self.assertNotIn("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", output)
            finally:
                server.terminate()
                server.wait()


class ClientAgainstMoto(MotoTestCase):
    def test_signed_calls_policies_and_assumed_roles(self):
        moto = self.moto
        with moto.fresh_account(RESPONDER_POLICY, responder="responder") as account:
            setup = moto.member_account_role("tourniquet-member", "arn:aws:iam::123456789012:user/responder",
                                             ["ec2:DescribeVpcs", "sts:GetCallerIdentity"])
            moto.client("ec2", setup["AccessKeyId"], setup["SecretAccessKey"], setup["SessionToken"]).create_vpc(
                CidrBlock="10.9.0.0/16")
            moto.client("s3").create_bucket(Bucket="audit-logs")
            moto.client("cloudtrail").create_trail(Name="audit", S3BucketName="audit-logs")
            detector = moto.client("guardduty").create_detector(Enable=True)["DetectorId"]
            make_function(moto, "web-api")
            # As the evidence bucket is made in production: Object Lock on (versioning with it), a default
            # retention, so that a put without a checksum is refused
            moto.client("s3").create_bucket(Bucket="tq-evidence", ObjectLockEnabledForBucket=True)
            moto.client("s3").put_object_lock_configuration(Bucket="tq-evidence", ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}})
        key, secret = account.responder
        env = dict(os.environ, MOTO_URL=moto.url, USER_KEY=key, USER_SECRET=secret,
                   MEMBER_ROLE_ARN="arn:aws:iam::210987654321:role/tourniquet-member", AWS_LAMBDA_LOG_LEVEL="DEBUG",
                   TRAIL_NAME="audit", DETECTOR_ID=detector, FUNCTION_NAME="web-api", BUCKET="tq-evidence")
        code, output = run_gtest("aws_client_moto_test", env)
        self.assertEqual(code, 0, output)
        self.assertIn("PASSED", output)
        self.assertNotIn(secret, output, "a secret key reached the output")


if __name__ == "__main__":
    unittest.main()
