"""The account the containment benchmarks act on, built in moto_server, and the findings sent about it.

Two VPCs. VPC A holds a decoy instance (contained first, to warm the function and leave Tourniquet's
groups in that VPC) and instance A; VPC B holds instance B, alone. Instances A and B have what makes a
containment do all its work: two interfaces (one in two groups, SSH open to the world among them), a root
volume and two more volumes, and membership of an Auto Scaling group. So:
  instance B = first time in its VPC (the groups must be made and given their rules first),
  instance A = the groups already exist in its VPC (the usual case once a function has run once).
For the network block, the same instances: B's subnet has an ACL Tourniquet never wrote to, A's subnet an ACL
that already holds Tourniquet's blocks (the decoy's, which shares A's subnet).
"""
import io
import json
import os
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE = os.path.join(ROOT, "events", "guardduty", "backdoor-ec2-cc-activity.json")
ACCOUNT = "123456789012"
AMI = "ami-12c6146b"


def _instance(ec2, autoscaling, subnets, groups, asg, interfaces=2, volumes=2):
    # Launched on a ready-made interface: moto reports an interface's groups as its own plus those the
    # instance was launched with, so an instance launched with groups would never look isolated there.
    primary = ec2.create_network_interface(SubnetId=subnets[0], Groups=groups)["NetworkInterface"]
    instance = ec2.run_instances(ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro", NetworkInterfaces=[
        {"DeviceIndex": 0, "NetworkInterfaceId": primary["NetworkInterfaceId"]}])["Instances"][0]["InstanceId"]
    ec2.create_tags(Resources=[instance], Tags=[{"Key": "Name", "Value": "web"}, {"Key": "team", "Value": "shop"}])
    if asg:
        autoscaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName=asg)
    for index in range(1, interfaces):
        extra = ec2.create_network_interface(SubnetId=subnets[1], Groups=groups[:1])["NetworkInterface"]
        ec2.attach_network_interface(NetworkInterfaceId=extra["NetworkInterfaceId"], InstanceId=instance,
                                     DeviceIndex=index)
    for device in ("/dev/sdf", "/dev/sdg")[:volumes]:
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=8)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device=device)
    return instance


def _vpc(ec2, autoscaling, cidr_prefix, name):
    vpc = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"{cidr_prefix}.{i}.0/24",
                                 AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"] for i in (1, 2)]
    web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ssh = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=ssh, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.create_launch_template(LaunchTemplateName=f"{name}-template",
                               LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"})
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=f"{name}-asg", LaunchTemplate={"LaunchTemplateName": f"{name}-template"},
        MinSize=0, MaxSize=4, DesiredCapacity=0, VPCZoneIdentifier=subnets[0])
    return vpc, subnets, [web, ssh], f"{name}-asg"


