"""Call recordings in S3 (one Ogg/Opus object per session): presigned URLs, so audio never passes
through a Lambda — the worker PUTs it, the operator's browser GETs it. The bucket encrypts every object
and expires it after the data retention (serverless.yml), like the session rows' TTL."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from functions.settings import get_settings

CONTENT_TYPE = "audio/ogg"
_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=3,
    read_timeout=10,
    signature_version="s3v4",
)


@lru_cache(maxsize=1)
def s3() -> Any:
    return boto3.client("s3", config=_CONFIG)


def key_of(session_id: str) -> str:
    return f"recordings/{session_id}.ogg"


def upload_url(session_id: str) -> str:
    """A PUT of this session's recording, valid for RECORDING_URL_TTL_S; the content type is signed."""
    settings = get_settings()
    params = {"Bucket": settings.recordings_bucket, "Key": key_of(session_id), "ContentType": CONTENT_TYPE}
    url: str = s3().generate_presigned_url(
        "put_object", Params=params, ExpiresIn=settings.recording_url_ttl_s, HttpMethod="PUT"
    )
    return url


def download_url(session_id: str) -> str:
    settings = get_settings()
    params = {"Bucket": settings.recordings_bucket, "Key": key_of(session_id)}
    ttl = settings.recording_url_ttl_s
    url: str = s3().generate_presigned_url("get_object", Params=params, ExpiresIn=ttl)
    return url


def stored_size(session_id: str) -> int | None:
    """The object's size, or None when nothing was uploaded."""
    try:
        head = s3().head_object(Bucket=get_settings().recordings_bucket, Key=key_of(session_id))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(head["ContentLength"])


def delete(session_id: str) -> None:
    """Remove the session's recording (nothing to remove is fine)."""
    s3().delete_object(Bucket=get_settings().recordings_bucket, Key=key_of(session_id))
