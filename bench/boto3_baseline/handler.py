"""The baseline Tourniquet is measured against: the same instance containment written as a Python Lambda
function with boto3, the way such functions are usually written (calls one after another, as in
aws-solutions' automated-forensic-orchestrator `isolateEc2.py`), making the same calls with the same
parameters and the same checks for what is already in place, so both leave an account in the same state
and both find each other's groups and records.

The record is Tourniquet's (handlers/playbooks/instance_record.h): each interface's prior groups on the
interface itself, and one versioned `tourniquet:record` tag on the instance beside the incident id, spilling
to `tourniquet:record:2`, ... past EC2's 256 characters a value; every write counts the room EC2's 50 tags a
resource leave. It does not ask GuardDuty to confirm the finding (Tourniquet does, beside its first reads).

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
SOURCE_TYPE = "tourniquet:source-type"
STATUS = "tourniquet:status"
CONTAINED_AT = "tourniquet:contained-at"
PRIOR_GROUPS = "tourniquet:prior-groups"  # on an interface: its groups before containment
OLD_PRIOR = "tourniquet:prior-groups:"  # on the instance, + interface id: the format before the record
RECORD = "tourniquet:record"
PROFILE = "tourniquet:instance-profile"
LOAD_BALANCERS = "tourniquet:load-balancers"
REVOKE_POLICY = "tourniquet-revoke-older-sessions"
MAX_TARGET_GROUPS = 200
TAG_LIMIT = 50
VALUE_LIMIT = 256
ALL_V4, ALL_V6 = "0.0.0.0/0", "::/0"
# What the managed groups must hold, exactly: (direction, protocol, from port, to port, peer kind, peer).
UNTRACK_RULES = [("ingress", "-1", None, None, "v4", ALL_V4), ("ingress", "-1", None, None, "v6", ALL_V6),
                 ("egress", "-1", None, None, "v4", ALL_V4), ("egress", "-1", None, None, "v6", ALL_V6)]
ISOLATION_RULES = []  # no forensics CIDRs
DESCRIPTIONS = {"untrack": "Tourniquet: allows all traffic so tracked connections end before isolation",
                "isolation": "Tourniquet: isolation, no traffic but forensics access"}


def tags_of(resource, key="Tags"):
    return {t["Key"]: t["Value"] for t in resource.get(key, [])}


def now_rfc3339():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def fitting(tags, wanted):
    """The head of `wanted` that fits in the room a resource carrying `tags` has left (EC2: 50 user tags)."""
    room = max(0, TAG_LIMIT - sum(1 for k in tags if not k.startswith("aws:")))
    fits = []
    for tag in wanted:
        if tag["Key"] not in tags:
            if room == 0:
                break
            room -= 1
        fits.append(tag)
    return fits


def spilled_tags(key, body):
    """A versioned value "v1;n=<tags>;<body>" under `key`, cut into `key`, `key:2`, ... of 256 bytes at most."""
    count = 1
    while True:
        data, pieces, at = f"v1;n={count};{body}".encode(), [], 0
        while at < len(data):
            end = min(len(data), at + VALUE_LIMIT)
            while end < len(data) and end > at + 1 and data[end] & 0xC0 == 0x80:
                end -= 1
            pieces.append(data[at:end].decode())
            at = end
        if len(pieces) == count:
            return [{"Key": key if i == 0 else f"{key}:{i + 1}", "Value": p} for i, p in enumerate(pieces)]
        count = len(pieces)


def spilled_body(tags, key):
    """(presence, body) of a spilled value: "absent", "complete", "partial" or "unknown"."""
    head = tags.get(key)
    if head is None:
        return "absent", None
    count, semicolon, _ = head[5:].partition(";")
    if not head.startswith("v1;n=") or not semicolon or not count.isdigit() or not 0 < int(count) <= TAG_LIMIT:
        return "unknown", None
    pieces = [tags.get(f"{key}:{n}") for n in range(2, int(count) + 1)]
    if None in pieces:
        return "partial", None
    return "complete", (head + "".join(pieces))[5 + len(count) + 1:]


def record_body(finding_id, finding_type, interfaces):
    entries = ",".join(f"{eni}:{'+'.join(groups)}" for eni, groups in interfaces)
    return f"f={finding_id};t={finding_type};i={entries}"


def recorded_interfaces(tags):
    """(presence, [(interface, groups)]) of the instance's record."""
    presence, body = spilled_body(tags, RECORD)
    if presence != "complete":
        return presence, []
    interfaces = []
    for field in body.split(";"):
        if field.startswith("i=") and field[2:]:
            for entry in field[2:].split(","):
                eni, colon, groups = entry.partition(":")
                if not eni or not colon or not groups or "" in groups.split("+"):
                    return "unknown", []
                interfaces.append((eni, groups.split("+")))
    return "complete", interfaces


