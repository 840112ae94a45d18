"""Abuse limits per client on POST /token (issue 10 #4): counters in the moto rate-limits table."""

from __future__ import annotations

import json

import boto3
import pytest

from functions.settings import get_settings
from infra.local_aws import LocalAws
from tests.functions.lambda_events import invoke


def token(ip: str, **body: object) -> tuple[int, dict, dict]:
    reply = invoke("POST", "/token", body=json.dumps({"name": "burst", **body}), source_ip=ip)
    return reply.status, reply.json(), reply.headers


def session_count(local_aws: LocalAws) -> int:
    table = boto3.resource("dynamodb", endpoint_url=local_aws.url).Table(get_settings().sessions_table)
    return int(table.scan(Select="COUNT")["Count"])


def test_a_burst_from_one_client_gets_429_and_creates_nothing_more(
    fresh_tables: None, local_aws: LocalAws
) -> None:
    limit = get_settings().calls_per_ip
    statuses = [token("198.51.100.7")[0] for _ in range(60)]
    assert statuses[:limit] == [200] * limit
    assert set(statuses[limit:]) == {429}, statuses
    status, body, headers = token("198.51.100.7")
    assert status == 429
    assert body["error"] == "rate_limited" and body["detail"]["limit"] in ("calls_per_ip", "token_per_ip")
    assert 1 <= int(headers["retry-after"]) <= get_settings().rate_limit_window_s
    # Only the calls inside the limit exist (and are counted by the analytics); another client is served.
    assert session_count(local_aws) == limit
    assert token("198.51.100.8")[0] == 200


def test_every_request_counts_against_the_ip_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_REQUESTS_PER_IP", "3")
    get_settings.cache_clear()
    ip = "198.51.100.20"
    bad = [invoke("POST", "/token", body="{not json", source_ip=ip).status for _ in range(3)]
    assert bad == [400, 400, 400]
    status, body, _ = token(ip)
    assert status == 429 and body["detail"]["limit"] == "token_per_ip"


def test_rejoins_are_limited_per_call_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REJOINS_PER_IDENTITY", "2")
    get_settings.cache_clear()
    status, call, _ = token("198.51.100.30")
    assert status == 200
    # A leaked call key, used from many addresses, still mints only so many tokens for that call.
    rejoin = {"room": call["room"], "call_key": call["call_key"]}
    results = [token(f"198.51.100.{31 + i}", **rejoin)[0] for i in range(4)]
    assert results == [200, 200, 429, 429]
