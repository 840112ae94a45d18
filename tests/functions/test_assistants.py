"""Assistants defined without code: the operators' /assistants routes (versions, archive, optimistic
concurrency), the seeded default, the worker's signed read of a version, and POST /token choosing one."""

from __future__ import annotations

import json
import multiprocessing
import re
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import boto3
import jwt
import pytest
from boto3.dynamodb.conditions import Key

from functions.models.assistant import AssistantSpec
from functions.settings import get_settings
from functions.store import assistants as store
from functions.store.sessions import get_session
from tests.functions.helpers import SETTINGS, signed
from tests.functions.lambda_events import Reply, invoke
from tests.support.operator import Operator

READ_ONLY = "openid assistants:read"


def spec(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Support {uuid.uuid4().hex[:8]}",
        "instructions": {"en": "You answer questions about opening hours.", "zh": "你回答营业时间的问题。"},
        "greeting": {"en": "Hello, this is support.", "zh": "你好，这里是客服。"},
        "languages": ["en", "zh"],
    }
    body.update(overrides)
    return body


def call(
    operator: Operator, method: str, path: str, body: Any = None, scope: str | None = None, **kwargs: Any
) -> Reply:
    headers = operator.headers(scope) if scope else operator.headers()
    headers.update(kwargs.pop("headers", {}))
    if body is not None:
        headers["content-type"] = "application/json"
        kwargs["body"] = json.dumps(body)
    return invoke(method, path, headers=headers, **kwargs)


def create(operator: Operator, **overrides: Any) -> dict[str, Any]:
    reply = call(operator, "POST", "/assistants", spec(**overrides))
    assert reply.status == 201, reply.text
    return reply.json()


def error(reply: Reply, status: int, code: str) -> Any:
    assert reply.status == status, reply.text
    body = reply.json()
    assert body["error"] == code, body
    return body["detail"]


def listed(operator: Operator, include_archived: bool = False) -> list[dict[str, Any]]:
    query = {"include_archived": "true"} if include_archived else None
    reply = call(operator, "GET", "/assistants", query=query)
    assert reply.status == 200, reply.text
    assistants: list[dict[str, Any]] = reply.json()["assistants"]
    return assistants


# ---------- the operators' routes ----------


def test_create_list_get_update_versions_archive_restore(operator: Operator) -> None:
    tag = uuid.uuid4().hex[:8]
    created = create(operator, name=f"  {tag} beta  ", temperature=0.7, voices={"en": "alloy"})
    assert re.fullmatch(r"asst-[0-9a-f]{12}", created["assistant_id"])
    assert created["version"] == 1 and created["archived"] is False
    assert created["name"] == f"{tag} beta", "names are stripped"
    assert created["created_at"] == created["updated_at"] and created["created_at"].endswith("Z")
    assert created["temperature"] == 0.7 and created["voices"] == {"en": "alloy"}
    assert created["language_mode"] == "bilingual" and created["recording"] is False
    assert created["llm_model"] is None and created["idle_timeout_s"] is None
    aid = created["assistant_id"]
    other = create(operator, name=f"{tag} Alpha")

    ids = [a["assistant_id"] for a in listed(operator)]
    assert "default" in ids
    assert ids.index(other["assistant_id"]) < ids.index(aid), "sorted by name, case-insensitively"
    assert call(operator, "GET", f"/assistants/{aid}").json() == created

    edited = spec(name=f"{tag} beta v2", base_version=1, recording=True, language_mode="fixed")
    saved = call(operator, "PUT", f"/assistants/{aid}", edited)
    assert saved.status == 200, saved.text
    v2 = saved.json()
    assert v2["version"] == 2 and v2["name"] == f"{tag} beta v2" and v2["recording"] is True
    assert v2["created_at"] == created["created_at"] and v2["updated_at"] > created["updated_at"]
    assert v2["temperature"] is None, "a version is the whole spec, not a patch"
    assert call(operator, "GET", f"/assistants/{aid}").json() == v2

    versions = call(operator, "GET", f"/assistants/{aid}/versions").json()["versions"]
    assert versions == [
        {"version": 2, "updated_at": v2["updated_at"], "name": f"{tag} beta v2"},
        {"version": 1, "updated_at": created["updated_at"], "name": f"{tag} beta"},
    ]
    assert call(operator, "GET", f"/assistants/{aid}/versions/1").json() == created
    error(call(operator, "GET", f"/assistants/{aid}/versions/3"), 404, "version_not_found")

    archived = call(operator, "DELETE", f"/assistants/{aid}")
    assert archived.status == 200 and archived.json() == {**v2, "archived": True}
    again = call(operator, "DELETE", f"/assistants/{aid}")
    assert again.status == 200 and again.json()["archived"] is True, "archiving is idempotent"
    assert aid not in [a["assistant_id"] for a in listed(operator)]
    assert aid in [a["assistant_id"] for a in listed(operator, include_archived=True)]
    assert call(operator, "GET", f"/assistants/{aid}").json()["archived"] is True
    # Its versions are kept (calls recorded them), and say the assistant is archived now.
    assert call(operator, "GET", f"/assistants/{aid}/versions/1").json() == {**created, "archived": True}
    refused = call(operator, "PUT", f"/assistants/{aid}", {**edited, "base_version": 2})
    assert "restore" in error(refused, 409, "assistant_archived")

    restored = call(operator, "POST", f"/assistants/{aid}/restore")
    assert restored.status == 200 and restored.json() == v2
    assert aid in [a["assistant_id"] for a in listed(operator)]


