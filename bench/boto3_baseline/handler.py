"""The baseline Tourniquet is measured against: the same instance containment written as a Python Lambda
function with boto3, the way such functions are usually written (calls one after another, as in
aws-solutions' automated-forensic-orchestrator `isolateEc2.py`), making the same calls with the same
parameters and the same checks for what is already in place, so both leave an account in the same state
and both find each other's groups.

The clients are created at import, during the function's init, as real functions do.
"""
import hashlib
import json
import time

import boto3

ec2 = boto3.client("ec2")
autoscaling = boto3.client("autoscaling")
iam = boto3.client("iam")
elbv2 = boto3.client("elbv2")
elb = boto3.client("elb")

ROLE = "tourniquet:role"
INCIDENT = "tourniquet:incident-id"
FINDING = "tourniquet:finding-id"
FINDING_TYPE = "tourniquet:finding-type"
STATUS = "tourniquet:status"
CONTAINED_AT = "tourniquet:contained-at"
PRIOR = "tourniquet:prior-groups:"
ALL_V4 = [{"CidrIp": "0.0.0.0/0"}]
ALL_V6 = [{"CidrIpv6": "::/0"}]
PROFILE = "tourniquet:instance-profile"
LOAD_BALANCERS = "tourniquet:load-balancers"
REVOKE_POLICY = "tourniquet-revoke-older-sessions"
MAX_TARGET_GROUPS = 200
DESCRIPTIONS = {"untrack": "Tourniquet: allows all traffic so tracked connections end before isolation",
                "isolation": "Tourniquet: isolation, no traffic but forensics access"}


