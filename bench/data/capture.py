#!/usr/bin/env python3
"""Captures, from moto_server, the answers to the six reads instance containment makes about instance A of
bench/world.py once the decoy is contained (the groups exist in its VPC): the input of instance_bench.cpp.
Run: python3 bench/data/capture.py   (rewrites bench/data/*.xml)"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.dirname(HERE), os.path.join(ROOT, "tests", "integration")]
import world  # noqa: E402
from moto_support import REGION, Moto  # noqa: E402

moto = Moto()
try:
    instances = world.build_world(moto)
    os.environ.update({"AWS_ENDPOINT_URL": moto.url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "boto3_baseline"))
    import handler  # noqa: E402
    handler.contain("decoy-finding", "Backdoor:EC2/C&CActivity.B", world.ACCOUNT, instances["decoy"], 0.0)
    answers = []
    for client in (handler.ec2, handler.autoscaling):
        client.meta.events.register("after-call", lambda http_response, model, **_: answers.append(
            (model.name, http_response.content)))
    target = instances["warm"]
    handler.ec2.describe_instances(InstanceIds=[target])
    handler.ec2.describe_instance_attribute(InstanceId=target, Attribute="disableApiTermination")
    handler.ec2.describe_instance_attribute(InstanceId=target, Attribute="instanceInitiatedShutdownBehavior")
    handler.ec2.describe_security_groups(Filters=[{"Name": "tag:tourniquet:role", "Values": ["untrack", "isolation"]}])
    handler.autoscaling.describe_auto_scaling_instances(InstanceIds=[target])
    handler.ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:tourniquet:finding-id",
                                                                "Values": ["bench-finding"]}])
    names = ["describe-instances", "describe-instance-attribute-termination", "describe-instance-attribute-shutdown",
             "describe-security-groups", "describe-auto-scaling-instances", "describe-snapshots"]
    for name, (_, body) in zip(names, answers):
        with open(os.path.join(HERE, name + ".xml"), "wb") as f:
            f.write(body)
    with open(os.path.join(HERE, "instance-id.txt"), "w") as f:
        f.write(target + "\n")
    print("captured", ", ".join("%s (%d bytes)" % (n, len(b)) for n, (_, b) in zip(names, answers)))
finally:
    moto.stop()