def build_world(moto):
    """Resets moto and builds the account; returns the ids the events need: instances "decoy", "warm",
    "first"; IAM users "deploy-bot" and "build-bot" with a key each ("key:<user>"); security groups
    "exposed-1" and "exposed-2" in VPC A with SSH and HTTPS open to the world ("rule:<group>": the SSH rule);
    functions "decoy-fn" and "orders-fn"; buckets "open-decoy" and "open-reports" (public access block off),
    "decoy-exports" and "customer-exports"; each instance's primary interface ("interface:<instance>")."""
    moto.reset()
    ec2, autoscaling, iam = moto.client("ec2"), moto.client("autoscaling"), moto.client("iam")
    vpc_a, subnets_a, groups_a, asg_a = _vpc(ec2, autoscaling, "10.1", "a")
    vpc_b, subnets_b, groups_b, asg_b = _vpc(ec2, autoscaling, "10.2", "b")
    ids = {
        "decoy": _instance(ec2, autoscaling, subnets_a, groups_a, None, interfaces=1, volumes=0),
        "warm": _instance(ec2, autoscaling, subnets_a, groups_a, asg_a),
        "first": _instance(ec2, autoscaling, subnets_b, groups_b, asg_b),
        "vpc_warm": vpc_a,
        "vpc_first": vpc_b,
    }
    # Each contained instance holds its own instance profile (so its role is revoked) and serves a target group.
    elbv2 = moto.client("elbv2")
    for key, vpc in (("warm", vpc_a), ("first", vpc_b)):
        iam.create_role(RoleName=f"{key}-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
        profile = iam.create_instance_profile(InstanceProfileName=f"{key}-profile")["InstanceProfile"]["Arn"]
        iam.add_role_to_instance_profile(InstanceProfileName=f"{key}-profile", RoleName=f"{key}-role")
        ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": profile}, InstanceId=ids[key])
        group = elbv2.create_target_group(Name=f"{key}-web", Protocol="HTTP", Port=80, VpcId=vpc,
                                          TargetType="instance")["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": ids[key], "Port": 80}])
        ids["target-group:" + key] = group
    for user in ("deploy-bot", "build-bot"):
        iam.create_user(UserName=user)
        ids["key:" + user] = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        iam.create_access_key(UserName=user)  # a second key, which must stay active
    # Functions "decoy-fn" and "orders-fn" (reserved concurrency 10), each with its own role ("role:<name>").
    lam = moto.client("lambda")
    for name in ("decoy-fn", "orders-fn"):
        role = iam.create_role(RoleName=name + "-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="handler.handle",
                            Code={"ZipFile": _function_zip()})
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=10)
        ids["role:" + name] = role
    for name in ("exposed-1", "exposed-2"):
        group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_a)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
        ids[name] = group
        ids["rule:" + name] = next(r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"]
                                   if not r["IsEgress"] and r.get("FromPort") == 22)
    # Bucket protection: "open-decoy" and "open-reports", their public access blocks switched off (all four
    # settings false), each with a tag of its own (kept when the record is added). Attack sequences:
    # "decoy-exports" and "customer-exports", tagged as confidential data.
    s3 = moto.client("s3")
    for name in ("open-decoy", "open-reports", "decoy-exports", "customer-exports"):
        s3.create_bucket(Bucket=name)
        tag = ("team", "finance") if name.startswith("open-") else ("data-class", "confidential")
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": tag[0], "Value": tag[1]}]})
        if name.startswith("open-"):
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
                "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
                "RestrictPublicBuckets": False})
    # Each instance's primary interface ("interface:<key>": id, subnet, VPC), which a sequence names.
    reservations = ec2.describe_instances(InstanceIds=[ids[k] for k in ("decoy", "warm", "first")])["Reservations"]
    by_id = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
    for key in ("decoy", "warm", "first"):
        primary = next(n for n in by_id[ids[key]]["NetworkInterfaces"] if n["Attachment"]["DeviceIndex"] == 0)
        ids["interface:" + key] = (primary["NetworkInterfaceId"], primary["SubnetId"], primary["VpcId"])
    return ids


def _function_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("handler.py", "def handle(event, context):\n    return event\n")
    return buffer.getvalue()


def function_finding(ids, name):
    """A GuardDuty CryptoCurrency:Lambda/BitcoinTool.B finding (severity 8) about function `name`."""
    with open(os.path.join(ROOT, "events", "guardduty", "cryptocurrency-lambda-bitcointool.json")) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = event["detail"]["accountId"] = ACCOUNT
    event["detail"]["id"] = uuid.uuid4().hex
    event["detail"]["resource"]["lambdaDetails"].update(
        functionName=name, functionArn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}", role=ids["role:" + name])
    return _published(event)


# GuardDuty, which Tourniquet asks to confirm every finding (a stand-in: tests/servers/guardduty_standin.py);
# set by the bench, so that each finding made here is also what GuardDuty published.
GUARDDUTY = None


def _published(event):
    if GUARDDUTY is not None:
        from standin_support import set_finding_arn
        set_finding_arn(event["detail"])
        GUARDDUTY.put_finding(event["detail"])
    return json.dumps(event)


def finding(instance_id):
    """A GuardDuty Backdoor:EC2/C&CActivity.B finding (severity 8, the instance as actor) about the instance."""
    with open(SAMPLE) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = ACCOUNT
    event["detail"]["accountId"] = ACCOUNT
    event["detail"]["id"] = uuid.uuid4().hex
    event["detail"]["resource"]["instanceDetails"]["instanceId"] = instance_id
    return _published(event)


