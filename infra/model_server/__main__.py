"""``python -m infra.model_server``: load the offline models once and serve them over the OpenAI API.

Prints one progress line per model while loading, then ``model server ready at http://HOST:PORT/v1``
(the line the run command and ``agent_worker call`` wait for). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from pydantic import ValidationError

from infra.model_server.settings import ModelServerSettings, config_error_line

READY_LINE = "model server ready at "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.model_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="default MODEL_SERVER_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default MODEL_SERVER_PORT or 8100; 0 = any free port")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    try:
        settings = ModelServerSettings(**overrides)
    except ValidationError as exc:
        print(config_error_line(exc), file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")

    import uvicorn

    from infra.model_server.app import create_app
    from infra.model_server.engines import Engines
    from infra.model_server.packaged import ModelFileError

    # Bind first: a taken port fails in a second, not after a minute of model loading.
    try:
        sock = socket.create_server((settings.host, settings.port))
    except OSError as exc:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    engines = Engines.from_settings(settings)
    try:
        engines.load()
    except ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        create_app(engines), log_level="warning", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    print(f"{READY_LINE}http://{settings.host}:{port}/v1", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        engines.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
