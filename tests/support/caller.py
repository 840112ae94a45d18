"""A caller on the Python ``livekit`` rtc SDK: joins with a token, speaks a WAV, records the agent.

It watches what a person would: the agent's state attribute, its audio (with arrival times), the
transcription text streams and the per-turn metrics packets.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc

RATE = 48_000
FRAME = RATE // 100  # 10 ms


def load_48k(path: Path) -> np.ndarray:
    out = path.with_suffix(".48k.wav")
    subprocess.run(["sox", str(path), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True)
    with wave.open(str(out)) as wf:
        return np.frombuffer(wf.readframes(wf.getnframes()), dtype=np.int16)


@dataclass
class Caller:
    identity: str = "caller"
    room: rtc.Room = field(default_factory=rtc.Room)
    agent_identity: str | None = None
    agent_states: list[tuple[float, str]] = field(default_factory=list)
    audio: list[tuple[float, np.ndarray]] = field(default_factory=list)
    transcriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    _source: rtc.AudioSource | None = None
    _speech: np.ndarray | None = None
    _speech_pos: int = 0
    _speech_done: asyncio.Future[float] | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def join(self, url: str, token: str) -> None:
        self.room.on("track_subscribed", self._on_track)
        self.room.on("participant_attributes_changed", self._on_attributes)
        self.room.on("data_received", self._on_data)
        self.room.register_text_stream_handler("lk.transcription", self._on_text_stream)
        await self.room.connect(url, token)
        self._source = rtc.AudioSource(RATE, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
        await self.room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        )
        self._tasks.append(asyncio.create_task(self._keep_mic_open()))

    async def _keep_mic_open(self) -> None:
        """The only writer of the microphone: speech when queued, silence otherwise, in real time."""
        assert self._source is not None
        silence = np.zeros(FRAME, dtype=np.int16)
        t0 = time.monotonic()
        n = 0
        while True:
            if self._speech is not None and self._speech_pos < self._speech.size:
                chunk = self._speech[self._speech_pos : self._speech_pos + FRAME]
                self._speech_pos += FRAME
                if chunk.size < FRAME:
                    chunk = np.concatenate([chunk, silence[: FRAME - chunk.size]])
                if self._speech_pos >= self._speech.size and self._speech_done is not None:
                    self._speech_done.set_result(time.monotonic())
            else:
                chunk = silence
            await self._source.capture_frame(rtc.AudioFrame(chunk.tobytes(), RATE, 1, FRAME))
            n += 1
            delay = t0 + n * 0.01 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.5:  # fell far behind (a stall): do not burst to catch up
                t0, n = time.monotonic(), 0

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if track.kind != rtc.TrackKind.KIND_AUDIO:
            return
        self.agent_identity = participant.identity

        async def record() -> None:
            async for ev in rtc.AudioStream(track, sample_rate=RATE, num_channels=1):
                pcm = np.frombuffer(bytes(ev.frame.data), dtype=np.int16).copy()
                self.audio.append((time.monotonic(), pcm))

        self._tasks.append(asyncio.create_task(record()))

    def _on_attributes(self, changed: dict[str, str], participant: rtc.Participant) -> None:
        if "lk.agent.state" in changed:
            self.agent_states.append((time.monotonic(), changed["lk.agent.state"]))

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic == "voicecall.metrics":
            self.metrics.append(json.loads(packet.data))

    def _on_text_stream(self, reader: rtc.TextStreamReader, participant_identity: str) -> None:
        async def read() -> None:
            text = await reader.read_all()
            attrs = reader.info.attributes or {}
            seg = attrs.get("lk.segment_id", reader.info.stream_id)
            self.transcriptions[seg] = {
                "from": participant_identity,
                "text": text,
                "final": attrs.get("lk.transcription_final") == "true",
            }

        self._tasks.append(asyncio.create_task(read()))

    @property
    def agent_state(self) -> str | None:
        return self.agent_states[-1][1] if self.agent_states else None

    async def wait_state(self, state: str, within: float, after: float = 0.0) -> float:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for t, s in self.agent_states:
                if s == state and t >= after:
                    return t
            await asyncio.sleep(0.05)
        raise TimeoutError(f"agent never became {state!r} (states: {[s for _, s in self.agent_states]})")

    async def wait_idle(self, within: float, quiet_s: float = 0.5) -> None:
        """Wait until the agent has been listening (not speaking or thinking) for ``quiet_s``."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            last = self.agent_states[-1] if self.agent_states else None
            if last is not None and last[1] == "listening" and time.monotonic() - last[0] >= quiet_s:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"agent never idle (states: {[s for _, s in self.agent_states]})")

    async def say(self, samples: np.ndarray, trailing_silence_s: float = 0.0) -> float:
        """Speak in real time; returns the monotonic time the speech ended."""
        self._speech_done = asyncio.get_running_loop().create_future()
        self._speech_pos = 0
        self._speech = samples
        ended: float = await self._speech_done
        self._speech = None
        if trailing_silence_s:
            await asyncio.sleep(trailing_silence_s)
        return ended

    def audio_between(self, start: float, end: float | None = None) -> np.ndarray:
        chunks = [a for t, a in self.audio if t >= start and (end is None or t <= end)]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def first_loud_after(self, start: float, threshold: float = 500.0) -> float | None:
        for t, a in self.audio:
            if t >= start and a.size and float(np.sqrt(np.mean(a.astype(np.float64) ** 2))) > threshold:
                return t
        return None

    async def leave(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.room.disconnect()
