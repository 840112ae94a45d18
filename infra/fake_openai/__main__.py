"""``python -m infra.fake_openai --port 8089``: run the OpenAI-protocol server on its own."""

from __future__ import annotations

import argparse
import asyncio

from infra.fake_openai.server import serve


async def _main(port: int) -> None:
    _fake, _runner, url = await serve(port=port)
    print(f"fake OpenAI API on {url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8089)
    asyncio.run(_main(parser.parse_args().port))
