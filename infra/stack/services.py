"""The local stack's services: what runs, with which environment, and how each one says it is ready."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from infra.stack.settings import StackSettings
from infra.stack.supervisor import Service

ROOT = Path(__file__).resolve().parents[2]


def base_env(s: StackSettings) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            # serverless-offline runs `python3` from PATH: it must be the venv's.
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "LIVEKIT_URL": s.livekit_url,
            "LIVEKIT_API_KEY": s.api_key,
            "LIVEKIT_API_SECRET": s.api_secret,
            "AGENT_NAME": s.agent_name,
            "SESSION_LOG_SECRET": s.session_log_secret,
            "FUNCTIONS_API_URL": s.functions_url,
            "AWS_ENDPOINT_URL": s.aws_url,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "voicecall",
            # the operators' issuer (infra/local_oidc; Cognito or any OIDC provider in production)
            "OPERATOR_ISSUER": f"http://{s.host}:{s.oidc_port}",
            "OPERATOR_AUDIENCE": "voicecall-web",
            "OPERATOR_CLIENT_ID": "voicecall-web",
        }
    )
    return env


def local_aws(s: StackSettings) -> Service:
    return Service(
        "aws",
        [sys.executable, "-m", "infra.local_aws", "--host", s.host, "--port", str(s.aws_port)],
        base_env(s),
        ROOT,
        ready_log=r"local AWS at ",
    )


def functions(s: StackSettings) -> Service:
    osls = ROOT / "node_modules" / ".bin" / "osls"
    env = base_env(s)
    # The assistant editor's voice preview speaks through the local model server.
    env.update(
        {
            "PREVIEW_TTS_URL": s.model_server_url,
            "PREVIEW_TTS_API_KEY": s.model_server_key,
            "PREVIEW_TTS_MODEL": "local-tts",  # the model server's TTS_MODEL_ID
            "PREVIEW_TTS_VOICE": "auto",
        }
    )
    return Service(
        "functions",
        [
            str(osls),
            "offline",
            "start",
            "--stage",
            "local",
            "--region",
            "us-east-1",
            "--host",
            s.host,
            "--httpPort",
            str(s.functions_port),
            "--lambdaPort",
            str(s.functions_lambda_port),
        ],
        env,
        ROOT,
        health_url=f"{s.functions_url}/openapi.json",
    )


def sfu(s: StackSettings) -> Service:
    return Service(
        "sfu",
        [
            sys.executable,
            "-m",
            "infra.dev_sfu",
            "--host",
            s.host,
            "--port",
            str(s.sfu_port),
            "--api-key",
            s.api_key,
            "--api-secret",
            s.api_secret,
            "--webhook-url",
            f"{s.functions_url}/livekit/webhook",
        ],
        base_env(s),
        ROOT,
        health_url=f"http://{s.host}:{s.sfu_port}/",
    )


def model_server(s: StackSettings) -> Service:
    env = base_env(s)
    env["MODEL_SERVER_API_KEY"] = s.model_server_key
    return Service(
        "models",
        [sys.executable, "-m", "infra.model_server", "--host", s.host, "--port", str(s.model_server_port)],
        env,
        ROOT,
        ready_log=r"model server ready at ",
        health_url=f"http://{s.host}:{s.model_server_port}/health",
    )


def local_oidc(s: StackSettings) -> Service:
    """The operators' OpenID Connect issuer stand-in (Cognito in production): prints the dev operator's
    sign-in; the functions (serverless.yml local stage) and the web app default to it on port 9400."""
    from infra.local_oidc import LocalOidcSettings

    env = base_env(s)
    env.setdefault("LOCAL_OIDC_OPERATOR_PASSWORD", LocalOidcSettings().operator_password)
    return Service(
        "oidc",
        [
            sys.executable,
            "-m",
            "infra.local_oidc",
            "--host",
            s.host,
            "--port",
            str(s.oidc_port),
            "--redirect-uri",
            f"{s.web_url}/",
        ],
        env,
        ROOT,
        ready_log=r"local OIDC issuer ready at ",
        health_url=f"http://{s.host}:{s.oidc_port}/.well-known/openid-configuration",
    )


def worker(s: StackSettings) -> Service:
    env = base_env(s)
    env["LOCAL_MODEL_URL"] = s.model_server_url
    env["LOCAL_MODEL_API_KEY"] = s.model_server_key
    env.setdefault("TELEMETRY_SPOOL_DIR", str(ROOT / "var" / "telemetry-spool"))
    env["WORKER_HTTP_PORT"] = str(s.worker_http_port)
    # On one machine the worker shares the CPU with the SFU, the browser and the models themselves:
    # refusing calls above 70% load (the production default) would leave the caller waiting.
    env.setdefault("LOAD_THRESHOLD", "1.0")
    return Service(
        "agent", [sys.executable, "-m", "agent_worker", "start"], env, ROOT, ready_log=r"registered worker"
    )


def web(s: StackSettings) -> Service:
    env = base_env(s)
    # recordings play from the local S3 (presigned GETs): the page's CSP lets its origin in media-src
    env.update({"WEB_HOST": s.host, "WEB_PORT": str(s.web_port), "RECORDINGS_ORIGIN": s.aws_url})
    return Service(
        "web", ["node", str(ROOT / "web" / "scripts" / "serve.mjs")], env, ROOT, health_url=f"{s.web_url}/"
    )


def all_services(s: StackSettings) -> list[Service]:
    services = [local_aws(s), local_oidc(s), functions(s), sfu(s)]
    if s.with_worker:
        # the models load once for every call on this machine; the worker checks it at start
        services += [model_server(s), worker(s)]
    if s.with_web:
        services.append(web(s))
    return services