def block_request(instance_id, addresses):
    """Tourniquet's own "Block Addresses" event: deny `addresses` in the network ACL of the instance's subnet."""
    with open(os.path.join(ROOT, "events", "custom", "block-addresses.json")) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = ACCOUNT
    event["detail"].update({"addresses": addresses, "instanceId": instance_id,
                            "incidentId": "bench-" + uuid.uuid4().hex[:8]})
    return json.dumps(event)


def key_finding(user, key_id):
    """A GuardDuty finding that an IAM user's access key is used from a known malicious address."""
    with open(os.path.join(ROOT, "events", "guardduty", "unauthorizedaccess-iamuser-malicious-ip-caller-custom.json")) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = ACCOUNT
    event["detail"]["accountId"] = ACCOUNT
    event["detail"]["id"] = uuid.uuid4().hex
    details = event["detail"]["resource"]["accessKeyDetails"]
    details.update({"userName": user, "accessKeyId": key_id, "userType": "IAMUser"})
    return _published(event)


def bucket_exposed(bucket):
    """A GuardDuty Policy:S3/BucketBlockPublicAccessDisabled finding (severity 2) about `bucket`."""
    sample = os.path.join(ROOT, "events", "guardduty", "policy-s3-bucket-block-public-access-disabled.json")
    with open(sample) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = event["detail"]["accountId"] = ACCOUNT
    event["detail"]["id"] = uuid.uuid4().hex
    event["detail"]["resource"]["s3BucketDetails"][0].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    return _published(event)


def attack_sequence(ids, instance, user, bucket, endpoints):
    """A GuardDuty AttackSequence:S3/CompromisedData finding (severity 9.5) naming instance `instance` (a key of
    `ids`) and its primary interface, IAM user `user`'s first access key, `bucket`, and two remote `endpoints`:
    one invocation contains the instance, deactivates the key, tags the bucket and blocks the endpoints in the
    instance's subnets (events/guardduty/attacksequence-s3-compromised-data.json, as the integration test
    tests/integration/test_attack_sequence.py makes it)."""
    with open(os.path.join(ROOT, "events", "guardduty", "attacksequence-s3-compromised-data.json")) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = event["detail"]["accountId"] = ACCOUNT
    event["detail"]["id"] = uuid.uuid4().hex
    interface_id, subnet, vpc = ids["interface:" + instance]
    key = ids["key:" + user]
    sequence = event["detail"]["service"]["detection"]["sequence"]
    sequence["uid"] = str(uuid.uuid4())
    ec2_instance, interface, access_key, s3_bucket = sequence["resources"]
    ec2_instance["uid"] = ids[instance]
    ec2_instance["data"]["ec2Instance"]["ec2NetworkInterfaceUids"] = [interface_id]
    interface["uid"] = interface_id
    interface["data"]["ec2NetworkInterface"].update(subNetId=subnet, vpcId=vpc)
    access_key.update(uid=key, name=user)
    access_key["data"]["accessKey"]["userName"] = user
    sequence["actors"][0]["user"].update(name=user, credentialUid=key)
    event["detail"]["resource"]["accessKeyDetails"].update(accessKeyId=key, userName=user)
    s3_bucket.update(uid=bucket, name=bucket)
    s3_bucket["data"]["s3Bucket"]["s3ObjectUids"] = [f"{bucket}/exports/2025-06/customers.csv.gz"]
    event["detail"]["resource"]["s3BucketDetails"][0].update(name=bucket, arn=f"arn:aws:s3:::{bucket}")
    for endpoint, address in zip(sequence["endpoints"], endpoints):
        endpoint["ip"] = address
    sequence["signals"][0]["signalIndicators"][0]["values"] = [endpoints[0]]
    sequence["sequenceIndicators"][1]["values"] = [endpoints[0]]
    return _published(event)


