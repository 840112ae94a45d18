"""One-way audio transit through the dev SFU, in parts, by audio relay mode and number of rooms.

Each room has two Python livekit rtc participants in this process: a publisher that hands 10 ms
frames to its ``AudioSource`` (a 20 ms queue) paced by the monotonic clock, as tests/support/caller.py
does, with a 200 ms tone burst every 410 ms (600-2100 Hz, the frequency naming the burst in a cycle of
six), and a subscriber reading the track with an ``AudioStream``. The dev SFU is a subprocess
(``dev_sfu_process``) writing its media trace: the arrival and departure time of every audio packet.
All times are CLOCK_MONOTONIC, one clock for every process on the machine, so a burst is followed
from the publisher through the SFU to the subscriber:

- **sent**: the publisher calls ``capture_frame`` with the burst's first frame;
- **SFU in**: the first loud packet of the burst (RFC 6464 audio level) reaches the SFU's receiver;
- **SFU out**: the packet with that timestamp is handed to the subscriber's sender;
- **heard**: the subscriber's SDK delivers the frame holding the first sample above a quarter of the
  tone's amplitude after ≥ 100 ms below it, with the burst's frequency; the sample's offset in the
  frame is added.

Relay modes (``--audio-relay``): ``decode`` (aiortc decodes, the relay re-encodes once per track) and
``forward`` (the publisher's Opus packets are sent on as they arrive), run alternately at each level.
"""

from __future__ import annotations

import asyncio
import bisect
import gc
import itertools
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from benchmarks.report import BenchResult, Table, fmt_ms, percentile
from benchmarks.runner import RunOptions, progress

RATE = 48_000
FRAME = RATE // 100  # 10 ms, what the SDK's audio source consumes per tick
# Burst k is a tone of TONES_HZ[k % 6] (on 100 Hz FFT bins of a 10 ms frame): whatever a receiver's
# jitter buffer does to the timing, each onset it delivers names its burst within a 2.5 s cycle.
TONES_HZ = (600.0, 900.0, 1200.0, 1500.0, 1800.0, 2100.0)
AMPLITUDE = 0.5 * 32767
THRESHOLD = 0.25 * AMPLITUDE  # a decoded tone stays far above it; decoded silence far below
# One burst every 410 ms: 200 ms of tone, 210 ms of silence (a speech-like duty cycle).
# An odd number of 10 ms frames puts successive onsets in alternate halves of the publisher's 20 ms
# Opus packets, so both packetisation phases are sampled in every run.
PERIOD_FRAMES = 41
BURST_FRAMES = 20
LEAD_FRAMES = 100  # 1 s of silence first: ICE, the first renegotiation and NetEq settle
WARMUP_BURSTS = 2  # not counted: NetEq adapts its target delay on the first talk spurts
MIN_QUIET_S = 0.1  # an onset follows at least this much silence, at the SFU and at the subscriber
SFU_LOUD_DBOV = 30  # the tone arrives at ~9-12 dBov attenuation, silence at 127
PUBLISH_QUEUE_MS = 20
MODES = ("decode", "forward")
LEVELS = (1, 2, 4)
# Opus: a 20 ms packet is sent when its second 10 ms frame has been handed over, and the decoder
# delays the signal by the encoder's 6.5 ms look-ahead: 26.5 ms algorithmic delay, of which this
# benchmark's convention (a handed-over frame counts as sent at once) already absorbs 10 ms.
OPUS_FLOOR_S = 0.0165


@dataclass
class Burst:
    room: int
    sent: float
    index: int = 0  # in the room's schedule, warm-up bursts included
    heard: float | None = None
    sfu_in: float | None = None
    sfu_out: float | None = None

    @property
    def transit(self) -> float | None:
        return None if self.heard is None else self.heard - self.sent


@dataclass
class Scenario:
    mode: str
    rooms: int
    repeat: int
    bursts: list[Burst] = field(default_factory=list)
    jitter_buffer_s: list[float] = field(default_factory=list)  # per room, NetEq mean over the run
    jitter_target_s: list[float] = field(default_factory=list)
    sfu_cpu: float = 0.0  # fraction of one core over the measured window
    loop_lag_p95_s: float = 0.0  # this process's event loop, where the SDK callbacks run
    load_1m: float = 0.0
    packets: dict[str, float] = field(default_factory=dict)  # every relayed packet: see packet_timing


