"""The S3 adapter against the real AWS emulator (moto or LocalStack): presigned URLs, head, bounded reads."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from botocore import auth as botocore_auth
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from localcloud.services import EMULATOR_ENV, AwsEmulator
from smartcourse import storage

pytestmark = pytest.mark.integration

BODY = b'{"schema": "smartcourse.editor.v1", "doc": {"type": "doc", "content": []}}'
JSON = "application/json"


@pytest.fixture
def bucket(moto: AwsEmulator) -> Iterator[str]:
    storage.reset_client()  # the client must use this emulator's endpoint
    name = f"storage-test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    yield name
    storage.reset_client()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _signature_for(url: str, method: str, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The SigV4 query signature S3 computes for a request to ``url`` that carries ``headers``.

    S3 recomputes the signature from the request it receives; moto does not
    check presigned signatures, so the test does what S3 does: sign the
    received request with the URL's credentials, time and lifetime.
    """
    query = _query(url)
    signed = query["X-Amz-SignedHeaders"].split(";")
    when = datetime.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    monkeypatch.setattr(botocore_auth, "get_current_datetime", lambda: when)
    parts = urlsplit(url)
    request = AWSRequest(method=method, url=f"{parts.scheme}://{parts.netloc}{parts.path}",
                         headers={k: v for k, v in headers.items() if k.lower() in signed})
    credentials = boto3.Session().get_credentials()
    assert credentials is not None
    S3SigV4QueryAuth(credentials, "s3", EMULATOR_ENV["AWS_REGION"], expires=int(query["X-Amz-Expires"])).add_auth(
        request)
    return _query(request.url)["X-Amz-Signature"]


def test_presigned_put_uploads_and_head_describes_the_object(bucket: str, moto: AwsEmulator) -> None:
    url, headers = storage.presign_put(bucket, "courses/c/modules/m/assets/a/content.json", JSON, len(BODY), 600)
    assert url.startswith(moto.endpoint), "presigned URLs use the endpoint boto3 is configured with"
    query = _query(url)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] == "600"
    assert set(query["X-Amz-SignedHeaders"].split(";")) >= {"content-type", "content-length", "host"}
    assert headers == {"Content-Type": JSON, "Content-Length": str(len(BODY))}

    response = httpx.put(url, content=BODY, headers={"Content-Type": JSON})
    assert response.status_code == 200, response.text

    info = storage.head(bucket, "courses/c/modules/m/assets/a/content.json")
    assert info is not None
    assert info.size == len(BODY) and info.content_type == JSON and info.etag and '"' not in info.etag


def test_presigned_put_binds_content_type_and_length(bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, headers = storage.presign_put(bucket, "courses/x/content.json", JSON, len(BODY), 600)
    signature = _query(url)["X-Amz-Signature"]
    host = urlsplit(url).netloc
    right = {"Host": host, **headers}
    assert _signature_for(url, "PUT", right, monkeypatch) == signature
    # What S3 sees for a different type or size does not match the signature: 403 SignatureDoesNotMatch.
    assert _signature_for(url, "PUT", {**right, "Content-Type": "text/html"}, monkeypatch) != signature
    assert _signature_for(url, "PUT", {**right, "Content-Length": str(len(BODY) + 1)}, monkeypatch) != signature


def test_wrong_content_type_is_rejected_by_an_emulator_that_checks_signatures(bucket: str) -> None:
    url, _ = storage.presign_put(bucket, "courses/x/content.json", JSON, len(BODY), 600)
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    if httpx.put(tampered, content=BODY, headers={"Content-Type": JSON}).status_code < 400:
        pytest.skip("this AWS emulator does not verify presigned signatures (moto; LocalStack with the local "
                    "cloud's credentials, docs/local-cloud.md); test_presigned_put_binds_content_type_and_length "
                    "checks the signature instead")
    assert httpx.put(url, content=BODY, headers={"Content-Type": "text/plain"}).status_code == 403
    assert httpx.put(url, content=BODY, headers={"Content-Type": JSON}).status_code == 200


def test_presigned_get_downloads_the_bytes(bucket: str, moto: AwsEmulator) -> None:
    storage.put(bucket, "certificates/SC-ABC.html", b"<h1>Certificate</h1>", "text/html")
    url = storage.presign_get(bucket, "certificates/SC-ABC.html", 600)
    assert url.startswith(moto.endpoint)
    assert _query(url)["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == b"<h1>Certificate</h1>"
    assert response.headers["content-type"] == "text/html"


def test_read_is_bounded(bucket: str) -> None:
    storage.put(bucket, "courses/a.json", BODY, JSON)
    assert storage.read(bucket, "courses/a.json", max_bytes=len(BODY)) == BODY
    assert storage.read(bucket, "courses/a.json", max_bytes=10 * len(BODY)) == BODY
    with pytest.raises(storage.ObjectTooLarge):
        storage.read(bucket, "courses/a.json", max_bytes=len(BODY) - 1)


def test_read_of_an_empty_object(bucket: str) -> None:
    storage.put(bucket, "courses/empty.json", b"", JSON)
    assert storage.read(bucket, "courses/empty.json", max_bytes=10) == b""
    info = storage.head(bucket, "courses/empty.json")
    assert info is not None and info.size == 0


def test_missing_objects(bucket: str) -> None:
    assert storage.head(bucket, "courses/nope.json") is None
    with pytest.raises(storage.ObjectNotFound):
        storage.read(bucket, "courses/nope.json", max_bytes=10)


def test_put_overwrites(bucket: str) -> None:
    storage.put(bucket, "courses/b.json", b"one", JSON)
    storage.put(bucket, "courses/b.json", b"second", "text/plain")
    info = storage.head(bucket, "courses/b.json")
    assert info is not None and (info.size, info.content_type) == (6, "text/plain")
    assert storage.read(bucket, "courses/b.json", max_bytes=100) == b"second"
