"""Network block against moto_server with its signature and IAM checks on: Tourniquet runs as a user holding
exactly the policy `tourniquet policy` prints. Events are written at test time from the samples in events/, with
the ids of the instance, subnets and ACLs made here."""
import concurrent.futures
import json
import time
import unittest

from moto_support import ACCOUNT, MotoTestCase, generated_policy, invoke, policy_keeping
from worlds import acl_of, load_event, port_probe_finding


def preferred_rule_number(address, low, high):
    """Mirrors preferred_rule_number in handlers/network_block.cpp (first attempt, IPv4 host) to pick
    addresses that collide. Should the two drift apart, the test still checks the outcome, with fewer races."""
    h = 2166136261
    for byte in [int(x) for x in address.split(".")] + [0] * 12 + [32]:
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    h ^= h >> 15
    return low + h % (high - low + 1)


class NetworkBlock(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.policy = generated_policy(TOURNIQUET_ACCOUNT_ID=ACCOUNT)

    def setUp(self):
        moto = self.moto
        with moto.fresh_account(self.policy) as account:
            self.key, self.admin_key = account
            ec2 = self.ec2 = moto.client("ec2", *self.admin_key)
            self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]["VpcId"]
            self.subnet_a = ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
            self.subnet_b = ec2.create_subnet(VpcId=self.vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
            self.acl_a = acl_of(ec2, self.subnet_a)
            # Subnet B gets its own ACL, allowing all at 100 as the default one does.
            self.acl_b = ec2.create_network_acl(VpcId=self.vpc)["NetworkAcl"]["NetworkAclId"]
            for egress in (False, True):
                ec2.create_network_acl_entry(NetworkAclId=self.acl_b, RuleNumber=100, Protocol="-1", RuleAction="allow",
                                             Egress=egress, CidrBlock="0.0.0.0/0")
            association = next(a for a in ec2.describe_network_acls(NetworkAclIds=[self.acl_a])["NetworkAcls"][0]
                               ["Associations"] if a["SubnetId"] == self.subnet_b)
            ec2.replace_network_acl_association(AssociationId=association["NetworkAclAssociationId"],
                                                NetworkAclId=self.acl_b)
            image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            self.instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=self.subnet_a,
                                              InstanceType="t3.micro")["Instances"][0]["InstanceId"]

    # --- helpers ---

    def acl(self, acl_id):
        return self.ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"][0]

    def denies(self, acl_id, window=(71, 90)):
        """{(rule number, egress): cidr} for the deny entries inside the window."""
        out = {}
        for e in self.acl(acl_id)["Entries"]:
            if e["RuleAction"] == "deny" and window[0] <= e["RuleNumber"] <= window[1]:
                out[(e["RuleNumber"], e["Egress"])] = e.get("CidrBlock") or e.get("Ipv6CidrBlock")
        return out

    def block_tags(self, acl_id):
        return {t["Key"]: t["Value"] for t in self.acl(acl_id).get("Tags", [])
                if t["Key"].startswith("tourniquet:block:")}

    def port_probe(self, addresses, instance=None):
        return port_probe_finding(instance or self.instance, self.subnet_a, self.vpc, addresses)

    def block_request(self, addresses, **target):
        event = load_event("custom/block-addresses.json")
        detail = event["detail"]
        detail["addresses"] = addresses
        detail.pop("instanceId")
        detail.update(target)
        return event

    def env(self, **extra):
        settings = {"TOURNIQUET_ACCOUNT_ID": ACCOUNT}
        settings.update(extra)
        return self.moto.env_for(*self.key, settings)

    def invoke(self, event, env=None, expect_code=0):
        code, response, err = invoke(event, env or self.env())
        self.assertEqual(code, expect_code, err)
        return response, err

    def report(self, response, playbook="network-block"):
        reports = [r for r in response["reports"] if r["playbook"] == playbook]
        self.assertEqual(len(reports), 1, response)
        return reports[0]

    def rows(self, report):
        return {(r["address"], r.get("networkAclId")): r for r in report["details"]["addresses"]}

    # --- scenarios ---

    def test_port_probe_blocks_every_address_both_ways_and_a_replay_adds_nothing(self):
        addresses = ["192.0.2.10", "198.51.100.62", "203.0.113.199"]
        event = self.port_probe(addresses)
        response, _ = self.invoke(event)
        report = self.report(response)
        self.assertEqual(report["status"], "blocked", report)
        rows = self.rows(report)
        numbers = set()
        for address in addresses:
            row = rows[(address, self.acl_a)]
            self.assertEqual(row["outcome"], "blocked", row)
            self.assertEqual(row["cidr"], address + "/32")
            numbers.add(row["ruleNumber"])
        self.assertEqual(len(numbers), 3)

        denies = self.denies(self.acl_a)
        self.assertEqual(len(denies), 6, denies)
        for n in numbers:
            self.assertTrue(71 <= n <= 90 and n < 100)  # below the allow rule at 100
            self.assertEqual(denies[(n, False)], denies[(n, True)])
        self.assertEqual(sorted(set(denies.values())), sorted(a + "/32" for a in addresses))
        tags = self.block_tags(self.acl_a)
        self.assertEqual(set(tags), {f"tourniquet:block:{n}" for n in numbers})
        for n in numbers:
            cidr, created, expires, incident = tags[f"tourniquet:block:{n}"].split("|")
            self.assertEqual(cidr, denies[(n, False)])
            self.assertEqual(int(expires) - int(created), 24 * 3600)
            self.assertEqual(incident, report["incidentId"])

        before = self.acl(self.acl_a)
        response, _ = self.invoke(event)
        report = self.report(response)
        self.assertEqual(report["status"], "blocked")
        for address in addresses:
            self.assertEqual(self.rows(report)[(address, self.acl_a)]["outcome"], "already")
        after = self.acl(self.acl_a)
        key = lambda e: (e["RuleNumber"], e["Egress"])
        self.assertEqual(sorted(before["Entries"], key=key), sorted(after["Entries"], key=key))
        self.assertEqual(sorted(before["Tags"], key=lambda t: t["Key"]), sorted(after["Tags"], key=lambda t: t["Key"]))
        self.assertFalse([a for a in report["actions"] if a["outcome"] == "done"], report["actions"])

    def test_eight_invocations_at_once_lose_nothing_and_share_no_rule_number(self):
        # Ten numbers for eight addresses that all try the same number first: the invocations race for it.
        env = self.env(TOURNIQUET_BLOCK_RULE_RANGE="71-80")
        wanted = preferred_rule_number("203.0.113.1", 71, 80)
        addresses = [a for a in (f"203.0.113.{i}" for i in range(1, 255))
                     if preferred_rule_number(a, 71, 80) == wanted][:8]
        self.assertEqual(len(addresses), 8)
        events = [self.block_request([a], networkAclIds=[self.acl_a]) for a in addresses]
        with concurrent.futures.ThreadPoolExecutor(len(events)) as pool:
            outputs = list(pool.map(lambda event: invoke(event, env, timeout=120), events))
        lost = []
        for code, response, err in outputs:
            self.assertEqual(code, 0, err)
            report = self.report(response)
            self.assertEqual(report["status"], "blocked", report)
            lost.append(sum(1 for a in report["actions"] if "superseded" in a.get("detail", "")
                            and "inbound" in a.get("detail", "")))
        print(f"\n  eight concurrent blocks: {sum(lost)} claims lost a race and were planned again"
              f" (at most {max(lost)} by one invocation)")

        denies = self.denies(self.acl_a, (71, 80))
        self.assertEqual(len(denies), 16, denies)
        by_number = {}
        for (n, egress), cidr in denies.items():
            by_number.setdefault(n, set()).add(cidr)
        for n, cidrs in by_number.items():
            self.assertEqual(len(cidrs), 1, f"rule {n} holds {cidrs}")
        self.assertEqual(sorted(c for s in by_number.values() for c in s), sorted(a + "/32" for a in addresses))
        tags = self.block_tags(self.acl_a)
        self.assertEqual(len(tags), 8)
        for n, cidrs in by_number.items():
            self.assertEqual(tags[f"tourniquet:block:{n}"].split("|")[0], next(iter(cidrs)))

    def test_a_full_window_evicts_the_oldest_of_its_own_blocks_and_keeps_foreign_rules(self):
        foreign = {}
        for egress in (False, True):
            self.ec2.create_network_acl_entry(NetworkAclId=self.acl_a, RuleNumber=72, Protocol="-1",
                                              RuleAction="deny", Egress=egress, CidrBlock="192.0.2.72/32")
            foreign[(72, egress)] = "192.0.2.72/32"
        window = "71-73"
        first = self.block_request(["203.0.113.1"], networkAclIds=[self.acl_a])
        second = self.block_request(["203.0.113.2"], networkAclIds=[self.acl_a])
        third = self.block_request(["203.0.113.3"], networkAclIds=[self.acl_a])
        # The first block is due to expire sooner: it is the one to go.
        self.invoke(first, self.env(TOURNIQUET_BLOCK_RULE_RANGE=window, TOURNIQUET_BLOCK_TTL_SECONDS="3600"))
        self.invoke(second, self.env(TOURNIQUET_BLOCK_RULE_RANGE=window))
        denies = self.denies(self.acl_a, (71, 73))
        self.assertEqual(len(denies), 6)
        first_number = next(n for (n, e), c in denies.items() if c == "203.0.113.1/32")

        response, _ = self.invoke(third, self.env(TOURNIQUET_BLOCK_RULE_RANGE=window))
        row = self.rows(self.report(response))[("203.0.113.3", self.acl_a)]
        self.assertEqual(row["outcome"], "blocked", row)
        self.assertEqual(row["ruleNumber"], first_number)
        self.assertIn("203.0.113.1/32", row["reason"])
        denies = self.denies(self.acl_a, (71, 73))
        for k, v in foreign.items():
            self.assertEqual(denies[k], v)  # never touched
        self.assertEqual(sorted(set(denies.values())), ["192.0.2.72/32", "203.0.113.2/32", "203.0.113.3/32"])
        tags = self.block_tags(self.acl_a)
        self.assertEqual(tags[f"tourniquet:block:{first_number}"].split("|")[0], "203.0.113.3/32")
        self.assertNotIn("tourniquet:block:72", tags)

        # A window holding only foreign rules and this request's own address: a failure that says why.
        only = self.block_request(["203.0.113.3", "203.0.113.4"], networkAclIds=[self.acl_a])
        code, _, err = invoke(only, self.env(TOURNIQUET_BLOCK_RULE_RANGE="72-72"))
        self.assertNotEqual(code, 0)
        self.assertIn("72-72", err)

    def test_expiry_removes_what_is_due_and_nothing_else(self):
        short = self.block_request(["203.0.113.21", "2001:db8::21"], networkAclIds=[self.acl_a])
        long = self.block_request(["203.0.113.22"], networkAclIds=[self.acl_a])
        self.invoke(short, self.env(TOURNIQUET_BLOCK_TTL_SECONDS="1"))
        self.invoke(long, self.env())
        # Someone else's deny in the window, and a number whose record is due but which another rule took.
        for egress in (False, True):
            self.ec2.create_network_acl_entry(NetworkAclId=self.acl_a, RuleNumber=89, Protocol="-1",
                                              RuleAction="deny", Egress=egress, CidrBlock="192.0.2.89/32")
        self.ec2.create_tags(Resources=[self.acl_a], Tags=[{"Key": "tourniquet:block:89",
                                                           "Value": "203.0.113.99/32|1000|2000|tq-stale"}])
        before = self.denies(self.acl_a)
        self.assertEqual(len(before), 8)
        time.sleep(2.1)

        event = load_event("scheduled/expire-blocks.json")
        response, _ = self.invoke(event)
        report = self.report(response, "block-expiry")
        self.assertEqual(report["status"], "expired", report)
        expired = sorted((e["cidr"], e["outcome"]) for e in report["details"]["expired"])
        self.assertEqual(expired, [("2001:db8::21/128", "removed"), ("203.0.113.21/32", "removed"),
                                   ("203.0.113.99/32", "removed")])
        self.assertEqual(report["details"]["kept"], 1)
        after = self.denies(self.acl_a)
        self.assertEqual(sorted(set(after.values())), ["192.0.2.89/32", "203.0.113.22/32"])
        self.assertEqual(len(after), 4)
        tags = self.block_tags(self.acl_a)
        self.assertEqual([v.split("|")[0] for v in tags.values()], ["203.0.113.22/32"])

        response, _ = self.invoke(event)
        report = self.report(response, "block-expiry")
        self.assertEqual(report["details"]["expired"], [])
        self.assertEqual(self.denies(self.acl_a), after)

    def test_ipv6_addresses_are_blocked_as_128s_in_every_subnet_of_the_instance(self):
        eni = self.ec2.create_network_interface(SubnetId=self.subnet_b)["NetworkInterface"]["NetworkInterfaceId"]
        self.ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=self.instance, DeviceIndex=1)
        event = load_event("guardduty/unauthorizedaccess-ec2-rdp-brute-force-ipv6.json")
        details = event["detail"]["resource"]["instanceDetails"]
        details["instanceId"] = self.instance
        for interface, subnet in zip(details["networkInterfaces"], (self.subnet_a, self.subnet_b)):
            interface["subnetId"] = subnet
            interface["vpcId"] = self.vpc
        response, _ = self.invoke(event)
        report = self.report(response)
        self.assertEqual(report["status"], "blocked", report)
        self.assertEqual(sorted(report["details"]["networkAclIds"]), sorted([self.acl_a, self.acl_b]))
        for acl_id in (self.acl_a, self.acl_b):
            row = self.rows(report)[("2001:db8:4006:812::200e", acl_id)]
            self.assertEqual(row["outcome"], "blocked", row)
            denies = self.denies(acl_id)
            self.assertEqual(denies[(row["ruleNumber"], False)], "2001:db8:4006:812::200e/128")
            self.assertEqual(denies[(row["ruleNumber"], True)], "2001:db8:4006:812::200e/128")

    def test_private_metadata_and_malformed_addresses_are_refused_with_the_reason(self):
        event = self.port_probe(["192.168.7.7", "169.254.169.254", "fd00:ec2::254", "10.0.5.5", "not-an-address",
                                "203.0.113.50"])
        response, _ = self.invoke(event)
        report = self.report(response)
        self.assertEqual(report["status"], "blocked", report)
        rows = {r["address"]: r for r in report["details"]["addresses"]}
        self.assertEqual(rows["203.0.113.50"]["outcome"], "blocked")
        expected = {"192.168.7.7": "RFC 1918", "169.254.169.254": "metadata", "fd00:ec2::254": "metadata",
                    "10.0.5.5": "RFC 1918", "not-an-address": "'not-an-address' is not an IPv4 or IPv6 address"}
        for address, reason in expected.items():
            self.assertEqual(rows[address]["outcome"], "skipped", rows[address])
            self.assertIn(reason, rows[address]["reason"])
        self.assertEqual(sorted(set(self.denies(self.acl_a).values())), ["203.0.113.50/32"])

        # With private ranges allowed, the VPC's own range is still refused.
        response, _ = self.invoke(event, self.env(TOURNIQUET_BLOCK_PRIVATE="true"))
        rows = {r["address"]: r for r in self.report(response)["details"]["addresses"]}
        self.assertEqual(rows["192.168.7.7"]["outcome"], "blocked")
        self.assertIn("VPC's own range", rows["10.0.5.5"]["reason"])
        self.assertEqual(rows["169.254.169.254"]["outcome"], "skipped")

        # Nothing left to block: answered, not failed.
        response, _ = self.invoke(self.port_probe(["127.0.0.1"]))
        self.assertEqual(self.report(response)["status"], "ignored")

        # In a request, a malformed address refuses the whole event, naming the field and the text.
        bad = self.block_request(["203.0.113.60", "203.0.113.999"], networkAclIds=[self.acl_a])
        code, response, err = invoke(bad, self.env())
        self.assertEqual(code, 2, err)
        self.assertIn("$.detail.addresses[1]", json.dumps(response) + err)
        self.assertIn("203.0.113.999", json.dumps(response) + err)
        self.assertNotIn("203.0.113.60/32", self.denies(self.acl_a).values())

    def test_requests_by_subnet_and_a_finding_for_a_terminated_instance(self):
        response, _ = self.invoke(self.block_request(["198.51.100.0/24"], subnetIds=[self.subnet_b]))
        row = self.rows(self.report(response))[("198.51.100.0/24", self.acl_b)]
        self.assertEqual(row["outcome"], "blocked", row)
        self.assertEqual(set(self.denies(self.acl_b).values()), {"198.51.100.0/24"})
        # An address inside a block already denied is reported as such.
        response, _ = self.invoke(self.block_request(["198.51.100.7"], subnetIds=[self.subnet_b]))
        row = self.rows(self.report(response))[("198.51.100.7", self.acl_b)]
        self.assertEqual(row["outcome"], "already", row)

        # The instance is gone: the subnets the finding named are still protected.
        response, _ = self.invoke(self.port_probe(["203.0.113.77"], instance="i-0000000000000dead"))
        report = self.report(response)
        self.assertEqual(report["status"], "blocked", report)
        self.assertIn("is gone", json.dumps(report["details"]["notes"]))
        self.assertIn("203.0.113.77/32", self.denies(self.acl_a).values())

    def test_without_permission_the_report_says_what_failed(self):
        self.moto.open_auth()
        # A reader: the generated policy's read actions (the network-block playbook's reads among them), no more.
        reads = ("Describe", "Get", "List")
        key = self.moto.user_with_policy("reader", policy_keeping(
            self.policy, lambda action: action.split(":")[1].startswith(reads)))
        self.moto.enforce_auth()
        env = self.moto.env_for(*key, {"TOURNIQUET_ACCOUNT_ID": ACCOUNT})
        code, response, err = invoke(self.port_probe(["203.0.113.88"]), env)
        self.assertNotEqual(code, 0)
        self.assertIn("incomplete", json.dumps(response) + err)
        self.assertEqual(self.denies(self.acl_a), {})


if __name__ == "__main__":
    unittest.main()
