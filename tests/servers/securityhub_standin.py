#!/usr/bin/env python3
"""A local Security Hub stand-in for tests (moto has no BatchUpdateFindings): one hub of ASFF findings per account
and region, served through Security Hub's REST-JSON API. Every request's SigV4 signature is checked with botocore as
moto does, and the action against the caller's allow list (see aws_standin.py).

API (the hub is the caller's account's, in the region its signature is scoped to):
  BatchImportFindings  POST  /findings/import      {"Findings": [ASFF]} -> {"FailedCount", "SuccessCount",
        "FailedFindings": [{"Id", "ErrorCode": "InvalidInput", "ErrorMessage"}]}. Only the caller's own findings
        (AwsAccountId = caller) under its default product arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default;
        a new finding gets Workflow.Status NEW, WorkflowState NEW and RecordState ACTIVE unless it has them; a
        re-import keeps Note, UserDefinedFields, VerificationState and Workflow, as Security Hub does.
  GetFindings          POST  /findings             {"Filters"?, "SortCriteria"?, "MaxResults"?, "NextToken"?}
        -> {"Findings", "NextToken"?}. String filters only, on the fields in STRING_FIELDS, comparisons EQUALS,
        PREFIX, CONTAINS, NOT_EQUALS, PREFIX_NOT_EQUALS, NOT_CONTAINS; any other filter is refused (400).
  BatchUpdateFindings  PATCH /findings/batchupdate {"FindingIdentifiers": [{"Id", "ProductArn"}], "Note"?,
        "Workflow"?, "UserDefinedFields"?, "VerificationState"?, "Severity"?, "Confidence"?, "Criticality"?,
        "Types"?, "RelatedFindings"?} -> {"ProcessedFindings": [ids], "UnprocessedFindings": [{"FindingIdentifier",
        "ErrorCode": "FindingNotFound" | "DuplicatedFindingIdentifier", "ErrorMessage"}]}
Admin (unsigned), besides aws_standin's:
  POST /_standin/securityhub/findings {"findings": [ASFF], "accountId"?, "region"?} stores findings of any product
        (GuardDuty's arn:aws:securityhub:REGION::product/aws/guardduty too) as they are, in the hub of accountId
        (default: each finding's AwsAccountId) in region (default: each finding's Region) -> {"stored": N}
  GET  /_standin/securityhub/findings -> {"findings": [every stored finding]}
Not implemented: date, number and map filters, custom actions, insights, the rest of the API.

Run: securityhub_standin.py [--port 0]; prints "LISTENING <port>".
"""
import copy
import datetime
import re
import sys

from aws_standin import ApiError, StandIn, main

REQUIRED = ["SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "CreatedAt", "UpdatedAt", "Title",
            "Description", "Resources"]
CUSTOMER_FIELDS = ["Note", "UserDefinedFields", "VerificationState", "Workflow"]  # kept on re-import
UPDATABLE = ["Severity", "VerificationState", "Confidence", "Criticality", "Types", "RelatedFindings"]
WORKFLOW_STATUSES = ("NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED")


def field(*path):
    def values(finding):
        value = finding
        for name in path:
            value = value.get(name) if isinstance(value, dict) else None
        return [value] if isinstance(value, str) else []
    return values


STRING_FIELDS = {name: field(name) for name in ["Id", "ProductArn", "AwsAccountId", "GeneratorId", "Region", "Title",
                                                  "Description", "ProductName", "CompanyName", "RecordState",
                                                  "WorkflowState", "VerificationState"]}
