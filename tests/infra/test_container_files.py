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
    workload: str


IMAGES = [
    Image("worker", ROOT / "infra/worker/Dockerfile", ROOT / "infra/worker/k8s.yaml", "agent_worker",
          WorkerSettings, "", "health", "StatefulSet"),
    Image("models", ROOT / "infra/model_server/Dockerfile", ROOT / "infra/model_server/k8s.yaml",
          "infra.model_server", ModelServerSettings, "MODEL_SERVER_", "http", "Deployment"),
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
    assert {image.workload, "ConfigMap", "Secret", "HorizontalPodAutoscaler"} <= kinds
    known = {image.env_prefix + name.upper() for name in image.settings.model_fields}
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            keys = doc.get("data", {}) | doc.get("stringData", {})
            unknown = set(keys) - known
            assert not unknown, f"{doc['kind']} sets variables the program does not read: {unknown}"
    deployment = next(d for d in docs if d["kind"] == image.workload)
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == image.workload
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["readinessProbe"]["httpGet"]["port"] == image.probe_port


def test_workers_reach_the_model_server_through_its_service() -> None:
    models = _docs(IMAGES[1])
    service = next(d for d in models if d["kind"] == "Service")
    port = service["spec"]["ports"][0]["port"]
    worker_config = next(d for d in _docs(IMAGES[0]) if d["kind"] == "ConfigMap")["data"]
    assert worker_config["LOCAL_MODEL_URL"] == f"http://{service['metadata']['name']}:{port}/v1"


def _worker_docs() -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    docs = _docs(IMAGES[0])
    workload = next(d for d in docs if d["kind"] == "StatefulSet")
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    secret = next(d for d in docs if d["kind"] == "Secret")["stringData"]
    return docs[0], workload, config, secret


def test_worker_spool_is_on_a_persistent_volume_claim() -> None:
    """Issue 10 #8: telemetry spooled during an outage must survive the pod (an emptyDir does not)."""
    _, workload, config, _ = _worker_docs()
    spec = workload["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert not [v for v in pod.get("volumes", []) if "emptyDir" in v], "no emptyDir volume"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {c["metadata"]["name"]: c["spec"] for c in spec["volumeClaimTemplates"]}
    assert "spool" in claims and "spool" in mounts
    assert claims["spool"]["accessModes"] == ["ReadWriteOnce"]
    assert claims["spool"]["resources"]["requests"]["storage"]
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Retain", "scaled-in spools are kept"
    # the program writes where the claim is mounted: the ConfigMap and the image agree with the mount
    assert config["TELEMETRY_SPOOL_DIR"] == mounts["spool"]
    dockerfile = IMAGES[0].dockerfile.read_text()
    assert f"TELEMETRY_SPOOL_DIR={mounts['spool']}" in dockerfile
    assert float(config["TELEMETRY_SPOOL_FLUSH_INTERVAL"]) <= 30, "the spool is re-sent while the pod runs"


def test_worker_statefulset_names_a_headless_service_and_probes_reach_it() -> None:
    service, workload, config, _ = _worker_docs()
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    assert workload["spec"]["serviceName"] == service["metadata"]["name"]
    assert service["spec"]["selector"] == workload["spec"]["template"]["metadata"]["labels"]
    # a probe from the kubelet comes to the pod's address, not to its loopback
    assert config["WORKER_HTTP_HOST"] == "0.0.0.0"


def test_worker_reads_a_rotatable_session_log_secret_file() -> None:
    _, workload, config, secret = _worker_docs()
    pod = workload["spec"]["template"]["spec"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "session-log-secret")
    assert "subPath" not in mount, "a subPath mount never sees a rotated secret"
    volume = next(v for v in pod["volumes"] if v["name"] == "session-log-secret")
    item = volume["secret"]["items"][0]
    assert item["key"] in secret
    assert config["SESSION_LOG_SECRET_FILE"] == f"{mount['mountPath']}/{item['path']}"


def test_worker_secret_placeholders_fail_closed() -> None:
    """The shipped placeholders are refused at start-up with a production configuration."""
    from pydantic import ValidationError

    from agent_worker.settings import config_error_line

    _, _, config, secret = _worker_docs()
    env = {k.lower(): v for k, v in (config | secret).items() if k != "SESSION_LOG_SECRET_FILE"}
    with pytest.raises(ValidationError) as exc:
        WorkerSettings(_env_file=None, **env)  # type: ignore[arg-type]
    line = config_error_line(exc.value)
    assert "LIVEKIT_API_SECRET: a development default" in line and "\n" not in line
