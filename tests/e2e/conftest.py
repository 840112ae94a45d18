"""The local stack for end-to-end tests: moto, the local operator issuer, the functions, the dev SFU and
the agent worker.

The stack is started once per module on free ports with the README's offline defaults. Session logs are
read back as the seeded operator (a real sign-in at the local issuer).
"""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from livekit import api

from infra.stack.settings import StackSettings
from infra.stack.supervisor import Service, Supervisor
from tests.support import stack as stack_support
from tests.support.caller import Caller
from tests.support.model_server import ModelServer
from tests.support.operator import Operator, stack_operator


@dataclass
class Stack:
    settings: StackSettings
    services: dict[str, Service]
    sup: Supervisor
    operator: Operator

    def token(self, name: str = "Tester", language: str = "en", **extra: Any) -> dict[str, Any]:
        resp = httpx.post(
            f"{self.settings.functions_url}/token",
            json={"name": name, "language": language, **extra},
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def session(self, room: str) -> dict[str, Any]:
        resp = httpx.get(
            f"{self.settings.functions_url}/sessions/{room}", headers=self.operator.headers(), timeout=10
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def wait_session(self, room: str, predicate: Any, within: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + within
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            r = httpx.get(
                f"{self.settings.functions_url}/sessions/{room}", headers=self.operator.headers(), timeout=10
            )
            if r.status_code == 200:
                last = r.json()
                if predicate(last):
                    return last
            time.sleep(0.5)
        raise AssertionError(f"session {room} never satisfied the condition; last: {last}")

    def raw_token(self, room: str, identity: str, ttl_s: float = 600, dispatch: bool = True) -> str:
        tok = (
            api.AccessToken(self.settings.api_key, self.settings.api_secret)
            .with_identity(identity)
            .with_grants(api.VideoGrants(room_join=True, room=room))
            .with_ttl(datetime.timedelta(seconds=ttl_s))
        )
        if dispatch:
            tok = tok.with_room_config(
                api.RoomConfiguration(
                    agents=[
                        api.RoomAgentDispatch(
                            agent_name=self.settings.agent_name, metadata='{"language": "en"}'
                        )
                    ]
                )
            )
        return tok.to_jwt()

    def restart(self, name: str) -> None:
        svc = self.services[name]
        self.sup.stop_one(svc)
        maker = {
            "sfu": stack_support.services.sfu,
            "agent": stack_support.services.worker,
            "functions": stack_support.services.functions,
        }[name]
        fresh = maker(self.settings)
        fresh.env = svc.env
        self.sup.start(fresh, self.settings.startup_timeout_s)
        self.services[name] = fresh

    def kill(self, name: str) -> None:
        self.sup.stop_one(self.services[name], grace_s=0.0)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report carries what the stack's services logged (they run quiet in tests)."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack, Stack):
        report.sections.extend(stack_support.log_tails(stack.sup))
    return report


@pytest.fixture(scope="module")
def stack(model_server: ModelServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = stack_support.stack_settings(model_server, oidc_port=stack_support.free_port())
    env, operator = stack_operator(settings)
    with stack_support.running(
        settings,
        ["aws", "oidc", "functions", "sfu", "agent"],
        env={**env, "CALL_SUMMARY": "true"},
        log_dir=tmp_path_factory.mktemp("stack-logs"),
    ) as (services, sup):
        yield Stack(settings, services, sup, operator)


@pytest.fixture
async def caller() -> AsyncIterator[Caller]:
    c = Caller()
    yield c
    if c.room.isconnected():
        await c.leave()
    await asyncio.sleep(0)
