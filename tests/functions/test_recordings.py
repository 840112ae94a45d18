"""Call recordings: the worker's signed request for a presigned S3 PUT, a real upload to moto's S3 over
HTTP, the `recording_stored` event, and the operator's presigned GET of the same bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import httpx
import pytest

from functions.settings import get_settings
from tests.functions.helpers import event_id, iso, post_events, signed
from tests.functions.lambda_events import Reply, invoke
from tests.support.operator import Operator

OGG = b"OggS" + bytes(range(256)) * 40  # what the worker uploads (the API never reads it)


def new_call(operator: Operator, recording: bool) -> str:
    spec = {
        "name": f"Recorded {recording}",
        "instructions": {"en": "You help."},
        "greeting": {"en": "Hello."},
        "languages": ["en"],
        "recording": recording,
    }
    headers = {**operator.headers("openid assistants:write"), "content-type": "application/json"}
    made = invoke("POST", "/assistants", body=json.dumps(spec), headers=headers)
    assert made.status == 201, made.text
    body = {"name": "caller", "language": "en", "assistant_id": made.json()["assistant_id"]}
    token = invoke("POST", "/token", body=json.dumps(body))
    assert token.status == 200 and token.json()["recording"] is recording, token.text
    return str(token.json()["room"])


def upload_request(room: str, body: bytes = b"{}") -> Reply:
    path = f"/sessions/{room}/recording"
    return invoke("POST", path, body=body, headers=signed(path, body))


def stored(started: datetime) -> dict[str, object]:
    return {
        "type": "recording_stored",
        "event_id": event_id(),
        "ts": iso(started),
        "started_at": iso(started),
    }


def test_a_recorded_call_is_uploaded_to_s3_and_played_back_by_an_operator(operator: Operator) -> None:
    room, started = new_call(operator, recording=True), datetime.now(UTC)
    grant = upload_request(room)
    assert grant.status == 200, grant.text
    upload = grant.json()
    assert upload["headers"] == {"Content-Type": "audio/ogg"} and upload["expires_in"] == 900
    # the presigned PUT, over real HTTP to moto's S3
    put = httpx.put(upload["upload_url"], content=OGG, headers=upload["headers"], timeout=10)
    assert put.status_code == 200, put.text
    reply = post_events(room, [{**stored(started), "duration_s": 12.5, "bytes": 1}])
    assert reply.status == 200, reply.text

    auth = operator.headers()
    session = invoke("GET", f"/sessions/{room}", headers=auth).json()
    # the size S3 holds, not the one the worker claimed
    assert session["recording"]["bytes"] == len(OGG) and session["recording"]["duration_s"] == 12.5
    link = invoke("GET", f"/sessions/{room}/recording", headers=auth)
    assert link.status == 200, link.text
    assert link.json()["content_type"] == "audio/ogg" and link.json()["duration_s"] == 12.5
    played = httpx.get(link.json()["url"], timeout=10)
    assert played.status_code == 200 and played.content == OGG

    # stored encrypted, and expired with the sessions
    s3 = boto3.client("s3")
    bucket = get_settings().recordings_bucket
    head = s3.head_object(Bucket=bucket, Key=f"recordings/{room}.ogg")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentType"] == "audio/ogg"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["Expiration"]["Days"] == get_settings().data_retention_days
    assert rule["Filter"]["Prefix"] == "recordings/"


def test_only_recorded_calls_get_an_upload_and_nothing_is_recorded_before_the_file(
    operator: Operator,
) -> None:
    plain, started = new_call(operator, recording=False), datetime.now(UTC)
    refused = upload_request(plain)
    assert refused.status == 409 and refused.json()["error"] == "not_recorded"
    event = {**stored(started), "duration_s": 1.0, "bytes": 10}
    assert post_events(plain, [event]).json()["error"] == "not_recorded"

    recorded = new_call(operator, recording=True)
    early = post_events(recorded, [{**stored(started), "duration_s": 1.0, "bytes": 10}])
    assert early.status == 409 and early.json()["error"] == "recording_missing"
    auth = operator.headers()
    assert invoke("GET", f"/sessions/{recorded}", headers=auth).json()["recording"] is None
    missing = invoke("GET", f"/sessions/{recorded}/recording", headers=auth)
    assert missing.status == 404 and missing.json()["error"] == "no_recording"


@pytest.mark.parametrize("body", [b'{"url": "https://elsewhere"}', b"[]", b"not json"])
def test_the_upload_request_takes_no_choices(body: bytes, operator: Operator) -> None:
    room = new_call(operator, recording=True)
    assert 400 <= upload_request(room, body).status < 500


def test_unsigned_requests_and_other_callers_get_nothing(operator: Operator) -> None:
    room = new_call(operator, recording=True)
    unsigned = invoke(
        "POST", f"/sessions/{room}/recording", body=b"{}", headers={"content-type": "application/json"}
    )
    assert unsigned.status == 401
    assert invoke("GET", f"/sessions/{room}/recording").status == 401
    reader = operator.headers("openid analytics:read")
    assert invoke("GET", f"/sessions/{room}/recording", headers=reader).status == 403
    unknown = upload_request("call-000000000000")
    assert unknown.status == 404


def test_a_long_finished_call_takes_no_recording(monkeypatch: pytest.MonkeyPatch, operator: Operator) -> None:
    room = new_call(operator, recording=True)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    ended = {"type": "session_ended", "event_id": event_id(), "ts": iso(long_ago), "reason": "caller left"}
    assert post_events(room, [ended]).status == 200
    monkeypatch.setenv("SESSION_LOG_GRACE_S", "0")
    get_settings.cache_clear()
    late = upload_request(room)
    assert late.status == 409 and late.json()["error"] == "session_finished"


def test_deleting_a_finished_session_deletes_its_transcript_and_recording(operator: Operator) -> None:
    room, started = new_call(operator, recording=True), datetime.now(UTC)
    upload = upload_request(room).json()
    assert (
        httpx.put(upload["upload_url"], content=OGG, headers=upload["headers"], timeout=10).status_code == 200
    )
    line = {"type": "transcript", "event_id": event_id(), "ts": iso(started), "role": "user", "text": "hi"}
    opened = {"type": "session_started", "event_id": event_id(), "ts": iso(started), "room": room}
    assert post_events(room, [opened, line, {**stored(started), "duration_s": 2.0, "bytes": 1}]).status == 200
    deleter = operator.headers("openid sessions:delete")
    # not while the call runs, and not with the readers' scope
    running = invoke("DELETE", f"/sessions/{room}", headers=deleter)
    assert running.status == 409 and running.json()["error"] == "session_active"
    ended = {"type": "session_ended", "event_id": event_id(), "ts": iso(started), "reason": "caller left"}
    assert post_events(room, [ended]).status == 200
    reader = operator.headers("openid sessions:read")
    assert invoke("DELETE", f"/sessions/{room}", headers=reader).status == 403

    gone = invoke("DELETE", f"/sessions/{room}", headers=deleter)
    assert gone.status == 200, gone.text
    assert gone.json() == {"session_id": room, "events_deleted": 4, "recording_deleted": True}
    assert invoke("GET", f"/sessions/{room}", headers=operator.headers()).status == 404
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=get_settings().recordings_bucket, Prefix=f"recordings/{room}")
    assert listed.get("KeyCount", 0) == 0
    assert invoke("DELETE", f"/sessions/{room}", headers=deleter).status == 404
    # the worker's late events find no session to add to
    assert post_events(room, [line]).status == 404
