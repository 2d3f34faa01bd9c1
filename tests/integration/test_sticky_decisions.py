"""Decisions that stick, end to end against moto with its checks on: after `tourniquet release` (or an
operator's undo by hand) the same finding arriving again changes nothing, and a finding with activity after
the release contains again, saying so."""
import copy
import datetime
import json
import unittest

from moto_support import invoke, run_tourniquet
from worlds import InstanceWorldTestCase, instance_finding


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


if __name__ == "__main__":
    unittest.main()
