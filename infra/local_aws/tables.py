"""Create serverless.yml's DynamoDB tables in a (moto) AWS endpoint through CloudFormation.

Two sources for the same definitions:
- ``packaged_template(dir)``: ``.serverless/cloudformation-template-update-stack.json`` written by
  ``osls package`` (what CI lints and deploys);
- ``resolved_resources(stage)``: ``osls print`` of serverless.yml's resources with variables resolved
  for a stage — no Lambda packaging, a few seconds; cached per serverless.yml content.
Only ``AWS::DynamoDB::Table`` resources are sent to CloudFormation (the rest needs real S3 artifacts).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3

from infra.local_aws.server import ensure_dummy_credentials
from infra.local_aws.settings import REPO_ROOT

PACKAGED_TEMPLATE = REPO_ROOT / ".serverless" / "cloudformation-template-update-stack.json"
# Inside node_modules: already ignored by git, and thrown away with the tooling it depends on.
_CACHE_DIR = REPO_ROOT / "node_modules" / ".cache" / "voicecall-tables"


def ensure_node_modules(repo_root: Path = REPO_ROOT) -> None:
    """Install the pinned Serverless tooling (package-lock.json) if it is missing."""
    if (repo_root / "node_modules" / ".bin" / "osls").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is required to resolve serverless.yml (apt-get install nodejs npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=repo_root, check=True, timeout=600)


def osls(args: list[str], repo_root: Path = REPO_ROOT, timeout: float = 600) -> str:
    ensure_node_modules(repo_root)
    result = subprocess.run(
        [str(repo_root / "node_modules" / ".bin" / "osls"), *args],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"osls {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def packaged_template(path: Path = PACKAGED_TEMPLATE) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(path.read_text())
    return template


def resolved_resources(
    stage: str = "local", region: str = "us-east-1", repo_root: Path = REPO_ROOT
) -> dict[str, Any]:
    """serverless.yml's ``resources`` for a stage, variables resolved by the framework itself."""
    config = (repo_root / "serverless.yml").read_bytes()
    key = hashlib.sha256(config + f"{stage}/{region}".encode()).hexdigest()[:16]
    cache = _CACHE_DIR / f"resources-{stage}-{region}-{key}.json"
    if cache.exists():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    out = osls(
        ["print", "--stage", stage, "--region", region, "--format", "json", "--path", "resources"], repo_root
    )
    resources: dict[str, Any] = json.loads(out[out.index("{") :])
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(resources))
    return resources


LOCAL_TYPES = ("AWS::DynamoDB::Table", "AWS::S3::Bucket")


def local_resources(template: dict[str, Any]) -> dict[str, Any]:
    """A template with only the DynamoDB tables and S3 buckets (moto cannot create Lambdas without their
    S3 code)."""
    kept = {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") in LOCAL_TYPES
        # the framework's own deployment bucket (in a packaged template) is named by CloudFormation
        and (resource["Type"] != "AWS::S3::Bucket" or "BucketName" in resource.get("Properties", {}))
    }
    if not any(r["Type"] == "AWS::DynamoDB::Table" for r in kept.values()):
        raise ValueError("no AWS::DynamoDB::Table in the template")
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": kept}


def create_resources(
    endpoint_url: str,
    stage: str = "local",
    region: str = "us-east-1",
    template: dict[str, Any] | None = None,
    timeout_s: float = 30,
) -> list[str]:
    """Create (or keep, if already there) the tables and buckets; returns the tables' names."""
    ensure_dummy_credentials(region)
    local_template = local_resources(template or resolved_resources(stage, region))
    resources = local_template["Resources"].values()
    names = [r["Properties"]["TableName"] for r in resources if r["Type"] == "AWS::DynamoDB::Table"]
    buckets = [r["Properties"]["BucketName"] for r in resources if r["Type"] == "AWS::S3::Bucket"]
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint_url, region_name=region)
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
    existing = set(dynamodb.list_tables()["TableNames"])
    existing_buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if set(names) <= existing and set(buckets) <= existing_buckets:
        return names
    cfn = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name=region)
    stack = f"{names[0].rsplit('-', 1)[0]}-local-{int(time.time() * 1000)}"
    # only what is missing (a test may have dropped the tables and kept the bucket)
    missing = {
        key: r
        for key, r in local_template["Resources"].items()
        if r["Properties"].get("TableName", r["Properties"].get("BucketName"))
        not in existing | existing_buckets
    }
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps({**local_template, "Resources": missing}))
    deadline = time.monotonic() + timeout_s
    while True:
        status = cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if status.endswith("FAILED") or "ROLLBACK" in status or time.monotonic() > deadline:
            raise RuntimeError(f"stack {stack}: {status}")
        time.sleep(0.1)
    waiter = dynamodb.get_waiter("table_exists")
    for resource in missing.values():
        if resource["Type"] == "AWS::S3::Bucket":
            _apply_lifecycle(s3, resource["Properties"])
            continue
        props = resource["Properties"]
        waiter.wait(TableName=props["TableName"], WaiterConfig={"Delay": 1, "MaxAttempts": 10})
        ttl = props.get("TimeToLiveSpecification")
        if ttl:  # moto's CloudFormation ignores this property; apply it like AWS would
            dynamodb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
    return names


def _apply_lifecycle(s3: Any, props: dict[str, Any]) -> None:
    """moto's CloudFormation ignores a bucket's LifecycleConfiguration: apply it like AWS would."""
    rules = (props.get("LifecycleConfiguration") or {}).get("Rules") or []
    if not rules:
        return
    converted = []
    for rule in rules:
        out: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"]}
        out["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "ExpirationInDays" in rule:
            out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "AbortIncompleteMultipartUpload" in rule:
            days = int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        converted.append(out)
    s3.put_bucket_lifecycle_configuration(
        Bucket=props["BucketName"], LifecycleConfiguration={"Rules": converted}
    )