def test_unknown_assistants_are_404(operator: Operator) -> None:
    unknown = "asst-000000000000"
    for method, path, body in [
        ("GET", f"/assistants/{unknown}", None),
        ("GET", f"/assistants/{unknown}/versions", None),
        ("GET", f"/assistants/{unknown}/versions/1", None),
        ("PUT", f"/assistants/{unknown}", spec(base_version=1)),
        ("DELETE", f"/assistants/{unknown}", None),
        ("POST", f"/assistants/{unknown}/restore", None),
    ]:
        assert unknown in error(call(operator, method, path, body), 404, "assistant_not_found"), path
    malformed = call(operator, "GET", "/assistants/not-an-id")
    assert malformed.status == 422 and malformed.json()["error"] == "validation_error"


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        (spec(greeting={"en": "Hello."}), ["body"], "greeting has no entry for 'zh'"),
        (
            spec(languages=["en"], instructions={"en": "x"}, greeting={"en": "x"}, voices={"zh": "v"}),
            ["body"],
            "voices has an entry for 'zh', which is not in languages",
        ),
        (
            spec(instructions={"en": "x", "zh": "y", "fr": "z"}),
            ["body", "instructions", "fr"],
            "'zh' or 'en'",
        ),
        (spec(name="   "), ["body", "name"], "at least 1 character"),
        (spec(temperature=2.5), ["body", "temperature"], "less than or equal to 2"),
        (spec(colour="blue"), ["body", "colour"], "Extra inputs are not permitted"),
        (spec(languages=[]), ["body", "languages"], "at least 1 item"),
        (spec(languages=["en", "en"]), ["body", "languages"], "twice"),
        (spec(voices={"en": "no spaces allowed"}), ["body", "voices", "en"], "pattern"),
        (spec(idle_timeout_s=5), ["body", "idle_timeout_s"], "greater than or equal to 10"),
        (spec(greeting={"en": "x" * 301, "zh": "y"}), ["body", "greeting", "en"], "at most 300"),
    ],
)
def test_invalid_specs_are_422_naming_the_problem(
    operator: Operator, body: dict[str, Any], loc: list[str], message: str
) -> None:
    detail = error(call(operator, "POST", "/assistants", body), 422, "validation_error")
    assert any(message in d["msg"] and d["loc"][: len(loc)] == loc for d in detail), detail
    assert "Traceback" not in json.dumps(detail)