def recorded_for(tags, eni):
    """The groups recorded for an interface: on itself, in the instance's record, in the old instance tags."""
    own = [g for g in eni["Tags"].get(PRIOR_GROUPS, "").split(",") if g]
    if own:
        return own
    for recorded, groups in recorded_interfaces(tags)[1]:
        if recorded == eni["NetworkInterfaceId"]:
            return groups
    old = tags.get(OLD_PRIOR + eni["NetworkInterfaceId"])
    return [g for g in old.split(",") if g] if old is not None else None


def rules_of(group):
    """Every rule of a group, one per peer: (direction, protocol, from, to, peer kind, peer)."""
    rules = []
    for direction, key in (("ingress", "IpPermissions"), ("egress", "IpPermissionsEgress")):
        for p in group.get(key, []):
            ports = (None, None) if p["IpProtocol"] == "-1" else (p.get("FromPort"), p.get("ToPort"))
            base = (direction, p["IpProtocol"]) + ports
            rules += [base + ("v4", r["CidrIp"]) for r in p.get("IpRanges", [])]
            rules += [base + ("v6", r["CidrIpv6"]) for r in p.get("Ipv6Ranges", [])]
            rules += [base + ("group", r["GroupId"]) for r in p.get("UserIdGroupPairs", [])]
            rules += [base + ("prefix-list", r["PrefixListId"]) for r in p.get("PrefixListIds", [])]
    return rules


def same_rule(a, b):
    return a[0] == b[0] and a[1] == b[1] and a[4:] == b[4:] and (a[1] == "-1" or a[2:4] == b[2:4])


def change_rule(verb, group_id, rule):
    """One rule per call, as EC2 refuses a whole call when one of its rules is there already."""
    direction, protocol, from_port, to_port, kind, peer = rule
    permission = {"IpProtocol": protocol}
    if from_port is not None:
        permission["FromPort"] = from_port
    if to_port is not None:
        permission["ToPort"] = to_port
    permission.update({"v4": {"IpRanges": [{"CidrIp": peer}]}, "v6": {"Ipv6Ranges": [{"CidrIpv6": peer}]},
                       "group": {"UserIdGroupPairs": [{"GroupId": peer}]},
                       "prefix-list": {"PrefixListIds": [{"PrefixListId": peer}]}}[kind])
    call = getattr(ec2, f"{verb}_security_group_{direction}")
    call(GroupId=group_id, IpPermissions=[permission])


def ensure_groups(vpcs, groups, incident, actions):
    """Creates the groups a VPC lacks, then makes every managed group hold exactly its rules."""
    created = set()
    for vpc in vpcs:
        for role in ("untrack", "isolation"):
            if vpc in groups[role]:
                continue
            name = f"tourniquet-{role}-{vpc}"
            made = ec2.create_security_group(
                GroupName=name, Description=DESCRIPTIONS[role], VpcId=vpc,
                TagSpecifications=[{"ResourceType": "security-group",
                                    "Tags": [{"Key": ROLE, "Value": role}, {"Key": "Name", "Value": name},
                                             {"Key": INCIDENT, "Value": incident}]}])
            groups[role][vpc] = {"GroupId": made["GroupId"], "VpcId": vpc, "IpPermissions": [],
                                 "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": ALL_V4}]}]}
            created.add(made["GroupId"])
            actions.append(("create-group", vpc))
    for role, wanted in (("untrack", UNTRACK_RULES), ("isolation", ISOLATION_RULES)):
        for vpc in sorted(groups[role]):
            g = groups[role][vpc]
            rules = rules_of(g)
            strays = [r for r in rules if not any(same_rule(r, w) for w in wanted)]
            for rule in strays:
                change_rule("revoke", g["GroupId"], rule)
                actions.append(("set-group-rules" if g["GroupId"] in created else "revoke-stray-rule", g["GroupId"]))
            for rule in wanted:
                if not any(same_rule(r, rule) for r in rules):
                    change_rule("authorize", g["GroupId"], rule)
                    actions.append(("set-group-rules", g["GroupId"]))
            if role == "isolation" and strays and g["GroupId"] not in created:
                # For the report: which interfaces sat in the isolation group while it was open.
                ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [g["GroupId"]]}])
                actions.append(("find-exposed-interfaces", g["GroupId"]))


