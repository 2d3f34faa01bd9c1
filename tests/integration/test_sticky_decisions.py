"""Decisions that stick, end to end against moto with its checks on: after `tourniquet release` (or an
operator's undo by hand) the same finding arriving again changes nothing, and a finding with activity after
the release contains again, saying so."""
import copy
import datetime
import json
import unittest

from moto_support import invoke, run_tourniquet
from worlds import CallerWorldTestCase, InstanceWorldTestCase, credential_finding, ec2_role, instance_finding

POLICY_NAME = "tourniquet-revoke-older-sessions"


def later_than_now(minutes=10):
    """An eventLastSeen after anything this test's release records."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def with_activity_at(event, last_seen):
    again = copy.deepcopy(event)
    again["detail"]["service"]["eventLastSeen"] = last_seen
    return again


class InstanceDecisionsStickTest(InstanceWorldTestCase):
    def setUp(self):
        super().setUp()
        self.ec2 = self.moto.client("ec2", *self.admin)

    def invoke(self, event, args=()):
        code, response, err = invoke(event, self.moto.env_for(*self.responder), args)
        self.assertEqual(code, 0, err + json.dumps(response))
        return response["reports"][0]

    def interface_groups(self):
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                for n in self.world.describe(self.ec2)["NetworkInterfaces"]}

    def contain_and_release(self):
        event = instance_finding(self.world.instance)
        self.assertEqual(self.invoke(event)["status"], "contained")
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        return event

    def test_the_same_finding_after_a_release_changes_nothing(self):
        event = self.contain_and_release()
        tags = {t["Key"]: t["Value"] for t in self.world.describe(self.ec2)["Tags"]}
        self.assertIn(":user/", tags["tourniquet:released-by"], "the caller's ARN")
        self.assertIn("tourniquet:released-at", tags)

        dry = self.invoke(event, ["--dry-run"])
        self.assertEqual(dry["status"], "ignored")
        report = self.invoke(event)
        self.assertEqual(report["status"], "ignored", report)
        self.assertEqual(report["reason"], "released at " + tags["tourniquet:released-at"] + " by " +
                         tags["tourniquet:released-by"] + "; no activity since")
        self.assertEqual(self.interface_groups(), self.world.interfaces, "the original groups stay")

    def test_activity_after_the_release_contains_again_saying_so(self):
        event = self.contain_and_release()
        tags = {t["Key"]: t["Value"] for t in self.world.describe(self.ec2)["Tags"]}
        seen = later_than_now()
        again = with_activity_at(event, seen)

        dry = self.invoke(again, ["--dry-run"])
        self.assertEqual(dry["status"], "dry-run")
        self.assertTrue(dry["reason"].startswith("contained again: activity at "), dry)
        self.assertEqual(self.interface_groups(), self.world.interfaces, "a dry run changes nothing")
        report = self.invoke(again)
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(report["reason"], "contained again: activity at " + seen + " after release at " +
                         tags["tourniquet:released-at"])
        self.assertNotEqual(self.interface_groups(), self.world.interfaces, "isolated again")
        self.assertEqual(self.invoke(again)["status"], "contained", "replays still converge")

    def test_an_undo_by_hand_stands_against_the_same_finding(self):
        event = instance_finding(self.world.instance)
        self.assertEqual(self.invoke(event)["status"], "contained")
        for eni, groups in self.world.interfaces.items():  # an operator moves the interfaces back by hand
            self.ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=groups)
        report = self.invoke(event)
        self.assertEqual(report["status"], "ignored", report)
        self.assertIn("was undone by hand; no activity since", report["reason"])
        self.assertEqual(self.interface_groups(), self.world.interfaces)
        self.assertEqual(self.invoke(with_activity_at(event, later_than_now()))["status"], "contained")
        self.assertNotEqual(self.interface_groups(), self.world.interfaces)


class CredentialDecisionsStickTest(CallerWorldTestCase):
    def build_world(self, moto):
        ec2_role(moto.client("iam"), "ci-deploy")

    def contain(self, event):
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err + json.dumps(response))
        return response["reports"][0]

    def release(self, target, args=()):
        code, out, err = run_tourniquet(["release", target, *args], self.moto.env_for(*self.responder))
        self.assertEqual(code, 0, err + out)
        return json.loads(out)

    def key_status(self):
        return {k["AccessKeyId"]: k["Status"]
                for k in self.iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]}

    def user_tags(self):
        return {t["Key"]: t["Value"] for t in self.iam.list_user_tags(UserName="deploy-bot")["Tags"]}

    def key_finding(self):
        return credential_finding("unauthorizedaccess-iamuser-malicious-ip-caller-custom.json", "deploy-bot",
                                  self.bot_keys[0])

    def test_a_released_key_stays_active_until_later_activity(self):
        event = self.key_finding()
        self.assertEqual(self.contain(event)["status"], "contained")
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Inactive")
        self.assertEqual(self.release(self.bot_keys[0], ["--dry-run"])["status"], "dry-run")
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Inactive", "a dry run changes nothing")
        self.assertEqual(self.release(self.bot_keys[0])["status"], "released")
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Active")
        self.assertEqual(self.iam.list_user_policies(UserName="deploy-bot")["PolicyNames"], [])
        tags = self.user_tags()
        self.assertEqual(tags["tourniquet:status"], "released")
        self.assertIn(":user/responder", tags["tourniquet:released-by"])
        self.assertIn("tourniquet:incident-id", tags, "the incident's tags stay")

        report = self.contain(event)
        self.assertEqual(report["status"], "ignored", report)
        self.assertEqual(report["reason"], "released at " + tags["tourniquet:released-at"] + " by " +
                         tags["tourniquet:released-by"] + "; no activity since")
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Active", "the key stays active")

        seen = later_than_now()
        report = self.contain(with_activity_at(event, seen))
        self.assertEqual(report["status"], "contained", report)
        self.assertEqual(report["reason"], "contained again: activity at " + seen + " after release at " +
                         tags["tourniquet:released-at"])
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Inactive")
        self.assertEqual(self.user_tags()["tourniquet:status"], "contained")

    def test_a_key_set_active_by_hand_stays_active_until_later_activity(self):
        event = self.key_finding()
        self.assertEqual(self.contain(event)["status"], "contained")
        self.iam.update_access_key(UserName="deploy-bot", AccessKeyId=self.bot_keys[0], Status="Active")
        report = self.contain(event)
        self.assertEqual(report["status"], "ignored", report)
        self.assertIn("was undone by hand; no activity since", report["reason"])
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Active")
        self.assertEqual(self.contain(with_activity_at(event, later_than_now()))["status"], "contained")
        self.assertEqual(self.key_status()[self.bot_keys[0]], "Inactive")

    def test_a_role_is_released_by_its_arn(self):
        event = credential_finding("pentest-iamuser-kali-linux-assumed-role.json", "ci-deploy",
                                   "ASIAQXYZ7EXAMPLESES2")
        self.assertEqual(self.contain(event)["status"], "contained")
        self.assertEqual(self.iam.list_role_policies(RoleName="ci-deploy")["PolicyNames"], [POLICY_NAME])
        role_arn = self.iam.get_role(RoleName="ci-deploy")["Role"]["Arn"]
        self.assertEqual(self.release(role_arn)["status"], "released")
        self.assertEqual(self.iam.list_role_policies(RoleName="ci-deploy")["PolicyNames"], [])
        self.assertEqual(self.contain(event)["status"], "ignored")
        self.assertEqual(self.iam.list_role_policies(RoleName="ci-deploy")["PolicyNames"], [])
        self.assertEqual(self.contain(with_activity_at(event, later_than_now()))["status"], "contained")
        self.assertEqual(self.iam.list_role_policies(RoleName="ci-deploy")["PolicyNames"], [POLICY_NAME])


if __name__ == "__main__":
    unittest.main()
