from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # `infra` is a top-level package of the repo, not installed
    sys.path.insert(0, str(_ROOT))

from infra.dev_sfu import DevSfu, run_dev_sfu  # noqa: E402

logging.getLogger("dev_sfu").setLevel(logging.DEBUG)


@pytest.fixture
async def sfu() -> AsyncIterator[DevSfu]:
    async with run_dev_sfu(port=0) as server:
        yield server
