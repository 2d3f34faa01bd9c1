#!/usr/bin/env python3
"""Builds a CloudWatch Logs subscription event from a readable source file.

CloudWatch Logs hands a subscribed Lambda function {"awslogs": {"data": base64(gzip(JSON))}}, where the JSON
has logEvents[].message as strings (here: CloudTrail records). The source file keeps each message as a JSON
object so it can be read and edited; this script serialises them, gzips (mtime 0, so the output is
reproducible) and base64-encodes the result.

    python3 events/tools/make_cwl_payload.py [SOURCE] [OUTPUT]
"""
import base64
import gzip
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE / "cloudwatch-logs-subscription.source.json"
DEFAULT_OUTPUT = HERE.parent / "cloudtrail" / "cloudwatch-logs-subscription.json"


def build(source: dict) -> dict:
    payload = dict(source)
    payload["logEvents"] = [
        {**event, "message": event["message"] if isinstance(event["message"], str)
         else json.dumps(event["message"], separators=(",", ":"))}
        for event in source["logEvents"]
    ]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw, mtime=0)).decode("ascii")}}


def main(argv: list) -> int:
    source = pathlib.Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    output = pathlib.Path(argv[2]) if len(argv) > 2 else DEFAULT_OUTPUT
    event = build(json.loads(source.read_text()))
    output.write_text(json.dumps(event, indent=2) + "\n")
    print(f"wrote {output} ({len(event['awslogs']['data'])} base64 characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
