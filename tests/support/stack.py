"""Parts of the local stack started for tests on free loopback ports (the same code as the run command)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from infra.stack import services

__all__ = ["free_port", "running", "services", "stack_settings"]
from infra.stack.settings import StackSettings
from infra.stack.supervisor import Service, Supervisor
from tests.support.model_server import ModelServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_settings(model_server: ModelServer | None = None, **overrides: object) -> StackSettings:
    """Free ports for every service. ``model_server``: a running one (the session's, see tests/conftest.py)
    for the worker to use, so a stack does not load its own copy of the models."""
    ports: dict[str, object] = {
        "sfu_port": free_port(),
        "functions_port": free_port(),
        "aws_port": free_port(),
        "web_port": free_port(),
        "worker_http_port": free_port(),
        "oidc_port": free_port(),
        "model_server_port": free_port(),
    }
    if model_server is not None:
        ports["model_server_port"] = int(model_server.url.rsplit(":", 1)[1].split("/", 1)[0])
        ports["model_server_key"] = model_server.api_key
    ports.update(overrides)
    return StackSettings(**ports)  # type: ignore[arg-type]


_UNLIMITED = ("TOKEN_REQUESTS_PER_IP", "CALLS_PER_IP", "REJOINS_PER_IDENTITY")


@contextmanager
def running(
    settings: StackSettings, names: list[str], quiet: bool = True, env: dict[str, str] | None = None
) -> Iterator[tuple[dict[str, Service], Supervisor]]:
    """Start the named services in order (aws, functions, sfu, agent, web); stop them all afterwards."""
    makers = {
        "aws": services.local_aws,
        "functions": services.functions,
        "oidc": services.local_oidc,
        "sfu": services.sfu,
        "models": services.model_server,
        "agent": services.worker,
        "web": services.web,
    }
    sup = Supervisor(out=sys.stderr, quiet=quiet, color=False)
    started: dict[str, Service] = {}
    try:
        for name in names:
            svc = makers[name](settings)
            if name == "functions":
                # Every test and benchmark call comes from 127.0.0.1: the per-client abuse limits (tested
                # on their own in tests/functions) would refuse the suite's own calls.
                svc.env.update({k: "100000" for k in _UNLIMITED})
            if env:
                svc.env.update(env)
            sup.start(svc, settings.startup_timeout_s)
            started[name] = svc
        yield started, sup
    finally:
        sup.stop()
