"""The base of the local AWS stand-ins: a small REST-JSON server for services moto does not implement.

Every API request is authenticated the way moto_server does it with its checks on
(moto.iam.access_control.IAMRequestBase): the signature is recomputed with botocore's SigV4Auth over the method,
path and query, the headers named in SignedHeaders and the body as received, for the secret of the request's
access key, and compared with the one sent. Beyond moto: a bodiless request is signed over its empty body (moto
signs its parsed data instead), the credential scope must name this service, a session token must match the
key's, X-Amz-Date may not be more than 15 minutes off, and an X-Amz-Content-SHA256 header must be the body's hash.
Then the IAM action (service:Operation) must match the principal's allow list (fnmatch patterns, any case).

Answers, in the REST-JSON error shape (x-amzn-ErrorType header and a JSON body):
  403 MissingAuthenticationTokenException  no SigV4 Authorization header
  403 UnrecognizedClientException          unknown access key, or a session token that does not match
  403 InvalidSignatureException            signature mismatch, wrong service in the scope, expired, body hash
  403 AccessDeniedException                the action is not in the principal's allow list
Principals and state come from the unsigned admin endpoints under /_standin/ (JSON):
  POST /_standin/credentials {"accessKeyId", "secretAccessKey", "sessionToken"?, "allow": ["guardduty:Get*", ...],
                              "accountId"? (default 123456789012), "arn"?}  -> {"arn"}
  POST /_standin/reset       forgets every principal, the service's state and the request log
  GET  /_standin/requests    -> {"requests": [{"operation", "accessKeyId", "region", "status", "error"}, ...]}
  GET  /_standin/health      -> {"service"}
A service subclasses StandIn: `routes` maps (method, path regex) to an operation, `admin` adds endpoints.
Run one with --port N (0: any); it prints "LISTENING <port>".
"""
import argparse
import datetime
import fnmatch
import hashlib
import hmac
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

DEFAULT_ACCOUNT = "123456789012"
MAX_SKEW = datetime.timedelta(minutes=15)
SCOPE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")


class ApiError(Exception):
    """An answer in the service's error shape: `code` goes in the x-amzn-ErrorType header (botocore reads it from
    there), `kind` in the body's type field when the service puts something finer there (GuardDuty does)."""

    def __init__(self, status, code, message, kind=None):
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind or code


class Caller:
    """Who signed a request, and where it is directed: the principal's account, the scope's region."""

    def __init__(self, principal, region):
        self.key = principal["accessKeyId"]
        self.account = principal["accountId"]
        self.arn = principal["arn"]
        self.region = region


