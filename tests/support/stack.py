"""Parts of the local stack started for tests on free loopback ports (the same code as the run command)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.stack import services

__all__ = ["free_port", "log_tails", "running", "services", "stack_settings"]
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
        "functions_lambda_port": free_port(),
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
    settings: StackSettings,
    names: list[str],
    quiet: bool = True,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
) -> Iterator[tuple[dict[str, Service], Supervisor]]:
    """Start the named services in order (aws, functions, sfu, agent, web); stop them all afterwards.
    ``log_dir``: keep each service's whole log there (see ``log_tails``)."""
    makers = {
        "aws": services.local_aws,
        "functions": services.functions,
        "oidc": services.local_oidc,
        "sfu": services.sfu,
        "models": services.model_server,
        "agent": services.worker,
        "web": services.web,
    }
    sup = Supervisor(out=sys.stderr, quiet=quiet, color=False, log_dir=log_dir)
    started: dict[str, Service] = {}
    try:
        for name in names:
            svc = makers[name](settings)
            if name == "functions":
                # Every test and benchmark call comes from 127.0.0.1: the per-client abuse limits (tested
                # on their own in tests/functions) would refuse the suite's own calls.
                svc.env.update({k: "100000" for k in _UNLIMITED})
            if name == "agent":
                # A summary is ~10 s of the shared model server after each call: only where a test asks.
                svc.env["CALL_SUMMARY"] = "false"
            if env:
                svc.env.update(env)
            sup.start(svc, settings.startup_timeout_s)
            started[name] = svc
        yield started, sup
    finally:
        sup.stop()


def log_tails(sup: Supervisor, lines: int = 150) -> list[tuple[str, str]]:
    """The last lines of each service's kept log, for a failed test's report."""
    if sup.log_dir is None or not sup.log_dir.is_dir():
        return []
    return [
        (f"{path.stem} log, last {lines} lines", "\n".join(path.read_text("utf-8").splitlines()[-lines:]))
        for path in sorted(sup.log_dir.glob("*.log"))
    ]
