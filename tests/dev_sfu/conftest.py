from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from infra.dev_sfu import DevSfu, run_dev_sfu

logging.getLogger("dev_sfu").setLevel(logging.DEBUG)


@pytest.fixture
async def sfu() -> AsyncIterator[DevSfu]:
    async with run_dev_sfu(port=0) as server:
        yield server
