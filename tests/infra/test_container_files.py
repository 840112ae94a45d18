"""The worker's and the model server's container and deployment files, checked statically (no Docker
engine here): hadolint, COPY sources that exist, non-root users, and k8s variables that are real settings."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from agent_worker.settings import WorkerSettings
from infra.model_server.settings import ModelServerSettings

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: Path
    k8s: Path
    module: str
    settings: type[BaseSettings]
    env_prefix: str
    probe_port: str


IMAGES = [
    Image("worker", ROOT / "infra/worker/Dockerfile", ROOT / "infra/worker/k8s.yaml", "agent_worker",
          WorkerSettings, "", "health"),
    Image("models", ROOT / "infra/model_server/Dockerfile", ROOT / "infra/model_server/k8s.yaml",
          "infra.model_server", ModelServerSettings, "MODEL_SERVER_", "http"),
]  # fmt: skip


@pytest.fixture(params=IMAGES, ids=lambda i: i.name)
def image(request: pytest.FixtureRequest) -> Image:
    return request.param  # type: ignore[no-any-return]


def test_dockerfile_passes_hadolint(image: Image) -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(image.dockerfile)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_copies_only_what_exists_and_runs_unprivileged(image: Image) -> None:
    text = image.dockerfile.read_text()
    for src in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"COPY source {part} does not exist"
    assert re.search(r"^USER\s+\d+", text, re.M), "the container must not run as root"
    assert "HEALTHCHECK" in text
    assert re.search(rf'^ENTRYPOINT \["python", "-m", "{image.module}"\]', text, re.M)
    assert "cmake" not in text and "build-essential" not in text, "no compile step: prebuilt wheels only"


def _docs(image: Image) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(image.k8s.read_text()))


def test_deployment_config_names_only_real_settings(image: Image) -> None:
    docs = _docs(image)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds
    known = {image.env_prefix + name.upper() for name in image.settings.model_fields}
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            keys = doc.get("data", {}) | doc.get("stringData", {})
            unknown = set(keys) - known
            assert not unknown, f"{doc['kind']} sets variables the program does not read: {unknown}"
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["port"] == image.probe_port


def test_workers_reach_the_model_server_through_its_service() -> None:
    models = _docs(IMAGES[1])
    service = next(d for d in models if d["kind"] == "Service")
    port = service["spec"]["ports"][0]["port"]
    worker_config = next(d for d in _docs(IMAGES[0]) if d["kind"] == "ConfigMap")["data"]
    assert worker_config["LOCAL_MODEL_URL"] == f"http://{service['metadata']['name']}:{port}/v1"
