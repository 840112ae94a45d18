"""An optional per-packet log of relayed audio, for measuring the SFU's own share of the transit.

One line per audio packet that arrives (``in``) and per packet handed to a subscriber's sender
(``out``), stamped with ``time.monotonic_ns()``: CLOCK_MONOTONIC is one clock for every process on
the machine, so a benchmark can put these next to its publisher's and subscriber's own times.
Lines are buffered and the file is closed when the SFU stops; writing costs a few microseconds a
packet, and nothing is written unless a trace file is configured.

    in  TRACK_SID KEY LEVEL T_NS        LEVEL: RFC 6464 dBov attenuation, "-" when absent
    out TRACK_SID SUBSCRIBER KEY T_NS   KEY: RTP timestamp counted from the track's first packet
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO


class MediaTrace:
    def __init__(self, path: Path) -> None:
        self._file: TextIO | None = path.open("w", encoding="ascii")

    def packet_in(self, track_sid: str, key: int, level: int | None) -> None:
        if self._file is not None:
            lvl = "-" if level is None else str(level)
            self._file.write(f"in {track_sid} {key} {lvl} {time.monotonic_ns()}\n")

    def packet_out(self, track_sid: str, subscriber: str, key: int) -> None:
        if self._file is not None:
            self._file.write(f"out {track_sid} {subscriber} {key} {time.monotonic_ns()}\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
