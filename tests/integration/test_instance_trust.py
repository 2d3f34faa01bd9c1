"""What an attacker holding admin keys, or a shell on the instance, could do to instance containment, tried
end to end: the real `tourniquet invoke` against moto_server with its signature and IAM policy checks on,
acting as a principal that holds exactly the policy `tourniquet policy` prints. The attacker is the admin
user."""
import json
import os
import unittest

from moto_support import invoke, run_tourniquet
from worlds import SOURCE, InstanceWorldTestCase, instance_finding, instance_on_interface

SSH_BRUTE_FORCE = os.path.join(SOURCE, "events", "guardduty", "unauthorizedaccess-ec2-ssh-brute-force.json")
EXEMPT = {"TOURNIQUET_EXEMPT_TAG": "incident-response=exempt"}


class InstanceTrustTest(InstanceWorldTestCase):
    def setUp(self):
        super().setUp()
        self.ec2 = self.moto.client("ec2", *self.admin)

    def invoke(self, event, extra_env=None):
        return invoke(event, self.moto.env_for(*self.responder, extra_env))

    def contain(self, event, extra_env=None):
        code, response, err = self.invoke(event, extra_env)
        self.assertEqual(code, 0, err)
        report = self.report(response, "instance-containment")
        self.assertEqual(report["status"], "contained", report)
        return report, err

    @staticmethod
    def report(response, playbook):
        return next((r for r in response["reports"] if r["playbook"] == playbook), None)

    def managed_group(self, role):
        groups = self.ec2.describe_security_groups(Filters=[{"Name": "tag:tourniquet:role", "Values": [role]}])[
            "SecurityGroups"]
        self.assertEqual(len(groups), 1, groups)
        return groups[0]

    def group_rules(self, group_id):
        group = self.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        return group["IpPermissions"], group["IpPermissionsEgress"]

    def interface_groups(self, instance):
        described = self.ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
        return {n["NetworkInterfaceId"]: sorted(g["GroupId"] for g in n["Groups"])
                for n in described["NetworkInterfaces"]}

    def test_an_opened_isolation_group_is_closed_before_the_next_instance_is_moved_into_it(self):
        self.contain(instance_finding(self.world.instance))
        isolation = self.managed_group("isolation")["GroupId"]
        untrack = self.managed_group("untrack")["GroupId"]
        # The attacker opens Tourniquet's isolation group every way a rule can, and breaks the untrack group.
        elsewhere = self.ec2.create_security_group(GroupName="attacker", Description="x", VpcId=self.world.vpc)[
            "GroupId"]
        self.ec2.authorize_security_group_ingress(GroupId=isolation, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        self.ec2.authorize_security_group_egress(GroupId=isolation, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": elsewhere}]}])
        self.ec2.revoke_security_group_egress(GroupId=untrack, IpPermissions=[
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])

        second, interface = instance_on_interface(self.ec2, self.world.subnets[0], [self.world.web])
        report, err = self.contain(instance_finding(second))

        self.assertEqual(self.group_rules(isolation), ([], []), "the isolation group was left open")
        self.assertEqual(self.interface_groups(second), {interface: [isolation]})
        removed = report["details"]["removedRules"][isolation]
        for rule in ("ingress tcp 22-22 from 0.0.0.0/0", "ingress all traffic from ::/0",
                     "egress tcp 443-443 to 0.0.0.0/0", f"egress all traffic to {elsewhere}"):
            self.assertTrue(any(rule in r for r in removed), (rule, removed))
            self.assertIn(rule, err, "each removed rule is logged")
        self.assertIn(isolation, err)
        exposed = {e["instance"] for e in report["details"]["exposedWhileOpen"][isolation]}
        self.assertIn(self.world.instance, exposed, "the instance isolated while the group was open is named")
        egress6 = {r.get("CidrIpv6") for p in self.group_rules(untrack)[1] for r in p.get("Ipv6Ranges", [])}
        self.assertEqual(egress6, {"::/0"}, "the untrack group's IPv6 egress was not put back")

        code, replay, err = self.invoke(instance_finding(second))
        self.assertEqual(code, 0, err)
        actions = self.report(replay, "instance-containment")["actions"]
        self.assertFalse([a for a in actions if a["action"] == "revoke-stray-rule"], "repaired twice")

    def test_an_open_configured_isolation_group_is_not_used(self):
        configured = self.ec2.create_security_group(GroupName="corp-isolation", Description="x",
                                                    VpcId=self.world.vpc)["GroupId"]
        # Its default all-egress rule is still there: it is not closed.
        report, err = self.contain(instance_finding(self.world.instance),
                                   {"TOURNIQUET_ISOLATION_GROUP_IDS": configured})
        self.assertIn("not closed", report["details"]["refusedGroups"][configured])
        own = self.managed_group("isolation")["GroupId"]
        for interface, groups in self.interface_groups(self.world.instance).items():
            self.assertEqual(groups, [own], interface)
        self.assertEqual(len(self.group_rules(configured)[1]), 1, "a configured group is its owner's: unchanged")

    def test_an_exemption_tag_added_after_detection_is_not_honoured(self):
        # Malware that can tag its own instance (a common instance role) exempts itself once detected.
        self.ec2.create_tags(Resources=[self.world.instance], Tags=[{"Key": "incident-response", "Value": "exempt"}])
        report, err = self.contain(instance_finding(self.world.instance), EXEMPT)
        self.assertIn("exemption tag added after detection", report["details"]["exemptionRefused"])
        self.assertIn("exemption tag added after detection", err)
        self.assertNotEqual(self.interface_groups(self.world.instance), self.world.interfaces)

        # The finding's own view carried the tag: that exemption holds.
        second, interface = instance_on_interface(self.ec2, self.world.subnets[0], [self.world.web])
        self.ec2.create_tags(Resources=[second], Tags=[{"Key": "incident-response", "Value": "exempt"}])
        event = instance_finding(second)
        event["detail"]["resource"]["instanceDetails"]["tags"].append({"key": "incident-response", "value": "exempt"})
        code, response, err = self.invoke(event, EXEMPT)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.report(response, "instance-containment")["status"], "ignored", response)
        self.assertEqual(self.interface_groups(second), {interface: [self.world.web]})

    def test_an_outbound_tor_connection_marked_target_isolates(self):
        event = instance_finding(self.world.instance, type="UnauthorizedAccess:EC2/TorClient", severity=8)
        event["detail"]["service"]["resourceRole"] = "TARGET"  # as GuardDuty's sample findings mark it
        self.assertEqual(event["detail"]["service"]["action"]["networkConnectionAction"]["connectionDirection"],
                         "OUTBOUND")
        self.contain(event)
        isolation = self.managed_group("isolation")["GroupId"]
        for interface, groups in self.interface_groups(self.world.instance).items():
            self.assertEqual(groups, [isolation], interface)

    def test_an_inbound_ssh_brute_force_marked_target_does_not_isolate(self):
        event = instance_finding(self.world.instance, sample=SSH_BRUTE_FORCE, severity=8)
        self.assertEqual(event["detail"]["service"]["resourceRole"], "TARGET")
        code, response, err = self.invoke(event)
        self.assertEqual(code, 0, err)
        self.assertIsNone(self.report(response, "instance-containment"), response)
        self.assertEqual(self.interface_groups(self.world.instance), self.world.interfaces)

    def test_release_refuses_a_recorded_group_of_another_vpc(self):
        self.contain(instance_finding(self.world.instance))
        other_vpc = self.ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        foreign = self.ec2.create_security_group(GroupName="open", Description="x", VpcId=other_vpc)["GroupId"]
        interface = sorted(self.world.interfaces)[0]
        # The interface's own record is the first release reads: rewritten, as an attacker holding CreateTags could.
        self.ec2.create_tags(Resources=[interface], Tags=[{"Key": "tourniquet:prior-groups", "Value": foreign}])
        isolated = self.interface_groups(self.world.instance)
        code, out, err = run_tourniquet(["release", self.world.instance], self.moto.env_for(*self.responder))
        report = json.loads(out)
        self.assertEqual(report["status"], "incomplete", report)
        self.assertIn(f"recorded group {foreign} sits in {other_vpc}", out)
        self.assertEqual(self.interface_groups(self.world.instance)[interface], isolated[interface])


if __name__ == "__main__":
    unittest.main()
