"""Item 5: the functions' speed.

- ``POST /token`` warm latency, in process: the Lambda handler called with API Gateway HTTP API (payload
  2.0) events, DynamoDB = moto's in-memory ``mock_aws`` (the handler's own cost), and again against the
  moto server over HTTP (what a local stack or a remote DynamoDB adds: a round trip per request).
- Cold import of each handler module: a fresh interpreter per sample, import timed inside it.
- Session-log ingestion throughput (``POST /sessions/{id}/events``, signed batches) against the local AWS
  endpoint: in process through the handler, and over HTTP through serverless-offline.
"""

from __future__ import annotations

import contextlib
import json
import os
import pkgutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from matplotlib.figure import Figure

from benchmarks.report import (
    BenchResult,
    Repeated,
    Table,
    fmt_ms,
    median_of,
    percentile,
    summarize,
)
from benchmarks.runner import RunOptions, progress, quiet_stdout

REPO_ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
HANDLER_PACKAGE = "functions.handlers"
SECRET_ENV = "SESSION_LOG_SECRET"


@dataclass(frozen=True)
class Plan:
    token_warmup: int
    token_calls: int  # per repeat
    repeats: int
    import_modules: int | None  # None = every handler
    import_samples: int
    batch_sizes: tuple[int, ...]
    events_per_run: int
    offline_token_calls: int
    offline_events: int


FULL = Plan(
    token_warmup=50,
    token_calls=300,
    repeats=5,
    import_modules=None,
    import_samples=7,
    batch_sizes=(20, 100),
    events_per_run=200,
    offline_token_calls=100,
    offline_events=200,
)
QUICK = Plan(
    token_warmup=3,
    token_calls=10,
    repeats=1,
    import_modules=2,
    import_samples=1,
    batch_sizes=(20,),
    events_per_run=40,
    offline_token_calls=3,
    offline_events=40,
)


from infra.local_aws.serving import serverless_offline  # noqa: E402
from tests.functions.lambda_events import FakeContext, http_event  # noqa: E402

# ---- API Gateway HTTP API (payload 2.0) events ----------------------------------------------------------


# The same API Gateway HTTP API (payload 2.0) events and Lambda context the function tests use.
BenchContext = FakeContext


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def call(handler: Handler, method: str, path: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    reply = handler(http_event(method, path, body, headers), BenchContext())
    if reply.get("statusCode") != 200:
        raise RuntimeError(f"{method} {path}: {reply.get('statusCode')} {reply.get('body')}")
    return reply


TOKEN_BODY = json.dumps({"name": "Bench Caller", "language": "en"}).encode()
JSON_HEADERS = {"content-type": "application/json"}


# ---- environment: mock_aws or the moto server ------------------------------------------------------------


def _base_env() -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_METRICS_NAMESPACE="voicecall-bench",
        POWERTOOLS_TRACE_DISABLED="1",
        # mock_aws has no endpoint URL, i.e. "real AWS" to the fail-closed rule: secrets as production's.
        LIVEKIT_API_KEY="APIbenchmark",
        LIVEKIT_API_SECRET="benchmark-livekit-secret-" + "x" * 16,
        SESSION_LOG_SECRET="benchmark-session-log-secret-" + "x" * 16,
        # Thousands of tokens from one client: measure issuance, not the abuse limits (a 429 is cheaper).
        TOKEN_REQUESTS_PER_IP="1000000",
        CALLS_PER_IP="1000000",
        REJOINS_PER_IDENTITY="1000000",
    )


def _reset_function_caches() -> None:
    """The functions cache settings and the DynamoDB handle per process (as in Lambda): drop them when
    the benchmark switches AWS endpoints."""
    from functions.settings import get_settings
    from functions.store.tables import dynamodb

    get_settings.cache_clear()
    dynamodb.cache_clear()


@contextlib.contextmanager
def in_memory_aws() -> Iterator[None]:
    """moto's mock_aws with serverless.yml's tables (created through moto's CloudFormation)."""
    import boto3
    from moto import mock_aws

    from infra.local_aws import local_resources, resolved_resources

    template = local_resources(resolved_resources("local", REGION))
    saved = os.environ.pop("AWS_ENDPOINT_URL", None)
    _base_env()
    try:
        with mock_aws():
            _reset_function_caches()
            boto3.client("cloudformation", region_name=REGION).create_stack(
                StackName="voicecall-bench-tables", TemplateBody=json.dumps(template)
            )
            yield
    finally:
        _reset_function_caches()
        if saved is not None:
            os.environ["AWS_ENDPOINT_URL"] = saved


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_tables(aws_url: str) -> None:
    """Empty tables: moto's transact_write_items deep-copies the whole table for every item of a
    transaction, so its cost grows with the table; every measured run starts from empty tables."""
    import boto3

    from infra.local_aws import create_resources

    client = boto3.client("dynamodb", endpoint_url=aws_url, region_name=REGION)
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    create_resources(aws_url, stage="local", region=REGION)
    _reset_function_caches()


