"""`python -m infra.dev_sfu [--host H --port P --api-key K --api-secret S --webhook-url URL ...]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
from typing import Any

from pydantic import ValidationError

from .server import DevSfu
from .settings import DevSfuSettings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.dev_sfu", description=__doc__)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--api-key")
    parser.add_argument("--api-secret")
    parser.add_argument("--webhook-url", help='"" disables webhooks')
    parser.add_argument("--departure-timeout", type=float)
    parser.add_argument("--audio-relay", choices=["forward", "decode"], help="forward (default) or decode")
    parser.add_argument("--media-trace", help="file for per-packet audio timings (benchmarks)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    overrides: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is not None and k not in ("log_level",)
    }
    try:
        settings = DevSfuSettings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        print(f"configuration error: {problems}", file=sys.stderr)
        raise SystemExit(2) from None
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # aiortc/aioice are chatty at INFO.
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    asyncio.run(_serve(settings))


async def _serve(settings: DevSfuSettings) -> None:
    sfu = DevSfu(settings)
    await sfu.start()
    # Imported modules never die: keep them out of the full collections that would stall the relay.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sfu.stop()


if __name__ == "__main__":
    main()
