"""Start the local issuer on a free loopback port (tests, benchmarks): where it is and who may sign in."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra.local_oidc.command import ensure_node_modules, node_command
from infra.local_oidc.settings import REPO_ROOT, LocalOidcSettings


@dataclass(frozen=True)
class LocalOidc:
    issuer: str
    client_id: str
    username: str
    password: str
    redirect_uri: str

    @property
    def env(self) -> dict[str, str]:
        """What the functions (serverless.yml's local stage) and the web server need to use this issuer."""
        return {
            "OPERATOR_ISSUER": self.issuer,
            "OPERATOR_AUDIENCE": self.client_id,
            "OPERATOR_CLIENT_ID": self.client_id,
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_oidc(
    redirect_uris: Sequence[str],
    log_path: Path,
    *,
    extra_clients: Sequence[str] = (),
    settings: LocalOidcSettings | None = None,
    timeout_s: float = 30,
) -> Iterator[LocalOidc]:
    s = (settings or LocalOidcSettings()).model_copy()
    if s.port == LocalOidcSettings.model_fields["port"].default:
        s = s.model_copy(update={"port": _free_port()})
    ensure_node_modules()
    env = {**os.environ, "LOCAL_OIDC_OPERATOR_PASSWORD": s.operator_password}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            node_command(s, list(redirect_uris), list(extra_clients)),
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("local issuer did not start:\n" + log_path.read_text()[-3000:])
            try:
                if httpx.get(f"{s.issuer}/.well-known/openid-configuration", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield LocalOidc(s.issuer, s.client_id, s.operator_username, s.operator_password, redirect_uris[0])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
