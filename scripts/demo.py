"""The story `scripts/demo` tells: an account with an instance whose SSH port is open to the world, a
GuardDuty finding about it delivered through the real Lambda runtime loop, then a stolen access key, a Lambda
function mining cryptocurrency, an S3 bucket whose public access block was switched off, and an attack sequence
naming an instance, a key and a bucket at once; and the account before and after."""
import io
import json
import os
import sys
import uuid
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from moto_support import ACCOUNT, Moto  # noqa: E402
from runtime_harness import RuntimeApiServer, RuntimeProcess  # noqa: E402
from standin_support import GuardDutyStandIn, set_finding_arn  # noqa: E402
from test_bucket_protection import with_moto_s3_names  # noqa: E402

BOLD, DIM, RED, GREEN, RESET = ("\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[0m") if sys.stdout.isatty() \
    else ("", "", "", "", "")


def heading(text):
    print(f"\n{BOLD}== {text} =={RESET}")


def rules_text(group):
    out = []
    for p in group["IpPermissions"]:
        port = "all" if p["IpProtocol"] == "-1" else f"{p['IpProtocol']}/{p.get('FromPort')}"
        for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", []):
            cidr = r.get("CidrIp") or r.get("CidrIpv6")
            flag = RED if cidr in ("0.0.0.0/0", "::/0") and port != "all" else ""
            out.append(f"{flag}in {port} from {cidr}{RESET if flag else ''}")
    if not group["IpPermissionsEgress"]:
        out.append("no outbound")
    return ", ".join(out) or "no inbound"


def show_instance(ec2, autoscaling, instance_id, finding_id):
    i = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    groups = {g["GroupId"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    print(f"instance {instance_id} ({i['State']['Name']})")
    for n in i["NetworkInterfaces"]:
        names = [f"{groups[g['GroupId']]['GroupName']} [{rules_text(groups[g['GroupId']])}]" for g in n["Groups"]]
        print(f"  interface {n['NetworkInterfaceId']} in {n['SubnetId']}: {'; '.join(names)}")
    protected = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")[
        "DisableApiTermination"]["Value"]
    shutdown = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"]["Value"]
    kept = all(not b["Ebs"]["DeleteOnTermination"] for b in i["BlockDeviceMappings"])
    asg = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
    snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[{"Name": "tag:tourniquet:finding-id",
                                                                "Values": [finding_id]}])["Snapshots"]
    print(f"  termination protection: {protected}   shutdown behaviour: {shutdown}   "
          f"volumes kept on termination: {kept} ({len(i['BlockDeviceMappings'])} volumes)")
    print(f"  auto scaling group: {asg[0]['AutoScalingGroupName'] if asg else '(none)'}   "
          f"evidence snapshots: {len(snaps)}")
    tags = {t["Key"]: t["Value"] for t in i.get("Tags", []) if t["Key"].startswith("tourniquet:")}
    for k in sorted(tags):
        print(f"  {DIM}tag {k} = {tags[k]}{RESET}")


def show_acl(ec2, subnet):
    acl = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["NetworkAcls"][0]
    denies = sorted((e["RuleNumber"], "out" if e["Egress"] else "in", e.get("CidrBlock") or e.get("Ipv6CidrBlock"))
                    for e in acl["Entries"] if e["RuleAction"] == "deny" and e["RuleNumber"] < 32767)
    print(f"network ACL {acl['NetworkAclId']} of {subnet}: "
          + (", ".join(f"{GREEN}#{n} deny {d} {c}{RESET}" for n, d, c in denies) if denies else "no deny rules"))


def show_user(iam, user):
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    print(f"IAM user {user}")
    for k in keys:
        colour = GREEN if k["Status"] == "Inactive" else ""
        print(f"  access key {k['AccessKeyId']}: {colour}{k['Status']}{RESET if colour else ''}")
    for name in iam.list_user_policies(UserName=user)["PolicyNames"]:
        document = iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"]
        statement = document["Statement"][0]
        print(f"  inline policy {name}: {statement['Effect']} {statement['Action']} "
              f"when {json.dumps(statement.get('Condition', {}))}")
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    for k in sorted(tags):
        print(f"  {DIM}tag {k} = {tags[k]}{RESET}")


