"""Print the OpenAPI document: ``python -m functions.openapi > docs/openapi.json``."""

from __future__ import annotations

import json
import sys

from functions.app import openapi_document


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
