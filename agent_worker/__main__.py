"""Command line: ``python -m agent_worker dev|start|call|flush-spool``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from pydantic import ValidationError

from agent_worker.settings import WorkerSettings, config_error_line, get_settings

EXIT_CONFIG = 2
EXIT_INPUT = 3
EXIT_NO_SPEECH = 4


def _load_settings() -> WorkerSettings:
    try:
        return get_settings()
    except ValidationError as exc:
        print(config_error_line(exc), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _call(argv: list[str]) -> int:
    from agent_worker.audio_files import AudioFileError
    from agent_worker.local_server import LocalServerError
    from agent_worker.wav_call import run_call

    parser = argparse.ArgumentParser(
        prog="python -m agent_worker call", description="One voice turn from a WAV file, no room needed."
    )
    parser.add_argument("--in", dest="in_path", type=Path, required=True, help="the caller's speech")
    parser.add_argument("--out", dest="out_path", type=Path, required=True, help="the agent's reply")
    parser.add_argument("--lang", choices=["zh", "en"], default=None)
    args = parser.parse_args(argv)
    settings = _load_settings()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The file sink has no pause and no request ids; livekit's notices about that are noise here.
    logging.getLogger("livekit.agents").setLevel(logging.ERROR)

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        with _model_server(settings, progress) as ready:
            result = asyncio.run(
                run_call(
                    ready,
                    args.in_path,
                    args.out_path,
                    args.lang or ready.default_language,
                    printer=lambda line: print(line, flush=True),
                )
            )
    except AudioFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except LocalServerError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if not result.heard_speech:
        print("no speech heard", flush=True)
        return EXIT_NO_SPEECH
    return 0


@contextlib.contextmanager
def _model_server(settings: WorkerSettings, progress: Callable[[str], None]) -> Iterator[WorkerSettings]:
    """The local model server when a stage uses it (``call`` starts one if none runs)."""
    from agent_worker.local_server import local_server_for

    if not settings.uses_local_server():
        yield settings
        return
    with local_server_for(settings, progress) as ready:
        yield ready


def _require_local_server(settings: WorkerSettings) -> None:
    from agent_worker.local_server import check_local_server

    if settings.uses_local_server() and (problem := check_local_server(settings)) is not None:
        print(f"configuration error: {problem}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def _flush_spool() -> int:
    from agent_worker.room_entry import session_log_sender
    from agent_worker.telemetry import Spool, resend_spooled

    settings = _load_settings()
    sender = session_log_sender(settings)
    if sender is None:
        print("FUNCTIONS_API_URL is not set: nowhere to send", file=sys.stderr)
        return EXIT_CONFIG
    spool = Spool(settings.telemetry_spool_dir)

    async def run() -> int:
        try:
            return await resend_spooled(sender, spool)
        finally:
            await sender.aclose()

    delivered = asyncio.run(run())
    print(
        f"delivered {delivered} spooled events; {spool.pending_count()} still spooled, "
        f"{spool.dead_letter_count()} dead letters in {spool.dir / 'rejected.jsonl'}"
    )
    return 0


def main() -> int:
    argv = sys.argv[1:]
    if argv and argv[0] == "call":
        return _call(argv[1:])
    if argv and argv[0] == "flush-spool":
        return _flush_spool()
    settings = _load_settings()
    if argv and argv[0] in ("start", "dev", "connect", "console"):
        _require_local_server(settings)
    from livekit.agents import cli

    from agent_worker.room_entry import build_server

    cli.run_app(build_server(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