def write_record(finding_id, finding_type, incident, instance_id, tags, interfaces, groups, actions):
    """Each interface's prior groups on itself, then the incident id and the record on the instance, where
    there is room; returns whether some of it found none."""
    def managed(eni):
        ours = {groups[role][eni["VpcId"]]["GroupId"] for role in groups if eni["VpcId"] in groups[role]}
        return bool(ours.intersection(g["GroupId"] for g in eni["Groups"]))

    for eni in interfaces:
        if managed(eni):
            continue
        wanted = [{"Key": PRIOR_GROUPS, "Value": ",".join(g["GroupId"] for g in eni["Groups"])},
                  {"Key": INCIDENT, "Value": incident}]
        if all(eni["Tags"].get(t["Key"]) == t["Value"] for t in wanted):
            continue
        fits = fitting(eni["Tags"], wanted)
        if fits:
            ec2.create_tags(Resources=[eni["NetworkInterfaceId"]], Tags=fits)
            actions.append(("record-on-interface", eni["NetworkInterfaceId"]))
    # The record: each interface's groups as they are, or as recorded before for one moved already.
    record = []
    for eni in interfaces:
        known = [g["GroupId"] for g in eni["Groups"]] if not managed(eni) else recorded_for(tags, eni)
        if known is not None:
            record.append((eni["NetworkInterfaceId"], known))
    wanted = [] if INCIDENT in tags else [{"Key": INCIDENT, "Value": incident}]
    presence, existing = recorded_interfaces(tags)
    if presence == "complete":
        current = existing == record
    elif presence == "absent":
        current = bool(record) and all(tags.get(OLD_PRIOR + eni) is not None and
                                       [g for g in tags[OLD_PRIOR + eni].split(",") if g] == groups_
                                       for eni, groups_ in record)
    else:
        current = False
    if not current:
        wanted += [t for t in spilled_tags(RECORD, record_body(finding_id, finding_type, record))
                   if tags.get(t["Key"]) != t["Value"]]
    if not wanted:
        return False
    fits = fitting(tags, wanted)
    lacks_room = len(fits) < len(wanted)
    if fits:
        ec2.create_tags(Resources=[instance_id], Tags=fits)
        tags.update({t["Key"]: t["Value"] for t in fits})
        actions.append(("record-prior-state", instance_id))
    return lacks_room


def read_profile(instance_id, tags):
    """The instance's profile, its role, whether the role is revoked and how many other instances hold it."""
    held = [a for a in ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
        if a["State"] in ("associated", "associating")]
    arn = held[-1]["IamInstanceProfile"]["Arn"] if held else tags.get(PROFILE)
    if not arn:
        return None
    name = arn.rsplit("/", 1)[-1]
    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    except iam.exceptions.NoSuchEntityException:
        profile = {"Roles": []}
    shared = 0
    for page in ec2.get_paginator("describe_iam_instance_profile_associations").paginate(
            PaginationConfig={"PageSize": 1000}):
        shared += sum(1 for a in page["IamInstanceProfileAssociations"]
                      if a["InstanceId"] != instance_id and a["IamInstanceProfile"]["Arn"] == arn
                      and a["State"] in ("associated", "associating"))
    role = profile["Roles"][0]["RoleName"] if profile["Roles"] else None
    revoked = False
    if role:
        try:
            iam.get_role_policy(RoleName=role, PolicyName=REVOKE_POLICY)
            revoked = True
        except iam.exceptions.NoSuchEntityException:
            pass
    return {"arn": arn, "name": name, "association": held[-1]["AssociationId"] if held else None,
            "profile_tags": tags_of(profile), "role": role, "revoked": revoked, "shared": shared}