def ssh_opened(ids, group, caller="deploy-bot"):
    """The CloudTrail record (via EventBridge) of `caller` opening SSH to the world on `group`."""
    with open(os.path.join(ROOT, "events", "cloudtrail", "authorize-sg-ingress-ssh-world.json")) as f:
        event = json.load(f)
    event["id"] = str(uuid.uuid4())
    event["account"] = ACCOUNT
    detail = event["detail"]
    detail["userIdentity"] = {"type": "IAMUser", "principalId": "AIDAEXAMPLEDEPLOYBOT",
                              "arn": "arn:aws:iam::%s:user/%s" % (ACCOUNT, caller), "accountId": ACCOUNT,
                              "accessKeyId": ids["key:" + caller], "userName": caller}
    detail["recipientAccountId"] = ACCOUNT
    detail["awsRegion"] = "us-east-1"
    detail["eventID"] = str(uuid.uuid4())
    detail["requestParameters"]["groupId"] = ids[group]
    permission = detail["requestParameters"]["ipPermissions"]["items"][0]
    permission["fromPort"] = permission["toPort"] = 22
    permission["ipRanges"] = {"items": [{"cidrIp": "0.0.0.0/0"}]}
    item = detail["responseElements"]["securityGroupRuleSet"]["items"][0]
    item.update({"groupId": ids[group], "securityGroupRuleId": ids["rule:" + group], "fromPort": 22, "toPort": 22,
                 "cidrIpv4": "0.0.0.0/0"})
    return json.dumps(event)


def end_state(moto, ids, keys=("warm", "first")):
    """What a containment left on each instance, in terms both functions must agree on (ids made fresh in
    each run, such as group or snapshot ids, are replaced by what they are)."""
    ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
    roles = {g["GroupId"]: {t["Key"]: t["Value"] for t in g.get("Tags", [])}.get("tourniquet:role", g["GroupName"])
             for g in ec2.describe_security_groups()["SecurityGroups"]}
    def rules(permissions):
        return sorted((p["IpProtocol"], p.get("FromPort"), r.get("CidrIp") or r.get("CidrIpv6"))
                      for p in permissions for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", []))

    managed = ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": ["tourniquet:role"]}])
    state = {"groups": sorted((g["VpcId"] == ids["vpc_warm"], roles[g["GroupId"]], g["GroupName"].split("-vpc-")[0],
                               rules(g["IpPermissions"]), rules(g["IpPermissionsEgress"]))
                              for g in managed["SecurityGroups"])}
    for key in keys:
        instance = ids[key]
        i = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
        tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
        state[key] = {
            "interfaces": sorted(tuple(roles[g["GroupId"]] for g in n["Groups"]) for n in i["NetworkInterfaces"]),
            "termination_protected": ec2.describe_instance_attribute(
                InstanceId=instance, Attribute="disableApiTermination")["DisableApiTermination"]["Value"],
            "shutdown": ec2.describe_instance_attribute(InstanceId=instance, Attribute="instanceInitiatedShutdownBehavior")[
                "InstanceInitiatedShutdownBehavior"]["Value"],
            "volumes_kept": all(not b["Ebs"]["DeleteOnTermination"] for b in i["BlockDeviceMappings"]),
            "in_autoscaling": bool(autoscaling.describe_auto_scaling_instances(InstanceIds=[instance])[
                "AutoScalingInstances"]),
            "snapshots": len(ec2.describe_snapshots(OwnerIds=["self"], Filters=[
                {"Name": "tag:tourniquet:instance-id", "Values": [instance]}])["Snapshots"]),
            "tag_keys": sorted(k.split(":eni-")[0] for k in tags),
            "status": tags.get("tourniquet:status"),
            "profile_held": bool(ec2.describe_iam_instance_profile_associations(Filters=[
                {"Name": "instance-id", "Values": [instance]}])["IamInstanceProfileAssociations"]),
            "in_target_group": bool(moto.client("elbv2").describe_target_health(
                TargetGroupArn=ids["target-group:" + key])["TargetHealthDescriptions"]) if "target-group:" + key in ids
            else None,
        }
    return state


def isolation_groups(moto):
    """The ids of the isolation groups in the account (made by either function, found by tag)."""
    ec2 = moto.client("ec2")
    groups = ec2.describe_security_groups(Filters=[{"Name": "tag:tourniquet:role", "Values": ["isolation"]}])
    return {g["GroupId"] for g in groups["SecurityGroups"]}
