"""``python -m infra.local_aws``: moto on 127.0.0.1:4566 with serverless.yml's tables, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from infra.local_aws.server import start_local_aws
from infra.local_aws.settings import LocalAwsSettings
from infra.local_aws.tables import create_resources


def main(argv: list[str] | None = None) -> int:
    defaults = LocalAwsSettings()
    parser = argparse.ArgumentParser(prog="python -m infra.local_aws", description=__doc__)
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--stage", default=defaults.stage)
    parser.add_argument("--region", default=defaults.region)
    args = parser.parse_args(argv)

    local = start_local_aws(port=args.port, host=args.host)
    try:
        names = create_resources(local.url, stage=args.stage, region=args.region)
    except Exception:
        local.stop()
        raise
    print(f"local AWS at {local.url}; tables: {', '.join(names)}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    local.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
