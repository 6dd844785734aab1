"""S3 adapter: presigned upload/download URLs, object metadata, bounded reads, writes.

boto3 is imported on first use only (cold start) and the client is cached per
process. boto3 honours ``AWS_ENDPOINT_URL`` by itself, so the same code talks to
the local emulator (moto) and to S3; presigned URLs are built for whatever
endpoint the client uses, always with SigV4 (``s3v4``).

Size limits: a presigned PUT can bind ``Content-Length`` only to one exact
value (a signed header), never to a range: ``content-length-range`` exists
only in presigned POST policies. :func:`presign_put` signs the *declared*
size, so S3 rejects a body of any other length, but the declaration is the
client's word and emulators do not check signatures at all: callers must
re-check the stored object's size (``head``) and read it with ``max_bytes``
when the upload is completed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

DEFAULT_EXPIRES_SECONDS = 600
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})

_client: Any = None
_lock = threading.Lock()


class StorageError(Exception):
    """Base of the adapter's own errors."""


class ObjectNotFound(StorageError, LookupError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} does not exist")
        self.bucket, self.key = bucket, key


class ObjectTooLarge(StorageError):
    def __init__(self, bucket: str, key: str, max_bytes: int) -> None:
        super().__init__(f"s3://{bucket}/{key} is larger than {max_bytes} bytes")
        self.bucket, self.key, self.max_bytes = bucket, key, max_bytes


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # without the surrounding quotes
    content_type: str | None


def _s3() -> Any:
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import boto3
                from botocore.config import Config

                _client = boto3.client("s3", config=Config(signature_version="s3v4", retries={"mode": "standard"}))
    return _client


def reset_client() -> None:
    """Forget the cached client (tests switch emulator endpoints and credentials)."""
    global _client
    with _lock:
        _client = None


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str((response.get("Error") or {}).get("Code", ""))


def presign_put(bucket: str, key: str, content_type: str, size_bytes: int,
                expires: int = DEFAULT_EXPIRES_SECONDS) -> tuple[str, dict[str, str]]:
    """A presigned PUT of ``key`` and the headers the upload must carry exactly.

    ``Content-Type`` and ``Content-Length`` are signed headers: S3 answers 403
    (SignatureDoesNotMatch) to an upload with another type or length. HTTP
    clients (browsers included) set ``Content-Length`` from the body by
    themselves. The length is the *declared* one, so the caller re-checks the
    stored size when the upload completes (see the module docstring).
    """
    if size_bytes < 0:
        raise ValueError("size_bytes must be >= 0")
    url = _s3().generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": size_bytes},
        ExpiresIn=expires,
        HttpMethod="PUT",
    )
    return str(url), {"Content-Type": content_type, "Content-Length": str(size_bytes)}


def presign_get(bucket: str, key: str, expires: int = DEFAULT_EXPIRES_SECONDS) -> str:
    """A presigned GET of ``key``, valid ``expires`` seconds (bounded by the signing credentials' lifetime)."""
    return str(_s3().generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key},
                                            ExpiresIn=expires, HttpMethod="GET"))


def head(bucket: str, key: str) -> ObjectInfo | None:
    """Size, ETag and content type of ``key``; ``None`` when it does not exist.

    S3 answers 404 for a missing key only to callers allowed ``s3:ListBucket``;
    without it the answer is 403, which is raised, not mistaken for "missing".
    """
    s3 = _s3()
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        if _error_code(error) in _NOT_FOUND_CODES:
            return None
        raise
    return ObjectInfo(size=int(response["ContentLength"]), etag=str(response.get("ETag", "")).strip('"'),
                      content_type=response.get("ContentType"))


def read(bucket: str, key: str, max_bytes: int) -> bytes:
    """The bytes of ``key``; :class:`ObjectTooLarge` above ``max_bytes``, :class:`ObjectNotFound` if missing.

    Asks S3 for at most ``max_bytes + 1`` bytes (a Range request), so an
    oversized object is detected without downloading it.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    s3 = _s3()
    try:
        response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{max_bytes}")
    except s3.exceptions.ClientError as error:
        code = _error_code(error)
        if code in _NOT_FOUND_CODES:
            raise ObjectNotFound(bucket, key) from error
        if code != "InvalidRange":
            raise
        return b""  # S3 refuses any range of an empty object
    body = response["Body"]
    try:
        data = bytes(body.read(max_bytes + 1))
    finally:
        body.close()
    if len(data) > max_bytes:
        raise ObjectTooLarge(bucket, key, max_bytes)
    return data


def put(bucket: str, key: str, body: bytes, content_type: str) -> None:
    """Write ``body`` to ``key`` (server-side encryption is the bucket's default)."""
    _s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
