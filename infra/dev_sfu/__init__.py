"""LiveKit-protocol-compatible development SFU (aiortc). A local stand-in, never for production."""

from .runner import dev_sfu_process, run_dev_sfu
from .server import DevSfu
from .settings import DevSfuSettings

__all__ = ["DevSfu", "DevSfuSettings", "dev_sfu_process", "run_dev_sfu"]