def test_a_stale_base_version_is_a_conflict_not_an_overwrite(operator: Operator) -> None:
    """Two editors open version 1; the second to save is told the latest version, and nothing is lost."""
    aid = create(operator)["assistant_id"]
    first = call(operator, "PUT", f"/assistants/{aid}", spec(name="Editor one", base_version=1))
    assert first.status == 200 and first.json()["version"] == 2
    second = call(operator, "PUT", f"/assistants/{aid}", spec(name="Editor two", base_version=1))
    detail = error(second, 409, "version_conflict")
    assert detail["latest_version"] == 2 and "version 2" in detail["message"]
    ahead = call(operator, "PUT", f"/assistants/{aid}", spec(base_version=5))
    assert error(ahead, 409, "version_conflict")["latest_version"] == 2
    assert call(operator, "GET", f"/assistants/{aid}").json()["name"] == "Editor one"
    assert [
        v["version"] for v in call(operator, "GET", f"/assistants/{aid}/versions").json()["versions"]
    ] == [2, 1]
    missing_base = call(operator, "PUT", f"/assistants/{aid}", spec())
    assert missing_base.status == 422


def test_the_table_refuses_a_save_based_on_a_stale_read(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conflict is the transaction's condition, not only the check before it: an editor whose read of
    the head is stale (another saved between its read and its write) writes nothing."""
    aid = create(operator)["assistant_id"]
    stale = store.head(aid)
    assert call(operator, "PUT", f"/assistants/{aid}", spec(name="saved first", base_version=1)).status == 200
    reads = iter([stale])
    real_head = store.head
    monkeypatch.setattr(store, "head", lambda assistant_id: next(reads, None) or real_head(assistant_id))
    with pytest.raises(store.VersionConflict) as refused:
        store.update(aid, AssistantSpec.model_validate(spec(name="saved second")), 1, datetime.now(UTC))
    assert refused.value.latest == 2
    monkeypatch.undo()
    assert store.latest(aid).name == "saved first"
    assert [v.version for v in store.versions(aid)] == [2, 1]


def test_an_idempotency_key_makes_a_retry_return_the_first_assistant(operator: Operator) -> None:
    key = {"idempotency-key": f"create-{uuid.uuid4().hex}"}
    body = spec()
    first = call(operator, "POST", "/assistants", body, headers=key)
    retry = call(operator, "POST", "/assistants", body, headers=key)
    assert first.status == retry.status == 201
    assert retry.json() == first.json()
    assert [a["assistant_id"] for a in listed(operator)].count(first.json()["assistant_id"]) == 1
    reused = call(operator, "POST", "/assistants", spec(name="something else"), headers=key)
    error(reused, 422, "idempotency_key_reused")
    assert call(operator, "POST", "/assistants", body).json()["assistant_id"] != first.json()["assistant_id"]


# ---------- the default assistant ----------


def _default_items() -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(get_settings().assistants_table)
    items: list[dict[str, Any]] = table.query(KeyConditionExpression=Key("assistant_id").eq("default"))[
        "Items"
    ]
    return items


def _forget_default() -> None:
    table = boto3.resource("dynamodb").Table(get_settings().assistants_table)
    for item in _default_items():
        table.delete_item(Key={"assistant_id": "default", "version": item["version"]})


def test_the_default_is_seeded_once_from_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    _forget_default()
    first = store.head("default")
    assert store.head("default") == first, "seeding again changes nothing"
    assert not store._put_new("default", store.default_spec(), datetime.now(UTC)), "a second seed is refused"
    # Two Lambdas racing: this one read no default, another seeded it before this one's write.
    reads = iter([None])
    real_read = store._read_head
    monkeypatch.setattr(
        store, "_read_head", lambda assistant_id: next(reads, None) or real_read(assistant_id)
    )
    assert store.head("default") == first, "the loser of the race gets the winner's copy, no error"
    monkeypatch.undo()
    assert sorted(int(i["version"]) for i in _default_items()) == [0, 1]

    seeded = store.latest("default")
    file_spec = json.loads(store.DEFAULT_FILE.read_text(encoding="utf-8"))
    assert seeded.model_dump(mode="json", include=set(AssistantSpec.model_fields)) == file_spec
    assert seeded.instructions["en"] == "You are Echo, a friendly voice assistant answering a phone call."
    assert seeded.instructions["zh"] == "你是小声，一个接听电话的友好语音助手。"
    assert seeded.greeting == {
        "en": "Hi, I'm Echo. How can I help?",
        "zh": "你好，我是小声。有什么可以帮你？",
    }
    assert (seeded.version, seeded.archived, seeded.name) == (1, False, "Echo (default)")


def _seed_default(_: int) -> str:
    """The first request of a fresh Lambda: its own process, its own boto3 session."""
    return str(store.head("default")["created_at"])


def test_concurrent_first_requests_seed_one_default() -> None:
    _forget_default()
    # Processes, not threads: each racer is a separate Lambda with its own connections, as in production.
    with ProcessPoolExecutor(max_workers=3, mp_context=multiprocessing.get_context("spawn")) as pool:
        created = list(pool.map(_seed_default, range(3)))
    assert len(set(created)) == 1, "every racer got the one seeded copy"
    assert sorted(int(i["version"]) for i in _default_items()) == [0, 1]


def test_the_default_appears_on_a_fresh_table_and_cannot_be_archived(operator: Operator) -> None:
    _forget_default()
    default = next(a for a in listed(operator) if a["assistant_id"] == "default")
    assert default["version"] == 1 and default["languages"] == ["en", "zh"]
    _forget_default()
    assert call(operator, "GET", "/assistants/default").json()["name"] == "Echo (default)"
    assert "cannot be archived" in error(
        call(operator, "DELETE", "/assistants/default"), 409, "assistant_protected"
    )
    assert call(operator, "GET", "/assistants/default").json()["archived"] is False
    # ...but it can be edited, like any other.
    edited = spec(name="Echo (default)", base_version=1, instructions=default["instructions"])
    saved = call(operator, "PUT", "/assistants/default", {**edited, "greeting": default["greeting"]})
    assert saved.status == 200 and saved.json()["version"] == 2


# ---------- operator access ----------


def test_anonymous_is_401_and_a_token_without_the_scope_is_403(operator: Operator) -> None:
    anonymous = invoke("GET", "/assistants")
    assert error(anonymous, 401, "unauthorized") and anonymous.headers["www-authenticate"].startswith(
        "Bearer"
    )
    anonymous_write = invoke("POST", "/assistants", body=json.dumps({"not": "even valid"}))
    assert anonymous_write.status == 401, "authentication comes before validation"
    assert call(operator, "GET", "/assistants", scope=READ_ONLY).status == 200
    for method, path, body in [
        ("POST", "/assistants", spec()),
        ("PUT", "/assistants/default", spec(base_version=1)),
        ("DELETE", "/assistants/default", None),
        ("POST", "/assistants/default/restore", None),
    ]:
        reply = call(operator, method, path, body, scope=READ_ONLY)
        assert "assistants:write" in error(reply, 403, "insufficient_scope"), (method, path)
    sessions_only = call(operator, "GET", "/assistants/default", scope="openid sessions:read")
    assert "assistants:read" in error(sessions_only, 403, "insufficient_scope")


# ---------- the worker's signed route ----------


def test_the_worker_reads_a_version_only_when_signed(operator: Operator) -> None:
    aid = create(operator)["assistant_id"]
    path = f"/agent/assistants/{aid}/versions/1"
    assert error(invoke("GET", path), 401, "invalid_signature")
    assert error(invoke("GET", path, headers=operator.headers()), 401, "invalid_signature"), (
        "no operator route"
    )
    wrong_secret = signed(path, b"", method="GET", secret="not-the-session-log-secret")
    assert invoke("GET", path, headers=wrong_secret).status == 401
    other_version = signed(f"/agent/assistants/{aid}/versions/2", b"", method="GET")
    assert invoke("GET", path, headers=other_version).status == 401
    other_assistant = signed("/agent/assistants/default/versions/1", b"", method="GET")
    assert invoke("GET", path, headers=other_assistant).status == 401
    as_post = signed(path, b"", method="POST")
    assert invoke("GET", path, headers=as_post).status == 401
    stale = signed(path, b"", method="GET", now=1_000_000_000)
    assert invoke("GET", path, headers=stale).status == 401

    ok = invoke("GET", path, headers=signed(path, b"", method="GET"))
    assert ok.status == 200, ok.text
    assert ok.json() == call(operator, "GET", f"/assistants/{aid}/versions/1").json()
    missing = f"/agent/assistants/{aid}/versions/9"
    error(invoke("GET", missing, headers=signed(missing, b"", method="GET")), 404, "version_not_found")
    # Archived assistants are still served: a call may have begun before the archive.
    assert call(operator, "DELETE", f"/assistants/{aid}").status == 200
    archived = invoke("GET", path, headers=signed(path, b"", method="GET"))
    assert archived.status == 200 and archived.json()["archived"] is True


# ---------- POST /token ----------


def issue(**body: Any) -> Reply:
    return invoke("POST", "/token", body=json.dumps({"name": "Caller", **body}))


def dispatch_metadata(token: str) -> dict[str, Any]:
    claims = jwt.decode(
        token, SETTINGS.livekit_api_secret, algorithms=["HS256"], issuer=SETTINGS.livekit_api_key
    )
    (agent,) = claims["roomConfig"]["agents"]
    metadata: dict[str, Any] = json.loads(agent["metadata"])
    return metadata


def test_token_refuses_unknown_archived_and_unoffered(operator: Operator) -> None:
    assert "asst-000000000000" in error(issue(assistant_id="asst-000000000000"), 404, "assistant_not_found")
    assert issue(assistant_id="asst-NOTHEX000000").status == 422
    mandarin_only = create(
        operator, languages=["zh"], instructions={"zh": "你只说中文。"}, greeting={"zh": "你好。"}
    )["assistant_id"]
    detail = error(issue(assistant_id=mandarin_only, language="en"), 422, "language_not_offered")
    assert "zh" in detail
    assert issue(assistant_id=mandarin_only, language="zh").status == 200
    assert call(operator, "DELETE", f"/assistants/{mandarin_only}").status == 200
    error(issue(assistant_id=mandarin_only, language="zh"), 409, "assistant_archived")


def test_a_call_keeps_the_version_it_started_with(operator: Operator) -> None:
    created = create(operator, recording=True)
    aid = created["assistant_id"]
    reply = issue(assistant_id=aid, language="zh")
    assert reply.status == 200, reply.text
    issued = reply.json()
    assert (issued["assistant_id"], issued["assistant_version"], issued["recording"]) == (aid, 1, True)
    row = get_session(issued["room"])
    assert row is not None and (row["assistant_id"], row["assistant_version"]) == (aid, 1)
    assert dispatch_metadata(issued["token"]) == {
        "language": "zh",
        "persona": "default",
        "caller": issued["identity"],
        "assistant_id": aid,
        "assistant_version": 1,
    }

    updated = call(operator, "PUT", f"/assistants/{aid}", spec(base_version=1, recording=False))
    assert updated.status == 200 and updated.json()["version"] == 2
    row = get_session(issued["room"])
    assert row is not None and row["assistant_version"] == 1, "the call runs the version it started with"
    session = call(operator, "GET", f"/sessions/{issued['room']}").json()
    assert (session["assistant_id"], session["assistant_version"]) == (aid, 1)
    rejoin = issue(room=issued["room"], call_key=issued["call_key"], assistant_id="default").json()
    assert (rejoin["assistant_id"], rejoin["assistant_version"], rejoin["recording"]) == (aid, 1, True)

    later = issue(assistant_id=aid).json()
    assert (later["assistant_version"], later["recording"]) == (2, False)
    assert dispatch_metadata(later["token"])["assistant_version"] == 2


def test_a_token_without_an_assistant_gets_the_default(operator: Operator) -> None:
    latest = call(operator, "GET", "/assistants/default").json()
    issued = issue().json()
    assert (issued["assistant_id"], issued["assistant_version"]) == ("default", latest["version"])
    metadata = dispatch_metadata(issued["token"])
    assert (metadata["assistant_id"], metadata["assistant_version"]) == ("default", latest["version"])
    listed_sessions = call(operator, "GET", "/sessions").json()["items"]
    mine = next(s for s in listed_sessions if s["session_id"] == issued["room"])
    assert (mine["assistant_id"], mine["assistant_version"]) == ("default", latest["version"])