def tags_of(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def all_traffic(rules, v4, v6):
    """Whether a rule allowing all protocols covers 0.0.0.0/0 and/or ::/0."""
    found_v4 = any(r["IpProtocol"] == "-1" and any(x.get("CidrIp") == "0.0.0.0/0" for x in r.get("IpRanges", []))
                   for r in rules)
    found_v6 = any(r["IpProtocol"] == "-1" and any(x.get("CidrIpv6") == "::/0" for x in r.get("Ipv6Ranges", []))
                   for r in rules)
    return (found_v4 or not v4) and (found_v6 or not v6), found_v4, found_v6


def ensure_groups(vpcs, groups, incident, actions):
    for vpc in vpcs:
        for role in ("untrack", "isolation"):
            if vpc in groups[role]:
                continue
            name = f"tourniquet-{role}-{vpc}"
            created = ec2.create_security_group(
                GroupName=name, Description=DESCRIPTIONS[role], VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group",
                                    "Tags": [{"Key": ROLE, "Value": role}, {"Key": "Name", "Value": name},
                                             {"Key": INCIDENT, "Value": incident}]}])
            groups[role][vpc] = {"GroupId": created["GroupId"], "VpcId": vpc, "IpPermissions": [],
                                 "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": ALL_V4}]}
            actions.append(("create-group", vpc))
    for vpc, g in groups["untrack"].items():
        complete, v4, v6 = all_traffic(g["IpPermissions"], True, True)
        if not complete:
            ec2.authorize_security_group_ingress(GroupId=g["GroupId"], IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [] if v4 else ALL_V4, "Ipv6Ranges": [] if v6 else ALL_V6}])
            actions.append(("set-group-rules", g["GroupId"]))
        complete, v4, v6 = all_traffic(g["IpPermissionsEgress"], True, True)
        if not complete:
            ec2.authorize_security_group_egress(GroupId=g["GroupId"], IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [] if v4 else ALL_V4, "Ipv6Ranges": [] if v6 else ALL_V6}])
            actions.append(("set-group-rules", g["GroupId"]))
    for vpc, g in groups["isolation"].items():
        _, v4, v6 = all_traffic(g["IpPermissionsEgress"], True, True)
        if v4 or v6:
            ec2.revoke_security_group_egress(GroupId=g["GroupId"], IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": ALL_V4 if v4 else [], "Ipv6Ranges": ALL_V6 if v6 else []}])
            actions.append(("set-group-rules", g["GroupId"]))


def detach_profile(instance_id, incident, tags, actions):
    """Detaches the instance profile (recorded on the instance) and denies its role's older sessions when no
    other instance holds the profile; returns why a person must decide, or None."""
    held = [a for a in ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
        if a["State"] in ("associated", "associating")]
    arn = held[0]["IamInstanceProfile"]["Arn"] if held else tags.get(PROFILE)
    if not arn:
        return None
    name = arn.rsplit("/", 1)[-1]
    profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    roles = profile["Roles"]
    shared = 0
    for page in ec2.get_paginator("describe_iam_instance_profile_associations").paginate():
        shared += sum(1 for a in page["IamInstanceProfileAssociations"]
                      if a["InstanceId"] != instance_id and a["IamInstanceProfile"]["Arn"] == arn
                      and a["State"] in ("associated", "associating"))
    if tags.get(PROFILE) != arn:
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": PROFILE, "Value": arn}])
        actions.append(("record-attachments", instance_id))
    if held:
        vouch = "tourniquet:detached-from:" + instance_id
        if vouch not in {t["Key"] for t in profile.get("Tags", [])}:
            iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": vouch, "Value": incident}])
            actions.append(("record-on-profile", name))
        ec2.disassociate_iam_instance_profile(AssociationId=held[0]["AssociationId"])
        actions.append(("detach-instance-profile", instance_id))
    if not roles:
        return None
    role = roles[0]["RoleName"]
    try:
        iam.get_role_policy(RoleName=role, PolicyName=REVOKE_POLICY)
        return None
    except iam.exceptions.NoSuchEntityException:
        pass
    if shared:
        return f"instance profile {arn} is used by {shared} other instance(s): its role was not revoked"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    iam.put_role_policy(RoleName=role, PolicyName=REVOKE_POLICY, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "TourniquetRevokeOlderSessions", "Effect": "Deny",
                                                "Action": "*", "Resource": "*",
                                                "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}}}]}))
    actions.append(("revoke-instance-role", role))
    return None


def deregister(instance, tags, actions):
    """Deregisters the instance from every target group holding it (as itself or by a private address) and
    from classic load balancers, recording each on the instance first."""
    vpcs = {n["VpcId"] for n in instance["NetworkInterfaces"]}
    own = {instance["InstanceId"]} | {a["PrivateIpAddress"] for n in instance["NetworkInterfaces"]
                                      for a in n.get("PrivateIpAddresses", [])}
    groups = []
    for page in elbv2.get_paginator("describe_target_groups").paginate():
        groups += [g["TargetGroupArn"] for g in page["TargetGroups"]
                   if g.get("TargetType") == "ip" or (g.get("TargetType") == "instance" and g.get("VpcId") in vpcs)]
    found = {}
    for group in groups[:MAX_TARGET_GROUPS]:
        targets = [d["Target"] for d in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
                   if d["Target"]["Id"] in own]
        if targets:
            found[group] = targets
    classic = [lb["LoadBalancerName"] for page in elb.get_paginator("describe_load_balancers").paginate()
               for lb in page["LoadBalancerDescriptions"]
               if any(i["InstanceId"] == instance["InstanceId"] for i in lb.get("Instances", []))]
    if not found and not classic:
        return
    record = ",".join(f"{g}@{t.get('Port', '')}@{t['Id']}" for g, ts in found.items() for t in ts)
    value = f"v1;n=1;t={record};c={'+'.join(classic)}"[:256]
    if tags.get(LOAD_BALANCERS) != value:
        ec2.create_tags(Resources=[instance["InstanceId"]], Tags=[{"Key": LOAD_BALANCERS, "Value": value}])
        actions.append(("record-attachments", instance["InstanceId"]))
    for group, targets in found.items():
        elbv2.deregister_targets(TargetGroupArn=group, Targets=targets)
        actions.append(("deregister-target", group))
    for name in classic:
        elb.deregister_instances_from_load_balancer(LoadBalancerName=name,
                                                    Instances=[{"InstanceId": instance["InstanceId"]}])
        actions.append(("deregister-classic", name))


def contain(finding_id, finding_type, account, instance_id, arrived):
    incident = "tq-" + hashlib.sha256(f"{account}/{finding_id}".encode()).hexdigest()[:16]
    actions = []
    # Read the live state.
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    protected = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")[
        "DisableApiTermination"]["Value"]
    shutdown = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"]
    managed = ec2.describe_security_groups(Filters=[{"Name": "tag:" + ROLE, "Values": ["untrack", "isolation"]}])[
        "SecurityGroups"]
    scaling = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:" + FINDING,
                                                                    "Values": [finding_id]}])["Snapshots"]
    tags = tags_of(instance)
    interfaces = instance["NetworkInterfaces"]
    groups = {"untrack": {}, "isolation": {}}
    for g in managed:
        role = tags_of(g).get(ROLE)
        if role in groups:
            groups[role].setdefault(g["VpcId"], g)

    ensure_groups(list(dict.fromkeys(n["VpcId"] for n in interfaces)), groups, incident, actions)

    # Record who this is and what each interface had, then untrack, then isolate.
    record = []
    if INCIDENT not in tags:
        record += [{"Key": INCIDENT, "Value": incident}, {"Key": FINDING, "Value": finding_id},
                   {"Key": FINDING_TYPE, "Value": finding_type}]
    ours = {g["GroupId"] for role in groups.values() for g in role.values()}
    for n in interfaces:
        current = [g["GroupId"] for g in n["Groups"]]
        if PRIOR + n["NetworkInterfaceId"] not in tags and not ours.intersection(current):
            record.append({"Key": PRIOR + n["NetworkInterfaceId"], "Value": ",".join(current)})
    if record:
        ec2.create_tags(Resources=[instance_id], Tags=record)
        actions.append(("record-prior-state", instance_id))
    isolated_after_ms = None
    for step in ("untrack", "isolation"):
        for n in interfaces:
            current = [g["GroupId"] for g in n["Groups"]]
            isolation = groups["isolation"][n["VpcId"]]["GroupId"]
            wanted = groups[step][n["VpcId"]]["GroupId"]
            if current == [isolation] or current == [wanted]:
                continue
            ec2.modify_network_interface_attribute(NetworkInterfaceId=n["NetworkInterfaceId"], Groups=[wanted])
            actions.append((step + "-interface", n["NetworkInterfaceId"]))
    isolated_after_ms = int((time.monotonic() - arrived) * 1000)

    # Keep the evidence.
    if not protected:
        ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": True})
        actions.append(("protect-termination", instance_id))
    if shutdown != "stop":
        ec2.modify_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior",
                                      Value="stop")
        actions.append(("stop-on-shutdown", instance_id))
    kept = [{"DeviceName": b["DeviceName"], "Ebs": {"DeleteOnTermination": False}}
            for b in instance.get("BlockDeviceMappings", []) if b["Ebs"].get("DeleteOnTermination")]
    if kept:
        ec2.modify_instance_attribute(InstanceId=instance_id, BlockDeviceMappings=kept)
        actions.append(("keep-volumes", instance_id))
    if scaling:
        autoscaling.detach_instances(InstanceIds=[instance_id], AutoScalingGroupName=scaling[0]["AutoScalingGroupName"],
                                     ShouldDecrementDesiredCapacity=False)
        actions.append(("detach-from-autoscaling", instance_id))
    if not snapshots and instance.get("BlockDeviceMappings"):
        ec2.create_snapshots(InstanceSpecification={"InstanceId": instance_id}, CopyTagsFromSource="volume",
                             Description=f"Tourniquet evidence for {finding_type} ({incident})",
                             TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
                                 {"Key": INCIDENT, "Value": incident}, {"Key": FINDING, "Value": finding_id},
                                 {"Key": "tourniquet:instance-id", "Value": instance_id}]}])
        actions.append(("snapshot-volumes", instance_id))
    # The instance's credentials and load balancers.
    escalation = detach_profile(instance_id, incident, tags, actions)
    deregister(instance, tags, actions)
    if tags.get(STATUS) != "contained":
        status = [{"Key": STATUS, "Value": "contained"}]
        if CONTAINED_AT not in tags:
            status.append({"Key": CONTAINED_AT, "Value": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        ec2.create_tags(Resources=[instance_id], Tags=status)
        actions.append(("record-status", instance_id))
    timing = {"totalMs": int((time.monotonic() - arrived) * 1000)}
    if actions:
        timing["isolatedAfterMs"] = isolated_after_ms
    return {"playbook": "instance-containment", "status": "escalate" if escalation else "contained",
            "reason": escalation or "", "target": instance_id,
            "incidentId": incident, "actions": [{"action": a, "target": t} for a, t in actions], "timing": timing}


def handler(event, context):
    arrived = getattr(context, "arrived", time.monotonic())
    detail = event["detail"]
    instance = detail.get("resource", {}).get("instanceDetails", {}).get("instanceId")
    if not instance or detail.get("resource", {}).get("resourceType") != "Instance":
        return {"status": "ignored", "reports": []}
    report = contain(detail["id"], detail["type"], detail.get("accountId", event.get("account", "")), instance, arrived)
    return {"status": report["status"], "reports": [report]}
