"""moto's ThreadedMotoServer on 127.0.0.1 (in-process, for the stack runner and pytest fixtures)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

# moto accepts any credentials; boto3 only needs some to sign requests.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class LocalAws:
    server: ThreadedMotoServer
    url: str

    def stop(self) -> None:
        self.server.stop()


def ensure_dummy_credentials(region: str = "us-east-1") -> None:
    for key, value in DUMMY_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", region)


def start_local_aws(port: int = 4566, host: str = "127.0.0.1") -> LocalAws:
    """Start moto's server; port 0 picks a free port. Returns the endpoint URL to use."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return LocalAws(server=server, url=f"http://{bound_host}:{bound_port}")