# ---- detecting bursts -----------------------------------------------------------------------------


def onsets(
    samples: np.ndarray, threshold: float = THRESHOLD, min_quiet: int = int(MIN_QUIET_S * RATE)
) -> np.ndarray:
    """Indices where the signal rises above ``threshold`` after ``min_quiet`` quiet samples (or at the
    start)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > threshold)
    gaps = np.diff(loud, prepend=-min_quiet - 1) - 1
    return loud[gaps >= min_quiet]


def tone_code(samples: np.ndarray) -> int | None:
    """Which of TONES_HZ the 10 ms from an onset carry; None if none of them."""
    if samples.size < FRAME:
        return None
    spectrum = np.abs(np.fft.rfft(samples[:FRAME].astype(np.float64) * np.hanning(FRAME)))
    peak = float(np.fft.rfftfreq(FRAME, 1 / RATE)[int(np.argmax(spectrum))])
    code = int(np.argmin([abs(peak - f) for f in TONES_HZ]))
    return code if abs(peak - TONES_HZ[code]) < 100 else None


def heard_onsets(frames: list[tuple[float, np.ndarray]]) -> tuple[list[float], list[int | None]]:
    """Times and tone codes of the onsets a subscriber received. A sample's time is its frame's
    delivery time plus its offset in the frame (as if played from delivery on)."""
    if not frames:
        return [], []
    samples = np.concatenate([f for _, f in frames])
    starts = np.cumsum([0] + [f.size for _, f in frames[:-1]])
    times: list[float] = []
    codes: list[int | None] = []
    for i in onsets(samples):
        k = int(np.searchsorted(starts, i, side="right")) - 1
        times.append(frames[k][0] + (int(i) - int(starts[k])) / RATE)
        codes.append(tone_code(samples[i : i + FRAME]))
    return times, codes


def pair_heard(sent: list[float], times: list[float], codes: Sequence[int | None]) -> list[float | None]:
    """For the k-th burst sent, the first onset after it with the k-th burst's tone, within a cycle."""
    cycle = len(TONES_HZ) * PERIOD_FRAMES * 0.01
    heard: list[float | None] = []
    for k, sent_at in enumerate(sent):
        i = bisect.bisect_left(times, sent_at)
        while i < len(times) and times[i] < sent_at + cycle and codes[i] != k % len(TONES_HZ):
            i += 1
        heard.append(times[i] if i < len(times) and times[i] < sent_at + cycle else None)
    return heard


def first_index(times: list[float], start: float, window: float) -> int | None:
    """Index of the first of the sorted ``times`` within [start, start + window)."""
    i = bisect.bisect_left(times, start)
    return i if i < len(times) and times[i] < start + window else None


@dataclass
class TrackTrace:
    arrivals: list[tuple[int, int | None, float]] = field(default_factory=list)  # key, level, t
    departures: dict[int, float] = field(default_factory=dict)  # key -> first send, any subscriber

    def onsets(self) -> tuple[list[float], list[int]]:
        """Arrival times and keys of loud packets after MIN_QUIET_S of quiet ones (20 ms each)."""
        times: list[float] = []
        keys: list[int] = []
        quiet = 0  # the first packets of a track are no onset
        for key, level, t in self.arrivals:
            if level is not None and level <= SFU_LOUD_DBOV:
                if quiet * 0.02 >= MIN_QUIET_S:
                    times.append(t)
                    keys.append(key)
                quiet = 0
            else:
                quiet += 1
        return times, keys


def packet_timing(traces: list[TrackTrace]) -> dict[str, float]:
    """Over every packet, not only onsets: time inside the SFU, and the delay variation of the stream
    as it reaches the SFU and as it leaves (each packet's time minus its RTP time, above the track's
    fastest packet): what the receiver's jitter buffer has to absorb, and how much the SFU adds."""
    residence: list[float] = []
    jitter_in: list[float] = []
    jitter_out: list[float] = []
    for trace in traces:
        if not trace.arrivals or not trace.departures:
            continue
        offsets_in = [t - key / RATE for key, _, t in trace.arrivals]
        offsets_out = [t - key / RATE for key, t in trace.departures.items()]
        jitter_in += [o - min(offsets_in) for o in offsets_in]
        jitter_out += [o - min(offsets_out) for o in offsets_out]
        residence += [trace.departures[k] - t for k, _, t in trace.arrivals if k in trace.departures]
    if not residence:
        return {}
    return {
        "packets": len(residence),
        "residence_p50": percentile(residence, 50),
        "residence_p99": percentile(residence, 99),
        "residence_max": max(residence),
        "jitter_in_p95": percentile(jitter_in, 95),
        "jitter_out_p95": percentile(jitter_out, 95),
    }