def show_function(lam, iam, name):
    function = lam.get_function(FunctionName=name)
    reserved = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions", "unreserved")
    colour = GREEN if reserved == 0 else ""
    role = function["Configuration"]["Role"].rsplit("/", 1)[-1]
    print(f"Lambda function {name}: reserved concurrency {colour}{reserved}{RESET if colour else ''}, "
          f"execution role {role}")
    for policy_name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        statement = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]["Statement"][0]
        print(f"  role inline policy {policy_name}: {statement['Effect']} {statement['Action']} "
              f"when {json.dumps(statement.get('Condition', {}))}")
    tags = function.get("Tags", {})
    for k in sorted(t for t in tags if t.startswith("tourniquet:")):
        print(f"  {DIM}tag {k} = {tags[k]}{RESET}")


def show_bucket(s3, bucket):
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        text = ", ".join(f"{GREEN if v else RED}{k} {'on' if v else 'off'}{RESET}" for k, v in block.items())
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] != "NoSuchPublicAccessBlockConfiguration":
            raise
        text = f"{RED}no public access block{RESET}"
    print(f"S3 bucket {bucket}: {text}")
    try:
        tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    except s3.exceptions.ClientError:
        tags = {}
    for k in sorted(t for t in tags if t.startswith("tourniquet:")):
        print(f"  {DIM}tag {k} = {tags[k]}{RESET}")


def show_response(label, record, targets=False):
    body = json.loads(record["body"]) if record["kind"] == "response" else None
    if body is None:
        print(f"{label}: {RED}{record['kind']} {record.get('error_type', '')}{RESET} {record['body'][:300]}")
        return
    for report in body["reports"]:
        counts = ", ".join(f"{v} {k}" for k, v in report.get("summary", {}).items())
        timing = report.get("timing", {})
        extra = f" — isolated after {timing['isolatedAfterMs']} ms, {timing['roundTrips']} round trips" \
            if "isolatedAfterMs" in timing else ""
        reason = f" ({report['reason']})" if report.get("reason") else ""
        who = f" [{' '.join(filter(None, (report['playbook'], report.get('target'))))}]" if targets else ""
        print(f"{label}{who}: {GREEN}{report['status']}{RESET}{reason} {counts}{extra}")