def read_load_balancers(instance):
    """The instance's registrations: [(group ARN, id, port, zone)] in target groups, classic load balancers,
    and the target groups past MAX_TARGET_GROUPS, not searched."""
    vpcs = {n["VpcId"] for n in instance["NetworkInterfaces"]}
    own = {instance["InstanceId"]} | {a["PrivateIpAddress"] for n in instance["NetworkInterfaces"]
                                      for a in n.get("PrivateIpAddresses", [])}
    groups = []
    for page in elbv2.get_paginator("describe_target_groups").paginate(
            PaginationConfig={"PageSize": MAX_TARGET_GROUPS}):
        groups += [g["TargetGroupArn"] for g in page["TargetGroups"]
                   if g.get("TargetType") == "ip" or (g.get("TargetType") == "instance" and g.get("VpcId") in vpcs)]
    found = []
    for group in groups[:MAX_TARGET_GROUPS]:
        for d in elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]:
            t = d["Target"]
            target = (group, t["Id"], str(t["Port"]) if "Port" in t else "", t.get("AvailabilityZone", ""))
            if t["Id"] in own and target not in found:
                found.append(target)
    classic = []
    for page in elb.get_paginator("describe_load_balancers").paginate(PaginationConfig={"PageSize": 400}):
        classic += [lb["LoadBalancerName"] for lb in page["LoadBalancerDescriptions"]
                    if any(i["InstanceId"] == instance["InstanceId"] for i in lb.get("Instances", []))
                    and lb["LoadBalancerName"] not in classic]
    return found, classic, groups[MAX_TARGET_GROUPS:]


def load_balancer_tags(targets, classic, instance_id):
    """"v1;n=1;p=<ARN prefix>;t=<group>@<port>[@<id>][@<zone>],...;c=<name>+...", spilled past 256 bytes."""
    prefix = targets[0][0][:targets[0][0].find("/") + 1] if targets else ""
    if any(not t[0].startswith(prefix) for t in targets):
        return load_balancer_tags([], classic, instance_id)
    entries = []
    for group, id_, port, zone in targets:
        entry = f"{group[len(prefix):]}@{port}"
        entry += f"@{id_}" if id_ != instance_id or zone else ""
        entries.append(entry + (f"@{zone}" if zone else ""))
    return spilled_tags(LOAD_BALANCERS, f"p={prefix};t={','.join(entries)};c={'+'.join(classic)}")


def recorded_load_balancers(tags, instance_id):
    """(targets, classic) of the instance's load balancer record, or None."""
    presence, body = spilled_body(tags, LOAD_BALANCERS)
    if presence != "complete":
        return None
    fields = body.split(";")
    prefix = next((f[2:] for f in fields if f.startswith("p=")), "")
    targets, classic = [], []
    for field in fields:
        if field.startswith("t=") and field[2:]:
            for entry in field[2:].split(","):
                parts = entry.split("@")
                if not 2 <= len(parts) <= 4 or not parts[0]:
                    return None
                id_ = parts[2] if len(parts) >= 3 else instance_id
                targets.append((prefix + parts[0], id_, parts[1], parts[3] if len(parts) == 4 else ""))
        elif field.startswith("c=") and field[2:]:
            classic = field[2:].split("+")
    return targets, classic


