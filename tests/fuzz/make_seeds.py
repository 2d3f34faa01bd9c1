#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target from the project's own samples:
  fuzz_event            every event under events/
  fuzz_json_read        every event under events/, and a few numbers, escapes and nestings
  fuzz_finding_summary  every GuardDuty finding under events/guardduty/
  fuzz_aws_xml          every answer under tests/data/responses/ (after its status byte), and one input with
                        an answer for each state read of instance containment
  fuzz_cloudwatch_logs  the awslogs.data of the sample subscription events, as text and as the JSON inside
  fuzz_runtime_headers  the header lines of a `next` answer and a few error types
  fuzz_s3_xml           S3 answers: a public access block, S3 error XML, an empty body
  fuzz_loopback_http    Runtime API answers (a split byte first): a `next` answer by Content-Length, a chunked
                        one, a 202 to a post, a 100 then a 200, one ended by the connection's close
and every input under tests/fuzz/regressions/TARGET/ (inputs that once crashed it).
Usage: make_seeds.py SOURCE_DIR OUT_DIR   (OUT_DIR/<target>/ is created and filled; existing files are kept)
"""
import base64
import gzip
import hashlib
import json
import pathlib
import sys

STATUS_BYTE = {200: 0, 400: 1, 403: 2, 404: 3, 429: 4, 500: 5, 503: 6}  # the order in fuzz_aws_xml.cpp


def write(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def ec2(action, inner):
    return (f'<?xml version="1.0" encoding="UTF-8"?><{action}Response xmlns="http://ec2.amazonaws.com/doc/'
            f'2016-11-15/"><requestId>seed</requestId>{inner}</{action}Response>').encode()


def state_reads(responses):
    """Answers to plan_state_reads in order: instances, two attributes, managed groups, Auto Scaling,
    snapshots, configured groups."""
    group = ('<item><groupId>sg-0aaa</groupId><vpcId>vpc-11112222</vpcId><tagSet><item><key>tourniquet:role</key>'
             '<value>untrack</value></item></tagSet><ipPermissions><item><ipProtocol>-1</ipProtocol><ipRanges>'
             '<item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges><ipv6Ranges><item><cidrIpv6>::/0</cidrIpv6></item>'
             '</ipv6Ranges></item></ipPermissions><ipPermissionsEgress><item><ipProtocol>-1</ipProtocol><ipRanges>'
             '<item><cidrIp>0.0.0.0/0</cidrIp></item></ipRanges></item></ipPermissionsEgress></item>')
    return b"\0".join([
        (responses / "ec2-describe-instances.xml").read_bytes(),
        ec2("DescribeInstanceAttribute", "<disableApiTermination><value>false</value></disableApiTermination>"),
        ec2("DescribeInstanceAttribute",
            "<instanceInitiatedShutdownBehavior><value>terminate</value></instanceInitiatedShutdownBehavior>"),
        ec2("DescribeSecurityGroups", f"<securityGroupInfo>{group}</securityGroupInfo>"),
        b'<DescribeAutoScalingInstancesResponse><DescribeAutoScalingInstancesResult><AutoScalingInstances><member>'
        b'<AutoScalingGroupName>web</AutoScalingGroupName><InstanceId>i-1234567890abcdef0</InstanceId></member>'
        b'</AutoScalingInstances></DescribeAutoScalingInstancesResult></DescribeAutoScalingInstancesResponse>',
        ec2("DescribeSnapshots", "<snapshotSet/>"),
        ec2("DescribeSecurityGroups", f"<securityGroupInfo>{group.replace('untrack', 'isolation')}</securityGroupInfo>"),
    ])


def loopback_http_seeds():
    """Runtime API answers for fuzz_loopback_http, each after the byte that chooses the stream's splits."""
    event = b'{"version":"0","id":"c8a1a4a0","detail-type":"GuardDuty Finding","source":"aws.guardduty"}'
    runtime = (b"Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n"
               b"Lambda-Runtime-Deadline-Ms: 1542409706888\r\n"
               b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-2:123456789012:function:tq\r\n"
               b"Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1\r\n")
    accepted = b'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"status":"OK"}\n'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (event[:40], event[40:]))
    return [
        b"\0HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + runtime +
        b"Content-Length: %d\r\n\r\n" % len(event) + event + accepted,
        b"\7HTTP/1.1 200 OK\r\n" + runtime + b"Transfer-Encoding: chunked\r\n\r\n" + chunks +
        b"0;done\r\nX-Trailer: 1\r\n\r\n",
        b"\x21" + accepted + accepted,
        b"\3HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n" + runtime + b"Content-Length: %d\r\n\r\n" %
        len(event) + event,
        b"\x40HTTP/1.0 200 OK\r\n" + runtime + b"\r\n" + event,
        b"\1HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
    ]


def main():
    source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for path in sorted((source / "events").rglob("*.json")):
        write(out / "fuzz_event", path.read_bytes())
        write(out / "fuzz_json_read", path.read_bytes())
        if path.parent.name == "guardduty":
            write(out / "fuzz_finding_summary", path.read_bytes())
        event = json.loads(path.read_bytes())
        data = event.get("awslogs", {}).get("data") if isinstance(event, dict) else None
        if data:
            write(out / "fuzz_cloudwatch_logs", b"\0" + data.encode())
            write(out / "fuzz_cloudwatch_logs", b"\2" + gzip.decompress(base64.b64decode(data)))

    responses = source / "tests" / "data" / "responses"
    for path in sorted(responses.glob("*.xml")):
        body = path.read_bytes()
        status = 503 if "throttled" in path.name else 400 if "error" in path.name else 200
        write(out / "fuzz_aws_xml", bytes([STATUS_BYTE[status]]) + body)
    write(out / "fuzz_aws_xml", b"\0" + state_reads(responses))

    for seed in [
        b"Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-2dfe598c3fcd\r\n"
        b"Lambda-Runtime-Deadline-Ms: 1542409706888\r\n"
        b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-2:123456789012:function:custom-runtime\r\n"
        b"Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n",
        b"Function.ContainmentIncomplete\ncontainment incomplete: instance-containment i-0abc: incomplete",
        b"invalid_event\nmalformed \xff\xfe event",
        b"Runtime.bad type!\n\"quoted\" \\ message",
    ]:
        write(out / "fuzz_runtime_headers", seed)

    # Status bytes in the order of fuzz_s3_xml.cpp: 0 = 200, 7 = 412, 9 = 503.
    for seed in [
        b"\0<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><BlockPublicAcls>true"
        b"</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls></PublicAccessBlockConfiguration>",
        b"\7<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PreconditionFailed</Code><Message>At least one"
        b" of the pre-conditions you specified did not hold</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>",
        b"\t<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
        b"\0",
        b"\5",
    ]:
        write(out / "fuzz_s3_xml", seed)

    # Where json_read and nlohmann could part: number kinds and limits, escapes, repeated names, depth.
    for seed in [b'[0,-0,1.5e3,-12345678901234567,123456789012345678901,1e999,1e-999,18446744073709551615]',
                 b'{"a":"\\u00e9\\n\\"\\/","a":[true,false,null],"b":{}}',
                 b'"caf\xc3\xa9"', b'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]', b' \t\r\n{ } ']:
        write(out / "fuzz_json_read", seed)

    for seed in loopback_http_seeds():
        write(out / "fuzz_loopback_http", seed)

    # Inputs that once crashed a target stay in its corpus.
    for path in sorted((source / "tests" / "fuzz" / "regressions").glob("*/*")):
        write(out / path.parent.name, path.read_bytes())


if __name__ == "__main__":
    main()
