"""`tourniquet guardrails`, as far as moto can check it: the statements, held as an identity policy beside an
allow-all policy by a moto user with IAM checks on, deny the calls they name.

What moto 5.2 evaluates, and so what this can prove: the Action element (EC2 and IAM match the API action
against it), the Resource element only for IAM role calls (other services hand moto "*"), and a policy
document's syntax (condition operators, Sids, ARNs). What it does not: any condition — every operator but
StringEquals is skipped and a StringEquals key missing from the request passes, so aws:TagKeys,
aws:ResourceTag/… and aws:PrincipalArn all count as met (moto.iam.access_control and policy_conditions).
EventBridge's rule and bus ARNs are not matched (moto authorizes events calls against "*") and Lambda's REST
calls fail moto's signature check under enforced auth. test_moto_ignores_the_conditions keeps that visible:
when moto starts evaluating conditions it fails, and the allows the conditions promise can be tested here."""
import json
import unittest

from botocore.exceptions import ClientError

from moto_support import MotoTestCase, run_tourniquet

AMI = "ami-12c6146b"


def guardrail_statements(**settings):
    code, out, err = run_tourniquet(["guardrails"], dict(AWS_REGION="us-east-1", **settings))
    assert code == 0, err
    return json.loads(out)["Statement"]


def denied(call):
    try:
        call()
    except ClientError as e:
        if e.response["Error"]["Code"] in ("AccessDenied", "UnauthorizedOperation"):
            return True
        raise
    return False


class GuardrailsTest(MotoTestCase):
    def world(self):
        """An instance, a group tagged tourniquet:role, an ordinary group, Tourniquet's role and another role;
        then an intruder allowed everything but the guardrails, with the checks on."""
        statements = guardrail_statements(TOURNIQUET_EXEMPT_TAG="security:exempt=true")
        allow_all = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        with self.moto.fresh_account([allow_all]) as account:
            ec2, iam = self.moto.client("ec2"), self.moto.client("iam")
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            self.instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
            self.isolation = ec2.create_security_group(
                GroupName="isolation", Description="isolation", VpcId=vpc, TagSpecifications=[
                    {"ResourceType": "security-group", "Tags": [{"Key": "tourniquet:role", "Value": "isolation"}]}])["GroupId"]
            self.ordinary = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
            for group in (self.isolation, self.ordinary):
                ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.99.0.0/24"}]}])
            trust = json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
            iam.create_role(RoleName="prod-ResponderRole-1A2B", Path="/tourniquet/", AssumeRolePolicyDocument=trust)
            iam.create_role(RoleName="payments", AssumeRolePolicyDocument=trust)
            intruder = self.moto.user_with_policy("intruder", statements + [allow_all])
            self.admin = account.admin
        self.ec2 = self.moto.client("ec2", *intruder)
        self.iam = self.moto.client("iam", *intruder)

    def tag(self, key):
        return lambda: self.ec2.create_tags(Resources=[self.instance], Tags=[{"Key": key, "Value": "x"}])

    def revoke(self, group):
        return lambda: self.ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.99.0.0/24"}]}])

    def put_role_policy(self, role):
        return lambda: self.iam.put_role_policy(RoleName=role, PolicyName="backdoor", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))

    def test_iam_accepts_the_statements_as_a_policy_document(self):
        self.moto.reset()
        iam = self.moto.client("iam")
        document = json.dumps({"Version": "2012-10-17", "Statement": guardrail_statements(
            TOURNIQUET_GUARDRAIL_EXEMPT_ROLES="BreakGlass", TOURNIQUET_MEMBER_ROLE_NAME="tourniquet-member",
            TOURNIQUET_EXEMPT_TAG="security:exempt=true")})
        iam.create_policy(PolicyName="guardrails", PolicyDocument=document)  # moto validates the syntax
        with self.assertRaises(ClientError):  # and the validation can fail
            iam.create_policy(PolicyName="broken", PolicyDocument=document.replace("ArnNotLike", "ArnNotAlike"))

    def test_tagging_with_a_tourniquet_key_or_the_exemption_key_is_denied(self):
        self.world()
        self.assertTrue(denied(self.tag("tourniquet:status")))
        self.assertTrue(denied(self.tag("security:exempt")))
        self.assertTrue(denied(lambda: self.ec2.delete_tags(Resources=[self.instance],
                                                            Tags=[{"Key": "tourniquet:incident-id"}])))

    def test_rule_changes_on_a_tourniquet_group_are_denied(self):
        self.world()
        self.assertTrue(denied(self.revoke(self.isolation)))
        self.assertTrue(denied(lambda: self.ec2.delete_security_group(GroupId=self.isolation)))
        self.assertTrue(denied(lambda: self.ec2.authorize_security_group_egress(GroupId=self.isolation, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])))

    def test_changes_to_tourniquets_role_are_denied_and_to_other_roles_allowed(self):
        # IAM role calls are the ones moto matches against the statement's Resource (the role's ARN).
        self.world()
        self.assertTrue(denied(self.put_role_policy("prod-ResponderRole-1A2B")))
        self.assertTrue(denied(lambda: self.iam.update_assume_role_policy(
            RoleName="prod-ResponderRole-1A2B", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}))))
        self.assertTrue(denied(lambda: self.iam.delete_role(RoleName="prod-ResponderRole-1A2B")))
        self.assertFalse(denied(self.put_role_policy("payments")))

    def test_calls_the_guardrails_do_not_name_are_allowed(self):
        self.world()
        self.assertFalse(denied(lambda: self.ec2.describe_security_groups(GroupIds=[self.isolation])))
        self.assertFalse(denied(lambda: self.ec2.create_security_group(GroupName="new", Description="new")))
        self.assertFalse(denied(lambda: self.iam.list_roles()))

    def test_moto_ignores_the_conditions(self):
        """Not a property of the guardrails: it records that moto denies what the conditions would allow (an
        unrelated tag key, an ordinary group), so those allows and the exemption of Tourniquet's and the
        break-glass roles are not checked here. When this fails, moto evaluates conditions: test them here."""
        self.world()
        self.assertTrue(denied(self.tag("owner")))
        self.assertTrue(denied(self.revoke(self.ordinary)))


if __name__ == "__main__":
    unittest.main()
