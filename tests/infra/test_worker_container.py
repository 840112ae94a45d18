"""The worker's container and deployment files, checked statically (no Docker engine here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from agent_worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "infra" / "worker" / "Dockerfile"


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    proc = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_copies_only_what_exists_and_runs_unprivileged() -> None:
    text = DOCKERFILE.read_text()
    for src in re.findall(r"^COPY\s+(?!--from)(.+?)\s+\S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), f"COPY source {part} does not exist"
    assert re.search(r"^USER\s+\d+", text, re.M), "the worker must not run as root"
    assert "HEALTHCHECK" in text
    assert re.search(r'^ENTRYPOINT \["python", "-m", "agent_worker"\]', text, re.M)


def test_deployment_config_names_only_real_settings() -> None:
    docs = list(yaml.safe_load_all((ROOT / "infra" / "worker" / "k8s.yaml").read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds
    known = {name.upper() for name in WorkerSettings.model_fields}
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            keys = doc.get("data", {}) | doc.get("stringData", {})
            unknown = set(keys) - known
            assert not unknown, f"{doc['kind']} sets variables the worker does not read: {unknown}"
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["port"] == "health"