@contextlib.contextmanager
def moto_server(log_path: Path) -> Iterator[str]:
    """``python -m infra.local_aws`` (start_local_aws + create_resources) in its own process, as the local
    stack runs it: moto's work and memory stay out of the process whose handler is timed."""
    _base_env()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "infra.local_aws", "--port", str(port)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        deadline = time.monotonic() + 120
        while "local AWS at" not in log_path.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("local AWS did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.2)
        _reset_function_caches()
        yield url
    finally:
        _reset_function_caches()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if saved is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = saved


# ---- token latency ---------------------------------------------------------------------------------------


@dataclass
class LatencyRuns:
    label: str
    runs: list[list[float]]  # seconds per call, one list per repeat

    @property
    def p50(self) -> Repeated:
        return median_of([percentile(r, 50) for r in self.runs])

    @property
    def p99(self) -> Repeated:
        return median_of([percentile(r, 99) for r in self.runs])

    @property
    def calls(self) -> int:
        return sum(len(r) for r in self.runs)


def token_latency(label: str, plan: Plan) -> LatencyRuns:
    from functions.handlers import token

    def once() -> float:
        t = time.perf_counter()
        call(token.handler, "POST", "/token", TOKEN_BODY, JSON_HEADERS)
        return time.perf_counter() - t

    with quiet_stdout():
        for _ in range(plan.token_warmup):
            once()
        runs = [[once() for _ in range(plan.token_calls)] for _ in range(plan.repeats)]
    return LatencyRuns(label, runs)


# ---- cold imports ----------------------------------------------------------------------------------------

_IMPORT_PROBE = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def handler_modules() -> list[str]:
    package = REPO_ROOT / "functions" / "handlers"
    return [f"{HANDLER_PACKAGE}.{m.name}" for m in pkgutil.iter_modules([str(package)])]


def import_seconds(module: str) -> float:
    # No .pyc written for our own modules: like a Lambda zip without them (/var/task is read-only).
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "POWERTOOLS_TRACE_DISABLED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE.format(module=module)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def cold_imports(plan: Plan) -> dict[str, list[float]]:
    modules = handler_modules()[: plan.import_modules]
    # One untimed import first: every timed sample then sees a warm page cache.
    import_seconds(modules[0])
    return {m: [import_seconds(m) for _ in range(plan.import_samples)] for m in modules}


# ---- session-log ingestion -------------------------------------------------------------------------------


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def call_events(session_id: str, count: int, start_turn: int) -> list[dict[str, Any]]:
    """What a call sends: per turn a user line, an agent line and the turn's metrics."""
    events: list[dict[str, Any]] = []
    ts = datetime.now(UTC)
    turn = start_turn
    while len(events) < count:
        turn += 1
        ts += timedelta(seconds=3)
        kind = len(events) % 3
        base = {"event_id": uuid.uuid4().hex, "ts": _iso(ts)}
        if kind == 0:
            events.append(
                {**base, "type": "transcript", "role": "user", "text": "What time is it?", "turn": turn}
            )
        elif kind == 1:
            events.append(
                {**base, "type": "transcript", "role": "agent", "text": "It is ten past three.", "turn": turn}
            )
        else:
            events.append(
                {
                    **base,
                    "type": "turn_metrics",
                    "turn": turn,
                    "end_of_utterance_delay": 0.5,
                    "transcription_delay": 0.21,
                    "llm_ttft": 0.33,
                    "tts_ttfb": 0.12,
                    "voice_to_voice": 1.05,
                }
            )
    return events


def open_session(aws_url: str, session_id: str) -> None:
    """The session row POST /token would have written: events are refused for any other session."""
    import boto3

    from functions.settings import get_settings
    from functions.store.tables import day_of, iso

    now = datetime.now(UTC)
    table = boto3.resource("dynamodb", endpoint_url=aws_url, region_name=REGION).Table(
        get_settings().sessions_table
    )
    table.put_item(Item={"session_id": session_id, "created_at": iso(now), "start_day": day_of(now)})


def signed_batches(
    batch_size: int, total_events: int, secret: str, aws_url: str
) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """(path, body, headers), signed at generation time (the replay window is minutes); each session's
    row is created as the batches for it are."""
    from functions.models.signing import signed_headers

    batches = max(1, total_events // batch_size)
    # Ten batches per session, as a call of ~70 turns would send with the worker's batch size.
    session_id = ""
    for i in range(batches):
        if i % 10 == 0:
            session_id = f"call-{uuid.uuid4().hex[:12]}"
            open_session(aws_url, session_id)
        body = json.dumps({"events": call_events(session_id, batch_size, i * batch_size)}).encode()
        path = f"/sessions/{session_id}/events"
        yield path, body, {**signed_headers(secret, body, method="POST", path=path), **JSON_HEADERS}


@dataclass
class Throughput:
    label: str
    batch_size: int
    events_per_s: Repeated
    batch_latency: list[float]  # seconds per batch, all repeats
    events: int  # per repeat


def ingest_in_process(aws_url: str, batch_size: int, plan: Plan) -> Throughput:
    from functions.handlers import session_events
    from functions.settings import get_settings

    secret = get_settings().session_log_secret
    rates: list[float] = []
    latencies: list[float] = []
    with quiet_stdout():
        # Warm: first request builds the boto3 resource and validation models.
        for path, body, headers in signed_batches(batch_size, batch_size, secret, aws_url):
            call(session_events.handler, "POST", path, body, headers)
        for _ in range(plan.repeats):
            fresh_tables(aws_url)
            batches = list(signed_batches(batch_size, plan.events_per_run, secret, aws_url))
            start = time.perf_counter()
            for path, body, headers in batches:
                t = time.perf_counter()
                reply = call(session_events.handler, "POST", path, body, headers)
                latencies.append(time.perf_counter() - t)
                if json.loads(reply["body"])["stored"] != batch_size:
                    raise RuntimeError(f"batch not stored: {reply['body']}")
            rates.append(len(batches) * batch_size / (time.perf_counter() - start))
    return Throughput(
        "in process (handler → moto server)",
        batch_size,
        median_of(rates),
        latencies,
        len(batches) * batch_size,
    )


def offline_token_latency(client: httpx.Client, plan: Plan) -> LatencyRuns:
    def once() -> float:
        t = time.perf_counter()
        r = client.post("/token", content=TOKEN_BODY, headers=JSON_HEADERS)
        elapsed = time.perf_counter() - t
        r.raise_for_status()
        return elapsed

    for _ in range(5):  # the first requests start the function's Python process
        once()
    runs = [[once() for _ in range(plan.offline_token_calls)] for _ in range(plan.repeats)]
    return LatencyRuns("serverless-offline over HTTP (→ moto server)", runs)


def ingest_offline(
    client: httpx.Client, aws_url: str, batch_size: int, plan: Plan, secret: str
) -> Throughput:
    def post(path: str, body: bytes, headers: dict[str, str]) -> None:
        r = client.post(path, content=body, headers=headers)
        if r.status_code != 200 or r.json()["stored"] != batch_size:
            raise RuntimeError(f"{path}: {r.status_code} {r.text}")

    for batch in signed_batches(batch_size, batch_size * 2, secret, aws_url):
        post(*batch)
    rates: list[float] = []
    latencies: list[float] = []
    for _ in range(plan.repeats):
        fresh_tables(aws_url)
        batches = list(signed_batches(batch_size, plan.offline_events, secret, aws_url))
        start = time.perf_counter()
        for batch in batches:
            t = time.perf_counter()
            post(*batch)
            latencies.append(time.perf_counter() - t)
        rates.append(len(batches) * batch_size / (time.perf_counter() - start))
    return Throughput(
        "serverless-offline over HTTP (→ moto server)",
        batch_size,
        median_of(rates),
        latencies,
        len(batches) * batch_size,
    )


# ---- the benchmark ---------------------------------------------------------------------------------------


def run(options: RunOptions) -> BenchResult:
    plan = QUICK if options.quick else FULL
    # The local stack's LIVEKIT_API_SECRET ("secret") is short; PyJWT warns once per process.
    warnings.filterwarnings("ignore", message="The HMAC key is")
    progress("token issuance under mock_aws")
    with in_memory_aws():
        token_mock = token_latency("in process, DynamoDB = mock_aws (in memory)", plan)
    progress("cold imports")
    imports = cold_imports(plan)
    with moto_server(options.work_dir / "local-aws.log") as aws_url:
        progress(f"token issuance against the moto server at {aws_url}")
        token_server = token_latency("in process, DynamoDB = moto server over HTTP", plan)
        fresh_tables(aws_url)
        progress("ingestion in process")
        ingest = [ingest_in_process(aws_url, size, plan) for size in plan.batch_sizes]
        from functions.settings import get_settings

        secret = get_settings().session_log_secret
        with (
            serverless_offline(aws_url, options.work_dir / "serverless-offline.log") as url,
            httpx.Client(base_url=url, timeout=30) as client,
        ):
            progress(f"serverless-offline at {url}: token issuance, ingestion")
            token_offline = offline_token_latency(client, plan)
            ingest += [ingest_offline(client, aws_url, size, plan, secret) for size in plan.batch_sizes]
    return build_result(plan, options.quick, [token_mock, token_server, token_offline], imports, ingest)


def build_result(
    plan: Plan,
    quick: bool,
    tokens: list[LatencyRuns],
    imports: dict[str, list[float]],
    ingest: list[Throughput],
) -> BenchResult:
    token_table = Table(
        ["path", "p50", "p99", "p50 runs (min–max)", "calls"],
        [
            [
                t.label,
                fmt_ms(t.p50.value, 2),
                fmt_ms(t.p99.value, 2),
                f"{fmt_ms(min(t.p50.runs), 2)} – {fmt_ms(max(t.p50.runs), 2)}",
                f"{t.calls} ({len(t.runs)} × {len(t.runs[0])})",
            ]
            for t in tokens
        ],
        caption="**POST /token, warm** (median over repeats of each repeat's percentile)",
    )
    import_table = Table(
        ["handler module", "median", "min", "max", "samples"],
        [
            [m, fmt_ms(statistics.median(v), 0), fmt_ms(min(v), 0), fmt_ms(max(v), 0), str(len(v))]
            for m, v in imports.items()
        ],
        caption="**Cold import** (fresh interpreter per sample; import only, interpreter start excluded)",
    )
    ingest_table = Table(
        [
            "path",
            "batch size",
            "events/s (median)",
            "runs (min–max)",
            "batch p50",
            "batch p95",
            "events per run",
        ],
        [
            [
                i.label,
                str(i.batch_size),
                f"{i.events_per_s.value:,.0f}",
                f"{min(i.events_per_s.runs):,.0f} – {max(i.events_per_s.runs):,.0f}",
                fmt_ms(percentile(i.batch_latency, 50), 1),
                fmt_ms(percentile(i.batch_latency, 95), 1),
                f"{i.events} × {len(i.events_per_s.runs)} runs",
            ]
            for i in ingest
        ],
        caption="**Session-log ingestion** (signed batches, sequential, one client)",
    )
    mock, server, offline = tokens
    headline = [
        f"token warm (mock_aws, in process): p50 {fmt_ms(mock.p50.value, 2)}, "
        f"p99 {fmt_ms(mock.p99.value, 2)}",
        f"token warm (moto server, in process): p50 {fmt_ms(server.p50.value, 2)}, "
        f"p99 {fmt_ms(server.p99.value, 2)}; ratio to mock_aws p50 {server.p50.value / mock.p50.value:.2f}",
        f"token over serverless-offline: p50 {fmt_ms(offline.p50.value, 1)}, "
        f"p99 {fmt_ms(offline.p99.value, 1)}; "
        f"ratio to in-process (moto server) p50 {offline.p50.value / server.p50.value:.1f}",
        *[f"cold import {m}: median {fmt_ms(statistics.median(v), 0)}" for m, v in imports.items()],
        *[f"ingestion {i.label}, batch {i.batch_size}: {i.events_per_s.value:,.0f} events/s" for i in ingest],
    ]
    slowest = max(imports.items(), key=lambda kv: statistics.median(kv[1]))
    method = f"""\
What runs: the real Lambda handlers of `functions/handlers/` with API Gateway HTTP API (payload 2.0)
events built in `benchmarks/functions_bench.py`; Powertools logging and EMF metrics on (written to
/dev/null), tracing off. Percentiles: linear interpolation; each figure is the median of
{plan.repeats} repeated runs measured in one process, ratios are taken within this run.

- *Token*: {plan.token_warmup} warm-up calls, then {plan.repeats} × {plan.token_calls} calls through
  `functions.handlers.token.handler`; DynamoDB is moto's `mock_aws` (in memory: the handler's own cost),
  then the moto server of `infra.local_aws` over HTTP (a real round trip per DynamoDB call), then the
  same route served by serverless-offline (`infra/local_aws/serve_functions.sh`) over HTTP, with
  {plan.repeats} × {plan.offline_token_calls} requests.
- *Cold import*: `python -c "import time; t=time.perf_counter(); import MODULE; ..."` in a fresh
  interpreter, {plan.import_samples} samples per module after one untimed import (warm page cache);
  installed packages load from their install-time `.pyc`, the repo's own modules are compiled at import
  (`PYTHONDONTWRITEBYTECODE=1`, as from a Lambda zip without `.pyc`); interpreter start-up excluded.
- *Ingestion*: signed batches (`functions/models/signing.py`) of transcript lines and turn metrics, ten
  batches per session, sent one after another; every batch is checked to be stored in full. Each run
  starts from empty tables and stores {plan.events_per_run} events (about one 65-turn call): moto's
  `transact_write_items` deep-copies the whole table once per item of a transaction, so against moto a
  batch costs more as the table grows — these are figures of the local stack, not of DynamoDB, whose
  transaction cost does not depend on table size. moto runs in its own process
  (`python -m infra.local_aws`), as in the local stack.
"""
    fastest = min(imports.items(), key=lambda kv: statistics.median(kv[1]))
    by_size = {i.batch_size: i.events_per_s.value for i in ingest if i.label.startswith("in process")}
    conclusion = (
        f"Reading: handler imports range from `{fastest[0]}` ({fmt_ms(statistics.median(fastest[1]), 0)}) "
        f"to `{slowest[0]}` ({fmt_ms(statistics.median(slowest[1]), 0)}), paid once per Lambda cold start "
        "on top of the runtime's own start. Warm token issuance: moto server ÷ mock_aws p50 = "
        f"{server.p50.value / mock.p50.value:.2f} (the DynamoDB round trip's share), serverless-offline ÷ "
        f"in process = {offline.p50.value / server.p50.value:.2f} (HTTP and the offline runner). "
        + (
            f"Ingestion in process: batch {max(by_size)} ÷ batch {min(by_size)} = "
            f"{by_size[max(by_size)] / by_size[min(by_size)]:.2f} in events/s (one DynamoDB transaction "
            "per batch)."
            if len(by_size) > 1
            else ""
        )
    )

    def plot(fig: Figure) -> None:
        ax1, ax2 = fig.subplots(1, 2)
        names = [m.rsplit(".", 1)[-1] for m in imports]
        medians = [statistics.median(v) * 1000 for v in imports.values()]
        lows = [m - min(v) * 1000 for m, v in zip(medians, imports.values(), strict=True)]
        highs = [max(v) * 1000 - m for m, v in zip(medians, imports.values(), strict=True)]
        ax1.barh(names, medians, xerr=[lows, highs], color="#4c72b0")
        ax1.set_xlabel("cold import, ms (median, min–max)")
        ax1.set_title("Handler cold import")
        for t in tokens:
            values = sorted(v * 1000 for r in t.runs for v in r)
            ax2.plot(
                values, [(i + 1) / len(values) for i in range(len(values))], label=t.label.split(",")[-1]
            )
        ax2.set_xscale("log")
        ax2.set_xlabel("POST /token latency, ms (log)")
        ax2.set_ylabel("fraction of calls")
        ax2.set_title("Warm token issuance (CDF)")
        ax2.legend(fontsize=7, loc="lower right")

    raw = {
        "plan": plan.__dict__,
        "token": {
            t.label: {"runs_s": t.runs, **summarize([v for r in t.runs for v in r]).as_dict()} for t in tokens
        },
        "cold_import_s": imports,
        "ingestion": [
            {
                "label": i.label,
                "batch_size": i.batch_size,
                "events_per_s_runs": list(i.events_per_s.runs),
                "events_per_s": i.events_per_s.value,
                "batch_latency_s": i.batch_latency,
            }
            for i in ingest
        ],
    }
    return BenchResult(
        name="functions",
        title="Functions: token issuance, cold imports, session-log ingestion (item 5)",
        method=method,
        tables=[token_table, import_table, ingest_table],
        headline=headline,
        conclusion=conclusion,
        plot=plot,
        raw=raw,
        quick=quick,
    )
