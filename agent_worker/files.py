"""Files the worker's processes share (caches): written whole, then renamed into place."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(target: Path, data: bytes) -> None:
    """Another process reading ``target`` sees the old file, or none, or the whole new one: never a part.
    (The model server has its own copy in infra/model_server/packaged.py: a separate image.)"""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
