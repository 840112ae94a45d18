"""The web app's own test suites, run from pytest: Vitest unit tests and the browser tests in web/e2e.

Browser tests drive Debian's Chromium through playwright-core (node). The full-stack call starts the
local stack (moto, the local operator issuer, functions, dev SFU, agent worker, web server) on free
ports, like `python -m infra.stack`; operator sign-in runs against moto, the issuer, the functions and
the web server only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.model_server import ModelServer

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=WEB, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{out[-6000:]}"
    return out


def _node_tests(files: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    out = _run(["node", "--test", "--test-concurrency=1", *files], timeout, env)
    passed = re.search(r"^# pass (\d+)$", out, re.M)
    failed = re.search(r"^# fail (\d+)$", out, re.M)
    assert passed and failed, out[-3000:]
    assert int(failed.group(1)) == 0, out[-6000:]
    assert int(passed.group(1)) > 0, f"no browser test ran:\n{out[-3000:]}"
    return out


@pytest.fixture(scope="module")
def built() -> Iterator[None]:
    if shutil.which("node") is None:
        pytest.fail("node is required for the web app (Node 20+)")
    if not (WEB / "node_modules").is_dir():
        _run(["npm", "ci", "--no-audit", "--no-fund"], 600)
    # the browser tests sign in at the local issuer: oidc-provider from the repository's node_modules
    from infra.local_oidc.command import ensure_node_modules

    ensure_node_modules()
    _run(["npm", "run", "build"], 600)
    yield


def test_unit_tests_pass(built: None) -> None:
    out = _run(["npm", "test", "--", "--reporter=dot"], 300)
    assert re.search(r"Tests\s+\d+ passed", re.sub(r"\x1b\[[0-9;]*m", "", out)), out[-3000:]


@pytest.mark.browser
def test_error_states_and_screens_in_chromium(built: None) -> None:
    _node_tests(["e2e/errors.test.mjs", "e2e/screens.test.mjs"], 400)


@pytest.mark.browser
@pytest.mark.e2e
def test_call_page_with_dev_sfu_and_scripted_agent(built: None) -> None:
    _node_tests(["e2e/fake-agent.test.mjs"], 400)


# The machine is shared with other jobs: at the default 0.7 the worker reports itself full whenever
# they load the CPU, and the SFU never dispatches the call. Capacity is not what these tests check.
WORKER_ENV = {"LOAD_THRESHOLD": "1.0"}


@contextmanager
def _local_stack(
    env: dict[str, str] | None = None,
    names: tuple[str, ...] = ("aws", "oidc", "functions", "sfu", "agent", "web"),
    model_server: ModelServer | None = None,
    seed_recording: bool = False,
) -> Iterator[dict[str, str]]:
    """The local stack on free ports (the worker on the session's model server); yields the environment
    the browser tests need. ``seed_recording``: with a finished, recorded call (STACK_RECORDED_SESSION)."""
    from tests.support import stack as stack_support
    from tests.support.operator import stack_operator

    settings = stack_support.stack_settings(model_server, oidc_port=stack_support.free_port())
    operator_env, operator = stack_operator(settings)
    with stack_support.running(settings, list(names), env={**WORKER_ENV, **operator_env, **(env or {})}):
        recorded = {}
        if seed_recording:
            from tests.support.recorded_call import seed_recorded_call

            room = seed_recorded_call(settings.functions_url, settings.session_log_secret, operator)
            recorded = {"STACK_RECORDED_SESSION": room}
        yield {
            **recorded,
            "STACK_WEB_URL": f"{settings.web_url}/",
            "STACK_FUNCTIONS_URL": settings.functions_url,
            "STACK_ISSUER": operator.oidc.issuer,
            "STACK_OPERATOR_USERNAME": operator.oidc.username,
            "STACK_OPERATOR_PASSWORD": operator.oidc.password,
            "STACK_TURN_TIMEOUT_MS": "120000",
        }


@pytest.mark.browser
def test_operator_pages_through_local_stack(built: None, tmp_path: Path, model_server: ModelServer) -> None:
    """Code flow + PKCE in Chromium against the real issuer; the functions verify every token. Then the
    assistant editor against the same functions (its voice preview spoken by the session's model server)."""
    from tests.support.operator import SigningKey

    key = SigningKey.create(tmp_path)
    names = ("aws", "oidc", "functions", "web")
    with _local_stack(
        {"LOCAL_OIDC_JWKS_FILE": str(key.jwks_file)}, names, model_server, seed_recording=True
    ) as env:
        now = int(time.time())
        expired = key.mint(
            {
                "iss": env["STACK_ISSUER"],
                "sub": "local-operator",
                "aud": "voicecall-web",
                "client_id": "voicecall-web",
                "scope": "sessions:read analytics:read",
                "iat": now - 1200,
                "exp": now - 300,
            }
        )
        out = _node_tests(
            ["e2e/operator.test.mjs", "e2e/assistants.test.mjs", "e2e/recording.test.mjs"],
            500,
            env={**env, "STACK_EXPIRED_TOKEN": expired},
        )
    assert "# skipped 0" in out, out[-2000:]


@pytest.mark.browser
@pytest.mark.e2e
@pytest.mark.slow
def test_real_call_through_local_stack(built: None, model_server: ModelServer) -> None:
    with _local_stack(model_server=model_server) as stack_env:
        _node_tests(["e2e/call.test.mjs"], 500, env={**stack_env, "STACK_LANG": "en"})


@pytest.mark.browser
@pytest.mark.e2e
@pytest.mark.slow
def test_real_call_in_chinese_through_local_stack(
    built: None, model_server: ModelServer, tmp_path: Path
) -> None:
    """A caller says 请给我一杯咖啡 with the neural Mandarin voice (the default bilingual recognition);
    both sides of the transcript must be Chinese."""
    from tests.support.voices import speak_natural

    said = "请给我一杯咖啡。"
    speech = speak_natural(said, "zh", tmp_path / "said.wav")
    wav = tmp_path / "caller-zh.wav"
    # 48 kHz for Chromium's fake microphone, with silence after so the agent answers before it loops
    subprocess.run(
        ["sox", str(speech), "-r", "48000", "-c", "1", "-b", "16", str(wav), "pad", "1", "10"], check=True
    )
    with _local_stack(model_server=model_server) as stack_env:
        out = _node_tests(
            ["e2e/call.test.mjs"],
            500,
            env={**stack_env, "STACK_LANG": "zh", "STACK_SAY": said, "STACK_WAV": str(wav)},
        )
    assert "agent reply:" in out, out[-3000:]
