"""Starts moto_server (`python3 moto_launcher.py -H HOST -p PORT`) with one fix to its signature check.

With signature checks on, moto re-signs every request to compare signatures, and builds that request from
`self._body or self._data` (moto.iam.access_control.IAMRequestBase._create_aws_request). For a bodiless
request `_body` is empty, and for Lambda `_data` is the request's headers: moto then signs a body nobody sent
and answers SignatureDoesNotMatch to every bodiless Lambda GET and DELETE (boto3's own calls included). A
bodiless GET, HEAD or DELETE is signed here with the empty body it has.

Second, moto re-signs the path as it decoded it, while the client signed it as sent: a path label holding an
ARN (Lambda's TagResource, or any call naming a function by ARN) was sent with ':' as %3A, which the
SigV4 canonical URI of every service but S3 encodes once more. The decoded path is encoded again here (S3
excepted: it signs the path as it is), so that both sides sign the same bytes. Everything else is as moto does it.
"""
import sys
from urllib.parse import quote

from moto.iam import access_control
from moto import server

_original = access_control.IAMRequestBase._create_aws_request


def _create_aws_request(self):
    saved_data, saved_path = self._data, self._path
    if self._method in ("GET", "HEAD", "DELETE") and not self._body:
        self._data = b""
    if self._service != "s3":
        path, question, query = self._path.partition("?")
        self._path = quote(path, safe="/~") + question + query
    try:
        return _original(self)
    finally:
        self._data, self._path = saved_data, saved_path


access_control.IAMRequestBase._create_aws_request = _create_aws_request

if __name__ == "__main__":
    sys.exit(server.main())
