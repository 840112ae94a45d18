"""``python -m infra.local_oidc --redirect-uri http://127.0.0.1:5173/``: the local operator issuer
(oidc-provider, node) on 127.0.0.1:9400 until Ctrl-C. The seeded operator's password is printed."""

from __future__ import annotations

import argparse
import os
import sys

from infra.local_oidc.command import ensure_node_modules, node_command
from infra.local_oidc.settings import LocalOidcSettings


def main(argv: list[str] | None = None) -> int:
    defaults = LocalOidcSettings()
    parser = argparse.ArgumentParser(prog="python -m infra.local_oidc", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--redirect-uri", action="append", required=True, help="the web app's URL (repeat)")
    parser.add_argument("--client", action="append", default=[], help="another client id (repeat)")
    args = parser.parse_args(argv)
    settings = defaults.model_copy(update={"host": args.host, "port": args.port})
    ensure_node_modules()
    env = {**os.environ, "LOCAL_OIDC_OPERATOR_PASSWORD": settings.operator_password}
    cmd = node_command(settings, args.redirect_uri, args.client)
    os.execve(cmd[0], cmd, env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
