"""The playbooks of one finding run together (aws/joined_transport.h): the C&C finding with default settings both
contains its instance and blocks its C&C address, through tests/servers/aws_proxy.py in front of moto. The
proxy's log has each call's arrival and answer: a call that arrived after another's answer came after it, and
the depth of a call in that order is the round trip it went out in (as bench/containment_bench.py counts)."""
import json
import unittest

from moto_support import ACCOUNT, invoke
from proxy_support import AwsProxy, round_trip_depths
from worlds import InstanceWorldTestCase, instance_finding, instance_on_interface

# The Lambda knows its account from its ARN; `tourniquet invoke` from this (else one GetCallerIdentity first).
SETTINGS = {"TOURNIQUET_ACCOUNT_ID": ACCOUNT}


class MergedPlans(InstanceWorldTestCase):
    def setUp(self):
        super().setUp()
        # A delay keeps a batch's calls apart from the next batch's even while moto answers one at a time, and
        # a loaded machine starts a batch's transfers some milliseconds apart.
        self.proxy = AwsProxy(self.moto.url, delay_ms=100)
        self.addCleanup(self.proxy.stop)
        # As in the benchmark's warm case: a decoy contained first made the isolation groups in the VPC (with
        # the block off, so that the C&C address is still to be blocked).
        decoy, _ = instance_on_interface(self.moto.client("ec2", *self.admin), self.world.subnets[0])
        code, _, err = self.invoke(instance_finding(decoy), {"TOURNIQUET_BLOCK_MIN_SEVERITY": "10"})
        self.assertEqual(code, 0, err[-3000:])
        self.proxy.reset()

    def invoke(self, event, extra=None):
        env = self.moto.env_for(*self.responder, dict(SETTINGS, AWS_ENDPOINT_URL=self.proxy.url, **(extra or {})))
        return invoke(event, env)

    def contain(self, extra=None):
        """The C&C finding on the world's instance: (exit code, the reports by playbook, the calls with their
        depths, stderr). The reports come from the log when the response is a failure (incomplete)."""
        code, response, err = self.invoke(instance_finding(self.world.instance), extra)
        self.response = response
        if response and "reports" in response:
            reports = response["reports"]
        else:
            reports = [json.loads(line.split(" report=", 1)[1]) for line in err.splitlines()
                       if "playbook finished" in line and " report=" in line]
        return code, {r["playbook"]: r for r in reports}, round_trip_depths(self.proxy.log()), err

    def isolation_depth(self, calls):
        moves = [c["depth"] for c in calls if c["action"] == "ModifyNetworkInterfaceAttribute"]
        self.assertTrue(moves, "no interface was moved")
        return max(moves)

    def test_the_cc_finding_takes_five_round_trips_and_isolates_by_the_third(self):
        code, reports, calls, err = self.contain()
        self.assertEqual(code, 0, err[-3000:])
        self.assertEqual(reports["instance-containment"]["status"], "contained")
        self.assertEqual(reports["network-block"]["status"], "blocked")
        trace = [(c["action"], c["depth"]) for c in calls]
        self.assertLessEqual(self.response["roundTrips"], 5, trace)  # as the event's transport counted them
        self.assertLessEqual(self.isolation_depth(calls), 3)
        # The block went out beside the containment, not after it (5 round trips): its first change by the third.
        blocks = [c["depth"] for c in calls if c["action"] == "CreateNetworkAclEntry"]
        self.assertLessEqual(min(blocks), 3, trace)
        # Each report counts its own round trips; together more than the event took, for they overlapped.
        own = reports["instance-containment"]["timing"]["roundTrips"], reports["network-block"]["timing"]["roundTrips"]
        self.assertEqual(own[0], 5)
        self.assertLessEqual(own[1], 5)
        self.assertGreater(sum(own), self.response["roundTrips"])

    def test_a_failing_block_never_holds_back_the_isolation(self):
        # Every read of the network ACLs fails: the block retries, passes again, and ends incomplete.
        self.proxy.configure(fault_share=1.0, faults=["503"], actions=["DescribeNetworkAcls"])
        code, reports, calls, err = self.contain()
        trace = [(c["action"], c["depth"], c.get("status")) for c in calls]
        self.assertNotEqual(code, 0, "the block is incomplete: Lambda is to retry")
        self.assertEqual(reports["instance-containment"]["status"], "contained", reports)
        self.assertIn(reports["network-block"]["status"], ("failed", "incomplete"))
        self.assertLessEqual(self.isolation_depth(calls), 3, trace)
        # The containment took its five round trips, whatever the block's retries and passes beside it.
        self.assertEqual(reports["instance-containment"]["timing"]["roundTrips"], 5, (reports, trace))


if __name__ == "__main__":
    unittest.main()
