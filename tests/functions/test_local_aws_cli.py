"""`python -m infra.local_aws`: the stack runner's local AWS (moto + serverless.yml's tables)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]


def test_cli_serves_the_tables_and_stops_on_sigterm() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.local_aws", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith(f"local AWS at http://127.0.0.1:{port}"), line
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert set(client.list_tables()["TableNames"]) == {
            "voicecall-local-sessions",
            "voicecall-local-session-events",
            "voicecall-local-idempotency",
            "voicecall-local-rate-limits",
            "voicecall-local-assistants",
        }
        ttl = client.describe_time_to_live(TableName="voicecall-local-sessions")["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