def parse_trace(path: Path) -> dict[str, TrackTrace]:
    """Read infra/dev_sfu/media_trace.py's lines."""
    tracks: dict[str, TrackTrace] = {}
    if not path.exists():
        return tracks
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == "in":
            level = None if parts[3] == "-" else int(parts[3])
            tracks.setdefault(parts[1], TrackTrace()).arrivals.append(
                (int(parts[2]), level, int(parts[4]) / 1e9)
            )
        elif len(parts) == 5 and parts[0] == "out":
            tracks.setdefault(parts[1], TrackTrace()).departures.setdefault(
                int(parts[3]), int(parts[4]) / 1e9
            )
    return tracks


def pair_sfu(sent: list[float], trace: TrackTrace) -> list[tuple[float, float | None] | None]:
    """(in, out) at the SFU for each burst sent. Loopback loses no packets, so the k-th onset there is
    the k-th burst when the counts agree and successive onsets are one period of RTP time apart;
    otherwise the first onset within a period after the burst was sent."""
    times, keys = trace.onsets()
    step = PERIOD_FRAMES * FRAME
    spaced = all(abs(b - a - step) < step // 2 for a, b in itertools.pairwise(keys))
    if len(times) == len(sent) and spaced:
        found: list[int | None] = list(range(len(sent)))
    else:
        found = [first_index(times, t, PERIOD_FRAMES * 0.01 - 0.05) for t in sent]
    return [None if i is None else (times[i], trace.departures.get(keys[i])) for i in found]


# ---- one scenario: N rooms through one SFU process ---------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, all threads


def _token(room: str, identity: str) -> str:
    from livekit import api

    grants = api.VideoGrants(room_join=True, room=room)
    return api.AccessToken("devkey", "secret").with_identity(identity).with_grants(grants).to_jwt()


async def _jitter_stats(track: Any) -> tuple[float, float, int]:
    """NetEq's cumulative (delay, target delay, emitted samples) for a subscribed track."""
    for s in await track.get_stats():
        if s.WhichOneof("stats") == "inbound_rtp":
            inb = s.inbound_rtp.inbound
            return inb.jitter_buffer_delay, inb.jitter_buffer_target_delay, inb.jitter_buffer_emitted_count
    return 0.0, 0.0, 0


class _RoomPair:
    """One room's publisher and subscriber."""

    def __init__(self, index: int) -> None:
        from livekit import rtc

        self.index = index
        self.pub = rtc.Room()
        self.sub = rtc.Room()
        self.track_sid = ""
        self.sent: list[float] = []
        self.frames: list[tuple[float, np.ndarray]] = []  # (delivery time, samples) as received
        self._subscribed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.remote: Any = None
        self._listener: asyncio.Task[None] | None = None

    async def join(self, url: str) -> None:
        from livekit import rtc

        name = f"transit-{self.index}"

        @self.sub.on("track_subscribed")
        def _on_track(track: Any, *_: object) -> None:
            if not self._subscribed.done():
                self._subscribed.set_result(track)

        await self.sub.connect(url, _token(name, "ear"), options=rtc.RoomOptions(auto_subscribe=True))
        await self.pub.connect(url, _token(name, "mouth"), options=rtc.RoomOptions(auto_subscribe=False))
        # A short queue: with the default 1 s, one stall of the SDK's 10 ms audio thread (this machine
        # is shared) leaves a backlog that real-time pacing never drains, and every later burst waits
        # behind it. Here a stall costs at most 20 ms, and only while it lasts.
        self.source = rtc.AudioSource(RATE, 1, queue_size_ms=PUBLISH_QUEUE_MS)
        track = rtc.LocalAudioTrack.create_audio_track("mic", self.source)
        publication = await self.pub.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        self.track_sid = publication.sid
        self.remote = await asyncio.wait_for(self._subscribed, 20)
        self._listener = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        from livekit import rtc

        # Only stamped and kept here: the onsets are found after the run, off this event loop.
        async for event in rtc.AudioStream(self.remote, sample_rate=RATE, num_channels=1):
            self.frames.append((time.monotonic(), np.frombuffer(event.frame.data, np.int16).copy()))

    async def talk(self, t0: float, offset_frames: int, bursts: int) -> None:
        from livekit import rtc

        n = np.arange(FRAME)
        silence = rtc.AudioFrame(np.zeros(FRAME, np.int16).tobytes(), RATE, 1, FRAME)
        total = LEAD_FRAMES + offset_frames + bursts * PERIOD_FRAMES
        for i in range(total):
            delay = t0 + i * 0.01 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pos = i - LEAD_FRAMES - offset_frames
            if pos >= 0 and pos % PERIOD_FRAMES < BURST_FRAMES:
                tone = TONES_HZ[(pos // PERIOD_FRAMES) % len(TONES_HZ)]
                # cosine phase: the very first sample is already above the threshold
                phase = 2 * np.pi * tone * (n + (pos % PERIOD_FRAMES) * FRAME) / RATE
                frame = rtc.AudioFrame((AMPLITUDE * np.cos(phase)).astype(np.int16).tobytes(), RATE, 1, FRAME)
                if pos % PERIOD_FRAMES == 0:
                    self.sent.append(time.monotonic())
            else:
                frame = silence
            await self.source.capture_frame(frame)

    async def leave(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
        await self.pub.disconnect()
        await self.sub.disconnect()


async def _loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        t = time.monotonic()
        await asyncio.sleep(0.005)
        lags.append(time.monotonic() - t - 0.005)


async def measure(url: str, scenario: Scenario, bursts: int, sfu_pid: int) -> list[_RoomPair]:
    """Run the bursts; fills ``scenario``'s NetEq, CPU and loop figures, returns the rooms."""
    pairs = [_RoomPair(i) for i in range(scenario.rooms)]
    for pair in pairs:
        await pair.join(url)
    stop = asyncio.Event()
    lags: list[float] = []
    lag_task = asyncio.create_task(_loop_lag(stop, lags))
    before = [await _jitter_stats(p.remote) for p in pairs]
    cpu0, wall0 = _cpu_seconds(sfu_pid), time.monotonic()
    t0 = time.monotonic() + 0.1
    stagger = PERIOD_FRAMES // scenario.rooms  # bursts of different rooms do not coincide
    await asyncio.gather(*(p.talk(t0, p.index * stagger, bursts) for p in pairs))
    await asyncio.sleep(1.5)  # the last bursts, behind a jitter buffer grown on a loaded machine
    scenario.sfu_cpu = (_cpu_seconds(sfu_pid) - cpu0) / (time.monotonic() - wall0)
    stop.set()
    await lag_task
    after = [await _jitter_stats(p.remote) for p in pairs]
    for (d0, g0, n0), (d1, g1, n1) in zip(before, after, strict=True):
        if n1 > n0:
            scenario.jitter_buffer_s.append((d1 - d0) / (n1 - n0))
            scenario.jitter_target_s.append((g1 - g0) / (n1 - n0))
    scenario.loop_lag_p95_s = percentile(lags, 95) if lags else 0.0
    for p in pairs:
        await p.leave()
    return pairs


def bursts_of(
    room: int, sent: list[float], frames: list[tuple[float, np.ndarray]], trace: TrackTrace
) -> list[Burst]:
    """One room's counted bursts with the times they were heard and passed the SFU."""
    times, codes = heard_onsets(frames)
    heard = pair_heard(sent, times, codes)
    at_sfu = pair_sfu(sent, trace)
    bursts = []
    for k in range(WARMUP_BURSTS, len(sent)):
        burst = Burst(room=room, sent=sent[k], index=k, heard=heard[k])
        sfu = at_sfu[k]
        if sfu is not None:
            burst.sfu_in, burst.sfu_out = sfu
        bursts.append(burst)
    return bursts


def run_scenario(mode: str, rooms: int, repeat: int, bursts: int, work_dir: Path) -> Scenario:
    from infra.dev_sfu import dev_sfu_process

    scenario = Scenario(mode=mode, rooms=rooms, repeat=repeat)
    trace = work_dir / f"trace-{mode}-{rooms}-{repeat}.txt"
    with dev_sfu_process(audio_relay=mode, media_trace=trace, log_file=work_dir / "sfu.log") as (url, proc):
        # A full collection in this process pauses every SDK callback for 100-300 ms.
        gc.collect()
        gc.disable()
        try:
            rooms_run = asyncio.run(measure(url, scenario, bursts, proc.pid))
        finally:
            gc.enable()
    traces = parse_trace(trace)  # complete once the SFU has stopped
    for r in rooms_run:
        scenario.bursts += bursts_of(r.index, r.sent, r.frames, traces.get(r.track_sid, TrackTrace()))
    scenario.packets = packet_timing([traces[r.track_sid] for r in rooms_run if r.track_sid in traces])
    scenario.load_1m = os.getloadavg()[0]
    return scenario


# ---- the report ---------------------------------------------------------------------------------------


def _p(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def _parts(bursts: list[Burst]) -> dict[str, list[float]]:
    """The three legs of each burst seen at all three points (in order, so they sum to its transit)."""
    parts: dict[str, list[float]] = {"capture_to_sfu": [], "sfu_in_out": [], "sfu_to_heard": []}
    for b in bursts:
        if b.heard is None or b.sfu_in is None or b.sfu_out is None:
            continue
        parts["capture_to_sfu"].append(b.sfu_in - b.sent)
        parts["sfu_in_out"].append(b.sfu_out - b.sfu_in)
        parts["sfu_to_heard"].append(b.heard - b.sfu_out)
    return parts


@dataclass
class Cell:
    """All repeats of one (relay mode, rooms) combination."""

    mode: str
    rooms: int
    runs: list[Scenario]

    @property
    def bursts(self) -> list[Burst]:
        return [b for r in self.runs for b in r.bursts]

    @property
    def transits(self) -> list[float]:
        return [t for b in self.bursts if (t := b.transit) is not None]

    def run_p50s(self) -> list[float]:
        return [percentile(ts, 50) for r in self.runs if (ts := [t for b in r.bursts if (t := b.transit)])]

    def mean_of(self, attr: str) -> float | None:
        values = [v for r in self.runs for v in getattr(r, attr)]
        return statistics.fmean(values) if values else None

    def cpu(self) -> float:
        return statistics.fmean(r.sfu_cpu for r in self.runs)


def cells(scenarios: list[Scenario]) -> list[Cell]:
    keys = sorted({(s.rooms, MODES.index(s.mode) if s.mode in MODES else 9, s.mode) for s in scenarios})
    return [
        Cell(mode, rooms, [s for s in scenarios if (s.mode, s.rooms) == (mode, rooms)])
        for rooms, _, mode in keys
    ]


def _ms(v: float | None) -> str:
    return fmt_ms(v, 1)


def _tables(cs: list[Cell]) -> list[Table]:
    transit_rows = []
    parts_rows = []
    for c in cs:
        ts = c.transits
        sent = len(c.bursts)
        lags = [r.loop_lag_p95_s for r in c.runs]
        transit_rows.append(
            [
                c.mode,
                str(c.rooms),
                f"{len(ts)} / {sent}",
                _ms(_p(ts, 50)),
                _ms(_p(ts, 95)),
                _ms(max(ts) if ts else None),
                ", ".join(f"{v * 1000:.1f}" for v in c.run_p50s()),
                f"{100 * c.cpu():.0f} %",
                _ms(max(lags) if lags else None),
                ", ".join(f"{r.load_1m:.1f}" for r in c.runs),
            ]
        )
        parts = _parts(c.bursts)
        jb = c.mean_of("jitter_buffer_s")
        p50 = _p(ts, 50)
        floor = OPUS_FLOOR_S + jb if jb is not None else None
        parts_rows.append(
            [
                c.mode,
                str(c.rooms),
                _ms(_p(parts["capture_to_sfu"], 50)),
                _ms(_p(parts["sfu_in_out"], 50)) + " / " + _ms(_p(parts["sfu_in_out"], 95)),
                _ms(_p(parts["sfu_to_heard"], 50)),
                _ms(jb),
                _ms(c.mean_of("jitter_target_s")),
                _ms(floor),
                _ms(None if p50 is None or floor is None else p50 - floor),
            ]
        )
    return [
        Table(
            headers=[
                "relay",
                "rooms",
                "bursts heard / sent",
                "one-way p50",
                "p95",
                "max",
                "p50 per run (ms)",
                "SFU CPU (one core)",
                "bench loop lag p95 (worst run)",
                "load 1m at the end of each run",
            ],
            rows=transit_rows,
            caption="**One-way transit**, publisher's `capture_frame` → subscriber's SDK delivers the onset.",
        ),
        Table(
            headers=[
                "relay",
                "rooms",
                "capture → SFU in p50",
                "SFU in → out p50 / p95",
                "SFU out → heard p50",
                "receiver NetEq mean delay",
                "NetEq target delay",
                "floor: 16.5 ms + NetEq mean",
                "p50 − floor",
            ],
            rows=parts_rows,
            caption="**Parts** (p50 over the bursts seen at all three points; NetEq from the subscriber's "
            "`inbound-rtp` stats over the run, mean per emitted sample).",
        ),
        Table(
            headers=[
                "relay",
                "rooms",
                "packets",
                "in SFU p50",
                "p99",
                "max",
                "delay variation p95, arriving at the SFU",
                "leaving the SFU",
            ],
            rows=[_packet_row(c) for c in cs],
            caption="**Every audio packet through the SFU** (from its trace; median of the runs, max of "
            "the maxima). Delay variation: a packet's time minus its RTP time, above the track's fastest "
            "packet — what the receiver's jitter buffer has to absorb.",
        ),
    ]


def _packet_row(c: Cell) -> list[str]:
    runs = [r.packets for r in c.runs if r.packets]

    def median(key: str) -> float | None:
        return statistics.median(r[key] for r in runs) if runs else None

    return [
        c.mode,
        str(c.rooms),
        str(int(sum(r["packets"] for r in runs))),
        _ms(median("residence_p50")),
        _ms(median("residence_p99")),
        _ms(max(r["residence_max"] for r in runs) if runs else None),
        _ms(median("jitter_in_p95")),
        _ms(median("jitter_out_p95")),
    ]


def _compare(cs: list[Cell]) -> list[str]:
    """One line per room count: what forwarding changed, from this run's figures."""
    lines = []
    by = {(c.mode, c.rooms): c for c in cs}
    for rooms in sorted({c.rooms for c in cs}):
        dec, fwd = by.get(("decode", rooms)), by.get(("forward", rooms))
        if dec is None or fwd is None or not dec.transits or not fwd.transits:
            continue
        d50, f50 = percentile(dec.transits, 50), percentile(fwd.transits, 50)
        d95, f95 = percentile(dec.transits, 95), percentile(fwd.transits, 95)
        lines.append(
            f"{rooms} room(s), decode → forward: one-way p50 {d50 * 1000:.1f} → {f50 * 1000:.1f} ms "
            f"({(f50 - d50) * 1000:+.1f}), p95 {d95 * 1000:.1f} → {f95 * 1000:.1f} ms, "
            f"SFU CPU {100 * dec.cpu():.0f} → {100 * fwd.cpu():.0f} %"
        )
    return lines


def from_raw(raw: dict[str, Any]) -> BenchResult:
    scenarios = [
        Scenario(**{**s, "bursts": [Burst(**b) for b in s["bursts"]]}) for s in raw.get("scenarios", [])
    ]
    cs = cells(scenarios)
    compare = _compare(cs)
    fwd1 = next((c for c in cs if c.mode == "forward" and c.rooms == 1 and c.transits), None)
    levels = ", ".join(str(n) for n in raw.get("levels", []))
    method = f"""
`python -m benchmarks sfu_transit` — {(__doc__ or "").split(chr(10), 2)[-1].strip()}

Per scenario: one SFU process; {LEAD_FRAMES / 100:.0f} s of silence, {WARMUP_BURSTS} warm-up bursts
(not counted), then {raw.get("bursts", 0)} counted bursts per room. N rooms' bursts are staggered by
410/N ms so they do not coincide, and the 410 ms period puts successive onsets in alternate halves of
the publisher's 20 ms Opus packets. Levels {levels} room(s) × both relay modes, {raw.get("repeats", 1)}
repeat(s), the modes' order alternating from one repeat to the next; p50/p95 pool the repeats. SFU CPU:
user + system time of the SFU process (all threads) over the bursts, as a share of one core.
**Floor**: Opus sends a 20 ms packet once its second 10 ms frame is handed over, and decoding delays
the signal by the 6.5 ms look-ahead: 26.5 ms algorithmic delay, of which this convention (a frame
counts as sent when handed over whole) leaves {OPUS_FLOOR_S * 1000:.1f} ms; add the receiver's NetEq
buffer; loopback adds no network delay.
"""
    headline = compare or ["no complete scenario"]
    if fwd1 is not None:
        parts = _parts(fwd1.bursts)
        headline.append(
            "forward, 1 room, p50 parts: capture → SFU "
            f"{_ms(_p(parts['capture_to_sfu'], 50))}, in SFU {_ms(_p(parts['sfu_in_out'], 50))}, "
            f"SFU → heard {_ms(_p(parts['sfu_to_heard'], 50))} "
            f"(NetEq mean {_ms(fwd1.mean_of('jitter_buffer_s'))})"
        )

    def plot(fig: Figure) -> None:
        left, right = fig.subplots(1, 2)
        labels = [f"{c.mode}\n{c.rooms} room{'s' if c.rooms > 1 else ''}" for c in cs]
        data = [[t * 1000 for t in c.transits] or [np.nan] for c in cs]
        left.boxplot(data, whis=(5, 95), showfliers=True)
        left.set_xticks(range(1, len(cs) + 1), labels, fontsize=7)
        left.set_ylabel("one-way transit (ms)")
        left.set_title("One-way transit (whiskers p5–p95)", fontsize=9)
        bottoms = np.zeros(len(cs))
        for key, label in (
            ("capture_to_sfu", "capture → SFU in"),
            ("sfu_in_out", "SFU in → out"),
            ("sfu_to_heard", "SFU out → heard"),
        ):
            values = np.array([(_p(_parts(c.bursts)[key], 50) or 0.0) * 1000 for c in cs])
            right.bar(range(len(cs)), values, bottom=bottoms, label=label)
            bottoms += values
        right.set_xticks(range(len(cs)), labels, fontsize=7)
        right.set_ylabel("ms (p50 of each part)")
        right.set_title("Where the transit goes", fontsize=9)
        right.legend(fontsize=7)

    return BenchResult(
        name="sfu_transit",
        title="SFU transit: one-way audio through the dev SFU, decode vs forward",
        method=method,
        tables=_tables(cs),
        headline=headline,
        conclusion=raw.get("conclusion", ""),
        plot=plot,
        raw=raw,
        quick=bool(raw.get("quick_run", False)),
    )


def run(options: RunOptions) -> BenchResult:
    levels = (1,) if options.quick else LEVELS
    bursts = 4 if options.quick else 24
    repeats = 1 if options.quick else 3  # the machine is shared: the spread of the runs is part of the figure
    scenarios: list[Scenario] = []
    for repeat in range(repeats):
        for rooms in levels:
            for mode in MODES if repeat % 2 == 0 else tuple(reversed(MODES)):
                progress(f"sfu_transit: {mode}, {rooms} room(s), repeat {repeat + 1}/{repeats}")
                scenario = run_scenario(mode, rooms, repeat, bursts + WARMUP_BURSTS, options.work_dir)
                scenarios.append(scenario)
                heard = [t for b in scenario.bursts if (t := b.transit) is not None]
                progress(
                    f"  {len(heard)}/{len(scenario.bursts)} heard, p50 {_ms(_p(heard, 50))}, "
                    f"SFU CPU {100 * scenario.sfu_cpu:.0f} %, load {scenario.load_1m:.1f}"
                )
    raw = {
        "quick_run": options.quick,
        "levels": list(levels),
        "bursts": bursts,
        "repeats": repeats,
        "scenarios": [asdict(s) for s in scenarios],
        "conclusion": "",  # written after reading the numbers, then `--render-only`
    }
    return from_raw(raw)