def contain_attachments(instance, incident, finding_id, finding_type, tags, actions):
    """The instance's profile detached (its role's older sessions denied when no other instance holds it) and
    the instance deregistered from its load balancers, each recorded on the instance first. Returns
    (why a person must decide or None, whether the record lacked room)."""
    instance_id = instance["InstanceId"]
    profile = read_profile(instance_id, tags)
    found, classic, not_searched = read_load_balancers(instance)
    escalations = []
    # The record, in one write, before anything is detached or deregistered.
    wanted = []
    if profile and tags.get(PROFILE) != profile["arn"]:
        wanted.append({"Key": PROFILE, "Value": profile["arn"]})
    recorded = recorded_load_balancers(tags, instance_id)
    keep_targets, keep_classic = list(recorded[0]) if recorded else [], list(recorded[1]) if recorded else []
    keep_targets += [t for t in found if t not in keep_targets]
    keep_classic += [c for c in classic if c not in keep_classic]
    if (keep_targets or keep_classic) and (not recorded or (keep_targets, keep_classic) != recorded):
        wanted += load_balancer_tags(keep_targets, keep_classic, instance_id)
    wanted = [t for t in wanted if tags.get(t["Key"]) != t["Value"]]
    reserved = (0 if STATUS in tags else 1) + (0 if CONTAINED_AT in tags else 1)  # room the status will take
    fits = fitting(dict(tags, **{f"(reserved {i})": "" for i in range(reserved)}), wanted)
    if fits:
        ec2.create_tags(Resources=[instance_id], Tags=fits)
        tags.update({t["Key"]: t["Value"] for t in fits})
        actions.append(("record-attachments", instance_id))
    now = now_rfc3339()
    if profile:
        if profile["association"]:
            vouch = "tourniquet:detached-from:" + instance_id
            if vouch not in profile["profile_tags"]:
                iam.tag_instance_profile(InstanceProfileName=profile["name"], Tags=[{"Key": vouch, "Value": incident}])
                actions.append(("record-on-profile", profile["arn"]))
            ec2.disassociate_iam_instance_profile(AssociationId=profile["association"])
            actions.append(("detach-instance-profile", instance_id))
        role = profile["role"]
        if role and not profile["revoked"]:
            if profile["shared"]:
                escalations.append(f"instance profile {profile['arn']} is used by {profile['shared']} other "
                                   f"instance(s): the older sessions of its role {role} were not revoked")
            else:
                iam.put_role_policy(RoleName=role, PolicyName=REVOKE_POLICY, PolicyDocument=json.dumps({
                    "Version": "2012-10-17", "Statement": [{
                        "Sid": "TourniquetRevokeOlderSessions", "Effect": "Deny", "Action": "*", "Resource": "*",
                        "Condition": {"DateLessThan": {"aws:TokenIssueTime": now}}}]}, separators=(",", ":")))
                iam.tag_role(RoleName=role, Tags=[
                    {"Key": INCIDENT, "Value": incident}, {"Key": FINDING, "Value": finding_id},
                    {"Key": SOURCE_TYPE, "Value": finding_type}, {"Key": CONTAINED_AT, "Value": now},
                    {"Key": STATUS, "Value": "contained"}])
                actions.append(("revoke-instance-role", role))
    for group in sorted({t[0] for t in found}):
        targets = []
        for _, id_, port, zone in (t for t in found if t[0] == group):
            target = {"Id": id_}
            target.update({"Port": int(port)} if port else {})
            target.update({"AvailabilityZone": zone} if zone else {})
            targets.append(target)
        elbv2.deregister_targets(TargetGroupArn=group, Targets=targets)
        actions.append(("deregister-target", group))
    for name in classic:
        elb.deregister_instances_from_load_balancer(LoadBalancerName=name, Instances=[{"InstanceId": instance_id}])
        actions.append(("deregister-classic", name))
    if not_searched:
        escalations.append(f"{len(not_searched)} target groups were not searched for the instance")
    return " ".join(escalations) or None, len(fits) < len(wanted)


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
    # DescribeInstances lists no tags of an interface: their own records are read here.
    interface_tags = {n["NetworkInterfaceId"]: tags_of(n, "TagSet") for n in ec2.describe_network_interfaces(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["NetworkInterfaces"]}
    tags = tags_of(instance)
    interfaces = [dict(n, Tags=interface_tags.get(n["NetworkInterfaceId"], {})) for n in instance["NetworkInterfaces"]]
    groups = {"untrack": {}, "isolation": {}}
    for g in managed:
        role = tags_of(g).get(ROLE)
        if role in groups:
            groups[role].setdefault(g["VpcId"], g)

    ensure_groups(list(dict.fromkeys(n["VpcId"] for n in interfaces)), groups, incident, actions)

    # Record who this is and what each interface had, then untrack, then isolate.
    lacks_room = write_record(finding_id, finding_type, incident, instance_id, tags, interfaces, groups, actions)
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
    escalation, no_room = contain_attachments(instance, incident, finding_id, finding_type, tags, actions)
    lacks_room |= no_room
    if tags.get(STATUS) != "contained":
        status = [{"Key": STATUS, "Value": "contained"}]
        if CONTAINED_AT not in tags or tags.get(STATUS) == "released":
            status.append({"Key": CONTAINED_AT, "Value": now_rfc3339()})
        fits = fitting(tags, status)
        lacks_room |= len(fits) < len(status)
        if fits:
            ec2.create_tags(Resources=[instance_id], Tags=fits)
            actions.append(("record-status", instance_id))
    if lacks_room:
        escalation = ((escalation or "") + " EC2's limit of 50 tags kept part of the record off the instance").strip()
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