class StandIn:
    signing_name = ""  # the service in the credential scope, and the prefix of its IAM actions
    routes = []        # [(method, compiled path regex, operation name)]; a method `op_<name>(caller, body, **groups)`

    def __init__(self):
        self.lock = threading.RLock()
        self.principals = {}
        self.requests = []
        self.reset_state()

    def reset_state(self):
        """Forgets the service's own state."""

    def admin(self, method, path, body):
        """The service's own admin endpoints: returns the answer's JSON, or None for an unknown path."""
        return None

    def error_body(self, error):
        return {"__type": error.kind, "message": error.message}

    # --- admin ----------------------------------------------------------------------------------------

    def handle_admin(self, method, path, body):
        if method == "GET" and path == "/_standin/health":
            return {"service": self.signing_name}
        if method == "GET" and path == "/_standin/requests":
            with self.lock:
                return {"requests": list(self.requests)}
        if method == "POST" and path == "/_standin/reset":
            with self.lock:
                self.principals.clear()
                self.requests.clear()
                self.reset_state()
            return {}
        if method == "POST" and path == "/_standin/credentials":
            return self.register(body)
        with self.lock:
            return self.admin(method, path, body)

    def register(self, spec):
        for field in ("accessKeyId", "secretAccessKey"):
            if not isinstance(spec.get(field), str) or not spec[field]:
                raise ApiError(400, "BadRequest", f"{field} is required")
        allow = spec.get("allow", [])
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise ApiError(400, "BadRequest", "allow must be a list of IAM actions")
        account = spec.get("accountId", DEFAULT_ACCOUNT)
        principal = {"accessKeyId": spec["accessKeyId"], "secretAccessKey": spec["secretAccessKey"],
                     "sessionToken": spec.get("sessionToken"), "allow": allow, "accountId": account,
                     "arn": spec.get("arn", f"arn:aws:iam::{account}:user/{spec['accessKeyId']}")}
        with self.lock:
            self.principals[principal["accessKeyId"]] = principal
        return {"arn": principal["arn"]}

    # --- authentication and authorization -------------------------------------------------------------

    def authenticate(self, method, target, headers, body):
        """The Caller of a correctly signed request by a known principal, else ApiError."""
        authorization = headers.get("Authorization", "")
        scope = SCOPE.search(authorization)
        if not authorization.startswith("AWS4-HMAC-SHA256 ") or not scope:
            raise ApiError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        key, _, region, service = scope.groups()
        with self.lock:
            principal = self.principals.get(key)
        token = headers.get("X-Amz-Security-Token")
        if principal is None or token != principal["sessionToken"]:
            raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if service != self.signing_name:
            raise ApiError(403, "InvalidSignatureException",
                           f"Credential should be scoped to correct service: '{self.signing_name}'.")
        amz_date = headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise ApiError(403, "IncompleteSignatureException", "X-Amz-Date is missing or malformed.") from None
        if abs(datetime.datetime.now(datetime.timezone.utc) - signed_at) > MAX_SKEW:
            raise ApiError(403, "InvalidSignatureException", f"Signature expired: {amz_date} is more than 15 minutes "
                                                             "away from the server's time.")
        content_hash = headers.get("X-Amz-Content-SHA256")
        if content_hash not in (None, "UNSIGNED-PAYLOAD") and content_hash != hashlib.sha256(body).hexdigest():
            raise ApiError(403, "InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not "
                                                             "match what was computed.")
        if not hmac.compare_digest(scope_value(authorization, "Signature=").encode(),
                                   signature(principal, region, service, method, target, headers, body).encode()):
            raise ApiError(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided. Check your "
                           "AWS Secret Access Key and signing method. Consult the service documentation for details.")
        return Caller(principal, region)

    def authorize(self, caller, operation):
        action = f"{self.signing_name}:{operation}"
        with self.lock:
            allow = self.principals[caller.key]["allow"]
        if not any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in allow):
            raise ApiError(403, "AccessDeniedException",
                           f"User: {caller.arn} is not authorized to perform: {action}")

    # --- one API request ------------------------------------------------------------------------------

    def call(self, method, target, headers, body):
        """(status, answer JSON or ApiError) of an API request; records it in the request log. `headers` is looked
        up without regard to case (an http.client message)."""
        entry = {"operation": None, "accessKeyId": None, "region": None, "status": None, "error": None}
        try:
            scope = SCOPE.search(headers.get("Authorization", ""))
            if scope:
                entry["accessKeyId"], entry["region"] = scope.group(1), scope.group(3)
            found = self.route(method, urlsplit(target).path)
            entry["operation"] = found and found[0]  # logged also when the caller is refused
            caller = self.authenticate(method, target, headers, body)
            if not found:
                raise ApiError(404, "UnknownOperationException", f"No operation {method} {target} in this stand-in.")
            operation, groups = found
            self.authorize(caller, operation)
            try:
                request = json.loads(body) if body else {}
            except ValueError:
                raise ApiError(400, "SerializationException", "The request body is not valid JSON.") from None
            if not isinstance(request, dict):
                raise ApiError(400, "SerializationException", "The request body is not a JSON object.")
            with self.lock:
                status, answer = 200, getattr(self, "op_" + operation)(caller, request, **groups)
        except ApiError as e:
            status, answer, entry["error"] = e.status, e, e.code
        except Exception as e:  # a bug of the stand-in: answered loudly, never a hang
            status, answer, entry["error"] = 500, ApiError(500, "InternalServerErrorException", repr(e)), repr(e)
        entry["status"] = status
        with self.lock:
            self.requests.append(entry)
        return status, answer

    def route(self, method, path):
        """(operation, path parameters), or None."""
        for route_method, pattern, operation in self.routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return operation, match.groupdict()
        return None


def scope_value(authorization, name):
    return authorization.partition(name)[2].partition(",")[0].strip()


def signature(principal, region, service, method, target, headers, body):
    """The signature botocore computes for this request, as moto's IAMRequestBase._calculate_signature does."""
    signed = scope_value(headers.get("Authorization", ""), "SignedHeaders=").split(";")
    request = AWSRequest(method=method, url=target, data=body,
                         headers={name: value for name, value in headers.items() if name.lower() in signed})
    request.context["timestamp"] = headers.get("X-Amz-Date")
    auth = SigV4Auth(Credentials(principal["accessKeyId"], principal["secretAccessKey"], principal["sessionToken"]),
                     service, region)
    return auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)


def make_handler(standin):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as AWS endpoints
        server_version = f"{standin.signing_name}-standin"

        def log_message(self, *args):  # quiet: tests read /_standin/requests instead
            pass

        def reply(self, status, payload, headers=()):
            data = json.dumps(payload).encode()
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "standin-" + hashlib.sha1(data).hexdigest()[:16])
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while (size := int(self.rfile.readline().split(b";")[0].strip(), 16)) != 0:
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def handle_one(self):
            body = self.read_body()
            if self.path.startswith("/_standin/"):
                try:
                    request = json.loads(body) if body else {}
                    answer = standin.handle_admin(self.command, urlsplit(self.path).path, request)
                except ApiError as e:
                    return self.reply(e.status, {"error": e.code, "message": e.message})
                except (ValueError, TypeError, KeyError, AttributeError) as e:
                    return self.reply(400, {"error": "BadRequest", "message": f"{type(e).__name__}: {e}"})
                if answer is None:
                    return self.reply(404, {"error": "NotFound", "message": f"no admin endpoint {self.path}"})
                return self.reply(200, answer)
            status, answer = standin.call(self.command, self.path, self.headers, body)
            if isinstance(answer, ApiError):
                return self.reply(status, standin.error_body(answer),
                                  [("x-amzn-ErrorType", answer.code)])
            self.reply(status, answer)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main(standin_class):
    parser = argparse.ArgumentParser(description=sys.modules[standin_class.__module__].__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server((args.host, args.port), make_handler(standin_class()))
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    return 0
