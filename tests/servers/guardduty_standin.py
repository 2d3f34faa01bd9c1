#!/usr/bin/env python3
"""A local GuardDuty stand-in for tests (moto has detectors but no findings): detectors and findings per account
and region, served through GuardDuty's REST-JSON API. Every request's SigV4 signature is checked with botocore as
moto does, and the action against the caller's allow list (see aws_standin.py).

API (the account is the caller's, the region the one its signature is scoped to):
  ListDetectors    GET  /detector                                 -> {"detectorIds": [...]}
  GetFindings      POST /detector/{detectorId}/findings/get       {"findingIds": [...], "sortCriteria"?}
                                                                  -> {"findings": [...as stored]}; unknown ids absent
  ArchiveFindings  POST /detector/{detectorId}/findings/archive   {"findingIds": [...]} -> {}; service.archived=true
  UnarchiveFindings POST /detector/{detectorId}/findings/unarchive, the reverse
A detector that is not the caller's in that region answers 400 BadRequestException (InvalidInputException).
Admin (unsigned), besides aws_standin's:
  POST /_standin/guardduty/detectors {"region", "accountId"?, "detectorId"?} -> {"detectorId"}
  POST /_standin/guardduty/findings  {"finding": {GuardDuty finding, as an EventBridge event's detail}}
        -> {"detectorId", "findingId", "arn"}. The finding's arn names its detector and must agree with its
        region, accountId and id; the detector is created if the account has none in that region (one per
        account and region, as in GuardDuty). Putting a finding id again replaces it (a repeat of the finding).
        With "administratorAccountId": ACCOUNT the finding (of a member account) is also seen through that
        account's detector in the region, as a GuardDuty administrator sees its members' findings; the answer
        then has "administratorDetectorId" too.
  GET  /_standin/guardduty/findings  -> {"findings": [every stored finding]}
Not implemented: filters, ListFindings, CreateDetector and the rest of the API.

Run: guardduty_standin.py [--port 0]; prints "LISTENING <port>".
"""
import copy
import re
import sys
import uuid

from aws_standin import DEFAULT_ACCOUNT, ApiError, StandIn, main

FINDING_ARN = re.compile(r"arn:aws[a-z-]*:guardduty:([a-z0-9-]+):(\d{12}):detector/([^/]+)/finding/([^/]+)")
DETECTOR = r"/detector/(?P<detector_id>[^/]+)"
MAX_FINDING_IDS = 50


class GuardDuty(StandIn):
    signing_name = "guardduty"
    routes = [
        ("GET", re.compile(r"/detector"), "ListDetectors"),
        ("POST", re.compile(DETECTOR + "/findings/get"), "GetFindings"),
        ("POST", re.compile(DETECTOR + "/findings/archive"), "ArchiveFindings"),
        ("POST", re.compile(DETECTOR + "/findings/unarchive"), "UnarchiveFindings"),
    ]

    def reset_state(self):
        self.detectors = {}  # (account, region) -> detector id
        self.findings = {}   # (account, region, detector id) -> {finding id: finding}

    # --- admin ----------------------------------------------------------------------------------------

    def admin(self, method, path, body):
        if method == "POST" and path == "/_standin/guardduty/detectors":
            account, region = body.get("accountId", DEFAULT_ACCOUNT), body["region"]
            return {"detectorId": self.ensure_detector(account, region, body.get("detectorId"))}
        if method == "POST" and path == "/_standin/guardduty/findings":
            return self.put_finding(body["finding"], body.get("administratorAccountId"))
        if method == "GET" and path == "/_standin/guardduty/findings":
            every = {id(f): f for stored in self.findings.values() for f in stored.values()}
            return {"findings": list(every.values())}
        return None

    def ensure_detector(self, account, region, detector_id=None):
        existing = self.detectors.get((account, region))
        if existing and detector_id and detector_id != existing:
            raise ApiError(400, "BadRequest", f"account {account} already has detector {existing} in {region}")
        detector_id = existing or detector_id or uuid.uuid4().hex
        self.detectors[(account, region)] = detector_id
        self.findings.setdefault((account, region, detector_id), {})
        return detector_id

    def put_finding(self, finding, administrator=None):
        match = FINDING_ARN.fullmatch(str(finding.get("arn")))
        if not match:
            raise ApiError(400, "BadRequest", "finding.arn must be arn:aws:guardduty:REGION:ACCOUNT:detector/"
                                              f"DETECTOR/finding/ID, not {finding.get('arn')!r}")
        region, account, detector_id, finding_id = match.groups()
        stated = (finding.get("region"), finding.get("accountId"), finding.get("id"))
        if stated != (region, account, finding_id):
            raise ApiError(400, "BadRequest", f"finding.arn names region, account and id "
                                              f"{(region, account, finding_id)} but the finding says {stated}")
        self.ensure_detector(account, region, detector_id)
        self.findings[(account, region, detector_id)][finding_id] = finding
        answer = {"detectorId": detector_id, "findingId": finding_id, "arn": finding["arn"]}
        if administrator:  # the same object: archived through either detector, archived in both
            answer["administratorDetectorId"] = self.ensure_detector(administrator, region)
            self.findings[(administrator, region, answer["administratorDetectorId"])][finding_id] = finding
        return answer

    # --- API ------------------------------------------------------------------------------------------

    def detector_findings(self, caller, detector_id):
        if self.detectors.get((caller.account, caller.region)) != detector_id:
            raise ApiError(400, "BadRequestException", "The request is rejected because the input detectorId is not "
                                                       "owned by the current account.", kind="InvalidInputException")
        return self.findings[(caller.account, caller.region, detector_id)]

    def op_ListDetectors(self, caller, request):
        detector_id = self.detectors.get((caller.account, caller.region))
        return {"detectorIds": [detector_id] if detector_id else []}

    def op_GetFindings(self, caller, request, detector_id):
        stored = self.detector_findings(caller, detector_id)
        found = [copy.deepcopy(stored[i]) for i in dict.fromkeys(finding_ids(request, 0)) if i in stored]
        criteria = request.get("sortCriteria")
        if criteria:
            path = str(criteria.get("attributeName", "")).split(".")
            present = [f for f in found if attribute(f, path) is not None]
            present.sort(key=lambda f: attribute(f, path), reverse=criteria.get("orderBy") == "DESC")
            found = present + [f for f in found if attribute(f, path) is None]
        return {"findings": found}

    def op_ArchiveFindings(self, caller, request, detector_id):
        return self.set_archived(caller, request, detector_id, True)

    def op_UnarchiveFindings(self, caller, request, detector_id):
        return self.set_archived(caller, request, detector_id, False)

    def set_archived(self, caller, request, detector_id, archived):
        stored = self.detector_findings(caller, detector_id)
        for finding_id in finding_ids(request, 1):
            if finding_id in stored:
                stored[finding_id].setdefault("service", {})["archived"] = archived
        return {}


def finding_ids(request, minimum):
    ids = request.get("findingIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ApiError(400, "BadRequestException", "findingIds must be a list of finding ids.",
                       kind="InvalidInputException")
    if not minimum <= len(ids) <= MAX_FINDING_IDS:
        raise ApiError(400, "BadRequestException", f"findingIds must hold {minimum} to {MAX_FINDING_IDS} ids.",
                       kind="InvalidInputException")
    return ids


def attribute(finding, path):
    value = finding
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, (str, int, float)) else None


if __name__ == "__main__":
    sys.exit(main(GuardDuty))