STRING_FIELDS.update({
    "SeverityLabel": field("Severity", "Label"),
    "WorkflowStatus": field("Workflow", "Status"),
    "ComplianceStatus": field("Compliance", "Status"),
    "Type": lambda f: [t for t in f.get("Types", []) if isinstance(t, str)],
    "ResourceId": lambda f: [r.get("Id") for r in f.get("Resources", []) if isinstance(r.get("Id"), str)],
    "ResourceType": lambda f: [r.get("Type") for r in f.get("Resources", []) if isinstance(r.get("Type"), str)],
})
COMPARISONS = {
    "EQUALS": lambda value, wanted: value == wanted,
    "PREFIX": lambda value, wanted: value.startswith(wanted),
    "CONTAINS": lambda value, wanted: wanted in value,
}
NEGATIONS = {"NOT_EQUALS": "EQUALS", "PREFIX_NOT_EQUALS": "PREFIX", "NOT_CONTAINS": "CONTAINS"}


def invalid(message):
    return ApiError(400, "InvalidInputException", message)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SecurityHub(StandIn):
    signing_name = "securityhub"
    routes = [
        ("POST", re.compile(r"/findings/import"), "BatchImportFindings"),
        ("POST", re.compile(r"/findings"), "GetFindings"),
        ("PATCH", re.compile(r"/findings/batchupdate"), "BatchUpdateFindings"),
    ]

    def reset_state(self):
        self.hubs = {}  # (account, region) -> {(Id, ProductArn): finding}

    def error_body(self, error):
        return {"Code": error.kind, "Message": error.message}

    def admin(self, method, path, body):
        if method == "POST" and path == "/_standin/securityhub/findings":
            for finding in body["findings"]:
                hub = (body.get("accountId", finding["AwsAccountId"]), body.get("region", finding.get("Region")))
                self.hubs.setdefault(hub, {})[(finding["Id"], finding["ProductArn"])] = finding
            return {"stored": len(body["findings"])}
        if method == "GET" and path == "/_standin/securityhub/findings":
            return {"findings": [f for hub in self.hubs.values() for f in hub.values()]}
        return None

    def hub(self, caller):
        return self.hubs.setdefault((caller.account, caller.region), {})

    # --- BatchImportFindings --------------------------------------------------------------------------

    def op_BatchImportFindings(self, caller, request):
        findings = request.get("Findings")
        if not isinstance(findings, list) or not 1 <= len(findings) <= 100:
            raise invalid("Findings must hold 1 to 100 findings.")
        hub, failed = self.hub(caller), []
        for finding in findings:
            problem = self.import_problem(caller, finding)
            if problem:
                failed.append({"Id": str(finding.get("Id")), "ErrorCode": "InvalidInput", "ErrorMessage": problem})
                continue
            key = (finding["Id"], finding["ProductArn"])
            stored = copy.deepcopy(finding)
            if key in hub:
                for name in CUSTOMER_FIELDS:
                    stored.pop(name, None)
                    if name in hub[key]:
                        stored[name] = hub[key][name]
            else:
                stored.setdefault("Workflow", {"Status": "NEW"})
                stored.setdefault("WorkflowState", "NEW")
                stored.setdefault("RecordState", "ACTIVE")
            hub[key] = stored
        return {"FailedCount": len(failed), "SuccessCount": len(findings) - len(failed), "FailedFindings": failed}

    @staticmethod
    def import_problem(caller, finding):
        if not isinstance(finding, dict):
            return "A finding must be an object."
        missing = [name for name in REQUIRED if name not in finding]
        if missing:
            return f"Finding does not adhere to Amazon Security Finding Format: missing {', '.join(missing)}."
        if finding["AwsAccountId"] != caller.account:
            return f"AwsAccountId {finding['AwsAccountId']} is not the calling account {caller.account}."
        default_product = f"arn:aws:securityhub:{caller.region}:{caller.account}:product/{caller.account}/default"
        if finding["ProductArn"] != default_product:
            return f"The calling account may import findings only under {default_product}."
        return None

    # --- GetFindings ----------------------------------------------------------------------------------

    def op_GetFindings(self, caller, request):
        matches = compile_filters(request.get("Filters") or {})
        found = [f for f in self.hub(caller).values() if matches(f)]
        for criterion in reversed(request.get("SortCriteria") or []):
            values = STRING_FIELDS.get(criterion.get("Field"))
            if values is None:
                raise invalid(f"SortCriteria Field {criterion.get('Field')!r} is not supported by the stand-in.")
            found.sort(key=lambda f: (values(f) or [""])[0], reverse=criterion.get("SortOrder") == "desc")
        size = request.get("MaxResults", 100)
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise invalid("MaxResults must be 1 to 100.")
        token = str(request.get("NextToken") or "0")
        if not token.isdigit():
            raise invalid("NextToken is not one this hub handed out.")
        start = int(token)
        answer = {"Findings": copy.deepcopy(found[start:start + size])}
        if start + size < len(found):
            answer["NextToken"] = str(start + size)
        return answer

    # --- BatchUpdateFindings --------------------------------------------------------------------------

    def op_BatchUpdateFindings(self, caller, request):
        identifiers = request.get("FindingIdentifiers")
        if not isinstance(identifiers, list) or not 1 <= len(identifiers) <= 100:
            raise invalid("FindingIdentifiers must hold 1 to 100 identifiers.")
        note, workflow = request.get("Note"), request.get("Workflow")
        if note is not None and (not note.get("Text") or not note.get("UpdatedBy") or len(note["Text"]) > 512):
            raise invalid("Note needs Text (at most 512 characters) and UpdatedBy.")
        if workflow is not None and workflow.get("Status") not in WORKFLOW_STATUSES:
            raise invalid(f"Workflow.Status must be one of {', '.join(WORKFLOW_STATUSES)}.")
        hub, processed, unprocessed, seen = self.hub(caller), [], [], set()
        for identifier in identifiers:
            key = (identifier.get("Id"), identifier.get("ProductArn"))
            code = "DuplicatedFindingIdentifier" if key in seen else None if key in hub else "FindingNotFound"
            seen.add(key)
            if code:
                unprocessed.append({"FindingIdentifier": identifier, "ErrorCode": code,
                                    "ErrorMessage": "Finding Not Found" if code == "FindingNotFound" else
                                    "Duplicated finding identifier"})
                continue
            self.apply_update(hub[key], request)
            processed.append({"Id": key[0], "ProductArn": key[1]})
        return {"ProcessedFindings": processed, "UnprocessedFindings": unprocessed}

    @staticmethod
    def apply_update(finding, request):
        if request.get("Note"):
            finding["Note"] = {"Text": request["Note"]["Text"], "UpdatedBy": request["Note"]["UpdatedBy"],
                               "UpdatedAt": now()}
        if request.get("Workflow"):
            finding["Workflow"] = {"Status": request["Workflow"]["Status"]}
        if request.get("UserDefinedFields"):
            finding.setdefault("UserDefinedFields", {}).update(request["UserDefinedFields"])
        for name in UPDATABLE:
            if name in request:
                finding[name] = request[name]


def compile_filters(filters):
    """A predicate over findings: per field, any positive comparison and every negative one must hold."""
    tests = []
    for name, conditions in filters.items():
        values = STRING_FIELDS.get(name)
        if values is None:
            raise invalid(f"Filter {name!r} is not supported by the stand-in (string filters only: "
                          f"{', '.join(sorted(STRING_FIELDS))}).")
        positive, negative = [], []
        for condition in conditions:
            comparison, wanted = condition.get("Comparison"), condition.get("Value")
            if comparison in COMPARISONS:
                positive.append((COMPARISONS[comparison], wanted))
            elif comparison in NEGATIONS:
                negative.append((COMPARISONS[NEGATIONS[comparison]], wanted))
            else:
                raise invalid(f"Comparison {comparison!r} of filter {name!r} is not supported by the stand-in.")
        tests.append((values, positive, negative))

    def matches(finding):
        for values, positive, negative in tests:
            present = values(finding)
            if positive and not any(test(v, wanted) for test, wanted in positive for v in present):
                return False
            if any(test(v, wanted) for test, wanted in negative for v in present):
                return False
        return True
    return matches


if __name__ == "__main__":
    sys.exit(main(SecurityHub))
