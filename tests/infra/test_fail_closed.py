"""Fail closed (issue 10 #5): outside loopback every component — the agent worker, the dev SFU, the
local model server — refuses to start, with one line naming the setting, when a secret is a development
default, empty or shorter than 32 bytes. Each is the real process started from its command line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = "s3cr3t-" + "x" * 40  # 47 bytes, not a development default
EXIT_CONFIG = 2


def run(
    module: str, args: list[str], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    # A clean environment and a directory without a .env: only what the test sets is configured.
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=base | env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def only_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


WORKER_PRODUCTION = {
    "LIVEKIT_URL": "wss://voicecall.livekit.cloud",
    "FUNCTIONS_API_URL": "https://api.example.com",
    "LIVEKIT_API_KEY": "APIproductionkey",
    "LIVEKIT_API_SECRET": STRONG,
    "SESSION_LOG_SECRET": STRONG,
    "LOCAL_MODEL_URL": "http://127.0.0.1:9/v1",  # nothing listens: start stops at the model check
    "LOCAL_MODEL_API_KEY": STRONG,
}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            {"LIVEKIT_API_KEY": "devkey", "LIVEKIT_API_SECRET": "secret"},
            "LIVEKIT_API_KEY: the development key",
        ),
        ({"LIVEKIT_API_SECRET": "secret"}, "LIVEKIT_API_SECRET: a development default"),
        ({"LIVEKIT_API_SECRET": ""}, "LIVEKIT_API_SECRET: empty"),
        ({"SESSION_LOG_SECRET": "dev-session-log-secret"}, "SESSION_LOG_SECRET: a development default"),
        (
            {"SESSION_LOG_SECRET": "only-31-bytes-long-0123456789ab"},
            "SESSION_LOG_SECRET: shorter than 32 bytes",
        ),
        ({"LOCAL_MODEL_API_KEY": "dev-model-server-key"}, "LOCAL_MODEL_API_KEY: a development default"),
    ],
)
def test_worker_refuses_to_start_against_production_with_a_weak_secret(
    override: dict[str, str], expected: str, tmp_path: Path
) -> None:
    proc = run("agent_worker", ["start"], WORKER_PRODUCTION | override, tmp_path)
    assert proc.returncode == EXIT_CONFIG, proc.stdout + proc.stderr
    line = only_line(proc)
    assert line.startswith("configuration error: ") and expected in line, line
    for value in override.values():
        if len(value) > 6:
            assert value not in line.replace(expected, ""), "the line must not show the secret"


def test_worker_with_the_readme_defaults_against_livekit_cloud_names_every_weak_secret(
    tmp_path: Path,
) -> None:
    proc = run("agent_worker", ["start"], {"LIVEKIT_URL": "wss://voicecall.livekit.cloud"}, tmp_path)
    assert proc.returncode == EXIT_CONFIG
    line = only_line(proc)
    for setting in ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "SESSION_LOG_SECRET", "LOCAL_MODEL_API_KEY"):
        assert f"{setting}: " in line, line


def test_worker_secret_file_is_checked_like_the_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "session-log-secret"
    secret_file.write_text("dev-session-log-secret\n")
    env = WORKER_PRODUCTION | {"SESSION_LOG_SECRET_FILE": str(secret_file)}
    line = only_line(proc := run("agent_worker", ["start"], env, tmp_path))
    assert proc.returncode == EXIT_CONFIG
    assert "SESSION_LOG_SECRET_FILE: a development default" in line, line


def test_worker_with_strong_secrets_gets_past_the_secret_check(tmp_path: Path) -> None:
    """The control: the same production configuration with strong secrets is refused only because no
    model server answers (the start-up check after the settings)."""
    proc = run("agent_worker", ["start"], WORKER_PRODUCTION, tmp_path)
    assert proc.returncode == EXIT_CONFIG
    line = only_line(proc)
    assert line.startswith("configuration error: LOCAL_MODEL_URL: no model server answers"), line


def test_worker_on_loopback_keeps_the_development_defaults(tmp_path: Path) -> None:
    proc = run("agent_worker", ["start"], {"LOCAL_MODEL_URL": "http://127.0.0.1:9/v1"}, tmp_path)
    assert "LOCAL_MODEL_URL: no model server answers" in only_line(proc)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--host", "0.0.0.0"], {}, "LIVEKIT_API_KEY: the development key"),
        (
            ["--host", "0.0.0.0", "--api-key", "APIprod"],
            {"LIVEKIT_API_SECRET": "short-secret"},
            "LIVEKIT_API_SECRET: shorter than 32 bytes",
        ),
        (
            ["--host", "0.0.0.0", "--api-key", "APIprod", "--api-secret", "secret"],
            {},
            "LIVEKIT_API_SECRET: a dev",
        ),
        (["--api-key", "APIprod", "--api-secret", ""], {}, "LIVEKIT_API_SECRET: empty"),
        # a loopback SFU whose webhooks (signed with the secret) go to another machine
        (["--webhook-url", "https://api.example.com/livekit/webhook"], {}, "LIVEKIT_API_SECRET: a dev"),
        ([], {"DEV_SFU_ICE_HOST": "192.0.2.10"}, "LIVEKIT_API_SECRET: a development default"),
    ],
)
def test_dev_sfu_refuses_a_weak_secret_outside_loopback(
    args: list[str], env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    proc = run("infra.dev_sfu", ["--port", "0", *args], env, tmp_path)
    assert proc.returncode == EXIT_CONFIG, proc.stdout + proc.stderr
    line = only_line(proc)
    assert line.startswith("configuration error: ") and expected in line, line


def test_dev_sfu_serves_a_strong_secret_on_any_address(tmp_path: Path) -> None:
    from infra.dev_sfu.runner import free_port

    port = free_port()
    env = base_env(tmp_path) | {"LIVEKIT_API_KEY": "APIprod", "LIVEKIT_API_SECRET": STRONG}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.dev_sfu",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--webhook-url",
            "",
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        import time
        import urllib.request

        deadline = time.monotonic() + 60
        while True:
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read() == b"OK"
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(10)


def base_env(tmp_path: Path) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}


@pytest.mark.parametrize(
    ("host", "key", "expected"),
    [
        ("0.0.0.0", None, "MODEL_SERVER_API_KEY: a development default"),
        ("0.0.0.0", "short-key", "MODEL_SERVER_API_KEY: shorter than 32 bytes"),
        ("127.0.0.1", "", "MODEL_SERVER_API_KEY: empty"),
    ],
)
def test_model_server_refuses_a_weak_key_outside_loopback(
    host: str, key: str | None, expected: str, tmp_path: Path
) -> None:
    env = {} if key is None else {"MODEL_SERVER_API_KEY": key}
    proc = run("infra.model_server", ["--host", host, "--port", "0"], env, tmp_path)
    assert proc.returncode == EXIT_CONFIG, proc.stdout + proc.stderr
    line = only_line(proc)
    assert line == f"configuration error: {expected}" or line.startswith(f"configuration error: {expected}")