def main():
    binary = os.path.abspath(sys.argv[1])
    moto = Moto()
    guardduty = GuardDutyStandIn()  # GuardDuty, which Tourniquet asks to confirm every finding
    try:
        moto.attach_guardduty(guardduty)
        moto.reset()
        ec2, autoscaling = moto.client("ec2"), moto.client("autoscaling")
        import subprocess
        policy = json.loads(subprocess.run([binary, "policy"], capture_output=True, text=True, check=True,
                                           env=dict(os.environ, AWS_REGION="us-east-1")).stdout)
        # moto checks a bucket's public access block under its own action names (s3:ListBucket, s3:CreateBucket,
        # s3:DeleteBucket), not IAM's s3:Get/PutBucketPublicAccessBlock: the principal also gets those names, as
        # the integration tests do (see with_moto_s3_names). `policy` itself is what `tourniquet policy` prints.
        responder = moto.user_with_policy("tourniquet", with_moto_s3_names(policy["Statement"]))
        admin = moto.admin()

        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
        web = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=web, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ssh = ec2.create_security_group(GroupName="ssh-anywhere", Description="ssh", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=ssh, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        eni = ec2.create_network_interface(SubnetId=subnet, Groups=[web, ssh])["NetworkInterface"]["NetworkInterfaceId"]
        instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                     NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": eni}])[
            "Instances"][0]["InstanceId"]
        eni2 = ec2.create_network_interface(SubnetId=subnet, Groups=[web])["NetworkInterface"]["NetworkInterfaceId"]
        second = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                   NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": eni2}])[
            "Instances"][0]["InstanceId"]
        volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20)["VolumeId"]
        ec2.attach_volume(VolumeId=volume, InstanceId=instance, Device="/dev/sdf")
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": "ami-12c6146b"})
        autoscaling.create_auto_scaling_group(AutoScalingGroupName="web-asg", LaunchTemplate={"LaunchTemplateName": "web"},
                                              MinSize=0, MaxSize=2, DesiredCapacity=0, VPCZoneIdentifier=subnet)
        autoscaling.attach_instances(InstanceIds=[instance], AutoScalingGroupName="web-asg")
        iam = moto.client("iam")
        iam.create_user(UserName="deploy-bot")
        stolen = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
        iam.create_access_key(UserName="deploy-bot")
        # A function with its own execution role and reserved concurrency (its code is never run).
        lam = moto.client("lambda")
        role_arn = iam.create_role(RoleName="thumbnailer-role", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                   "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("handler.py", "def handle(event, context):\n    return event\n")
        lam.create_function(FunctionName="thumbnailer", Runtime="python3.12", Role=role_arn, Handler="handler.handle",
                            Code={"ZipFile": code.getvalue()})
        lam.put_function_concurrency(FunctionName="thumbnailer", ReservedConcurrentExecutions=10)
        # A bucket whose public access block someone switched off, and one an attack sequence reads from.
        s3 = moto.client("s3")
        s3.create_bucket(Bucket="acme-reports-archive")
        s3.put_public_access_block(Bucket="acme-reports-archive", PublicAccessBlockConfiguration={
            "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
            "RestrictPublicBuckets": False})
        s3.create_bucket(Bucket="acme-customer-exports")
        s3.put_bucket_tagging(Bucket="acme-customer-exports",
                              Tagging={"TagSet": [{"Key": "data-class", "Value": "confidential"}]})
        # The attack sequence's instance (a build runner) and the key it stole.
        eni3 = ec2.create_network_interface(SubnetId=subnet, Groups=[web])["NetworkInterface"]["NetworkInterfaceId"]
        runner = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                   NetworkInterfaces=[{"DeviceIndex": 0, "NetworkInterfaceId": eni3}])[
            "Instances"][0]["InstanceId"]
        iam.create_user(UserName="build-bot")
        build_key = iam.create_access_key(UserName="build-bot")["AccessKey"]["AccessKeyId"]
        moto.enforce_auth()
        ec2, autoscaling = moto.client("ec2", *admin), moto.client("autoscaling", *admin)
        iam, lam, s3 = moto.client("iam", *admin), moto.client("lambda", *admin), moto.client("s3", *admin)

        with open(os.path.join(ROOT, "events", "guardduty", "backdoor-ec2-cc-activity.json")) as f:
            finding = json.load(f)
        finding_id = uuid.uuid4().hex
        finding["detail"].update({"id": finding_id, "accountId": ACCOUNT})
        finding["detail"]["resource"]["instanceDetails"]["instanceId"] = instance
        with open(os.path.join(ROOT, "events", "guardduty", "sample-backdoor-ec2-denial-of-service-tcp.json")) as f:
            sample = f.read()
        with open(os.path.join(ROOT, "events", "guardduty", "unauthorizedaccess-iamuser-malicious-ip-caller-custom.json")) as f:
            key_finding = json.load(f)
        key_finding["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
        key_finding["detail"]["resource"]["accessKeyDetails"].update({"accessKeyId": stolen, "userName": "deploy-bot",
                                                                      "userType": "IAMUser"})
        second_finding = json.loads(json.dumps(finding))
        second_finding["detail"]["id"] = uuid.uuid4().hex
        second_finding["detail"]["resource"]["instanceDetails"]["instanceId"] = second
        with open(os.path.join(ROOT, "events", "guardduty", "cryptocurrency-lambda-bitcointool.json")) as f:
            function_finding = json.load(f)
        function_finding["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
        function_finding["detail"]["resource"]["lambdaDetails"].update(
            functionName="thumbnailer", functionArn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thumbnailer",
            role=role_arn)
        with open(os.path.join(ROOT, "events", "guardduty", "policy-s3-bucket-block-public-access-disabled.json")) as f:
            bucket_finding = json.load(f)
        bucket_finding["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
        bucket_finding["detail"]["resource"]["s3BucketDetails"][0].update(name="acme-reports-archive",
                                                                         arn="arn:aws:s3:::acme-reports-archive")
        with open(os.path.join(ROOT, "events", "guardduty", "attacksequence-s3-compromised-data.json")) as f:
            sequence_finding = json.load(f)
        sequence_finding["detail"].update({"id": uuid.uuid4().hex, "accountId": ACCOUNT})
        sequence = sequence_finding["detail"]["service"]["detection"]["sequence"]
        seq_instance, seq_interface, seq_key, seq_bucket = sequence["resources"]
        seq_instance["uid"] = runner
        seq_instance["data"]["ec2Instance"]["ec2NetworkInterfaceUids"] = [eni3]
        seq_interface["uid"] = eni3
        seq_interface["data"]["ec2NetworkInterface"].update(subNetId=subnet, vpcId=vpc)
        seq_key.update(uid=build_key, name="build-bot")
        seq_key["data"]["accessKey"]["userName"] = "build-bot"
        sequence["actors"][0]["user"].update(name="build-bot", credentialUid=build_key)
        sequence_finding["detail"]["resource"]["accessKeyDetails"].update(accessKeyId=build_key, userName="build-bot")
        for resource in sequence["resources"]:
            resource["accountId"] = ACCOUNT
        for real in (finding, key_finding, second_finding, function_finding, bucket_finding,
                     sequence_finding):  # what GuardDuty published, and holds
            set_finding_arn(real["detail"])
            guardduty.put_finding(real["detail"])
        # Someone allowed to invoke the function hands it a finding GuardDuty never made.
        forged = json.loads(json.dumps(finding))
        forged["detail"]["id"] = uuid.uuid4().hex
        set_finding_arn(forged["detail"])

        heading("Before: the account as the attacker found it")
        show_instance(ec2, autoscaling, instance, finding_id)
        show_acl(ec2, subnet)
        show_user(iam, "deploy-bot")
        show_function(lam, iam, "thumbnailer")
        show_bucket(s3, "acme-reports-archive")
        show_instance(ec2, autoscaling, runner, sequence_finding["detail"]["id"])
        show_user(iam, "build-bot")
        show_bucket(s3, "acme-customer-exports")

        heading("Tourniquet runs as Lambda would (a local Runtime API, moto with signature and IAM checks on)")
        print(f"{DIM}acting as IAM user 'tourniquet', which holds exactly the policy `tourniquet policy` prints "
              f"({len(policy['Statement'][0]['Action'])} actions){RESET}")
        env = moto.env_for(*responder, {"TOURNIQUET_ACCOUNT_ID": ACCOUNT})
        with RuntimeApiServer(function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:tourniquet") as api, \
                RuntimeProcess(binary, api.endpoint, log_format="Text", env=env) as proc:
            labels = [f"GuardDuty {finding['detail']['type']} on {instance}",
                      "A forged finding (GuardDuty does not have it)", "A [SAMPLE] finding",
                      "The same finding delivered again",
                      f"GuardDuty {key_finding['detail']['type']} with key {stolen}"]
            api.enqueue(json.dumps(finding), json.dumps(forged), sample, json.dumps(finding),
                        json.dumps(key_finding))
            posts = api.posts(min_posts=5, timeout=60)
            for label, post in zip(labels, posts):
                show_response(label, post)

            # An intruder with admin keys opens Tourniquet's isolation group, so that the next instance it
            # isolates stays reachable: containment checks the group's rules before moving anyone in.
            isolation = ec2.describe_security_groups(Filters=[
                {"Name": "tag:tourniquet:role", "Values": ["isolation"]}])["SecurityGroups"][0]["GroupId"]
            ec2.authorize_security_group_ingress(GroupId=isolation, IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            print(f"\n{DIM}The intruder (admin keys) adds SSH from 0.0.0.0/0 to {isolation}, Tourniquet's isolation "
                  f"group; then GuardDuty reports {second}.{RESET}")
            api.enqueue(json.dumps(second_finding))
            post = api.posts(min_posts=6, timeout=60)[5]
            show_response(f"GuardDuty {second_finding['detail']['type']} on {second}", post)
            report = json.loads(post["body"])["reports"][0] if post["kind"] == "response" else {}
            for group, rules in report.get("details", {}).get("removedRules", {}).items():
                for rule in rules:
                    print(f"  removed from {group} before the instance moved in: {rule}")
            left = ec2.describe_security_groups(GroupIds=[isolation])["SecurityGroups"][0]["IpPermissions"]
            print(f"  {isolation} now admits: {left or 'nothing'}")

            print(f"\n{DIM}Then a function, a bucket, and an attack sequence naming {runner}, key {build_key} "
                  f"and bucket acme-customer-exports.{RESET}")
            api.enqueue(json.dumps(function_finding), json.dumps(bucket_finding), json.dumps(sequence_finding))
            posts = api.posts(min_posts=9, timeout=60)[6:]
            show_response(f"GuardDuty {function_finding['detail']['type']} on thumbnailer", posts[0])
            show_response(f"GuardDuty {bucket_finding['detail']['type']} on acme-reports-archive", posts[1])
            show_response(f"GuardDuty {sequence_finding['detail']['type']}", posts[2], targets=True)
            proc.stop()

        heading("After: contained, with the evidence kept")
        show_instance(ec2, autoscaling, instance, finding_id)
        show_acl(ec2, subnet)
        show_user(iam, "deploy-bot")
        show_function(lam, iam, "thumbnailer")
        show_bucket(s3, "acme-reports-archive")
        show_instance(ec2, autoscaling, runner, sequence_finding["detail"]["id"])
        show_user(iam, "build-bot")
        show_bucket(s3, "acme-customer-exports")
        print(f"  {DIM}(the sequence's bucket is tagged with its incident; its settings are left as they were){RESET}")
        print(f"\n{DIM}Undo with: tourniquet release {instance}; tourniquet release thumbnailer; "
              f"tourniquet release s3://acme-reports-archive{RESET}")
    finally:
        moto.stop()
        guardduty.stop()


if __name__ == "__main__":
    main()
