"""The local STT's streaming face (agent_worker/stt_stream.py), on real speech, the real Silero VAD and
the local model server through livekit-plugins-openai: interim transcripts while the caller speaks, and
a final transcript that covers the whole utterance even when an early decode started at a pause."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt

from agent_worker.providers import build_vad
from agent_worker.providers.openai_compat import build_stt, local_endpoint
from agent_worker.settings import WorkerSettings
from agent_worker.stt_stream import EagerOptions, EagerStreamAdapter
from tests.support.audio import read_wav
from tests.support.model_server import ModelServer
from tests.support.voices import join_with_pause, speak_natural

pytestmark = pytest.mark.slow
FRAME_MS = 20


async def events_for(
    wav: Path, server: ModelServer, options: EagerOptions, lang: str, vad_silence: float = 0.4
) -> list[tuple[stt.SpeechEventType, str]]:
    settings = WorkerSettings(  # type: ignore[call-arg]
        _env_file=None,
        local_model_url=server.url,
        local_model_api_key=server.api_key,
        vad_min_silence_duration=vad_silence,
    )
    recognizer = build_stt(local_endpoint(settings), settings, lang)
    adapter = EagerStreamAdapter(stt=recognizer, vad=build_vad(settings), options=options)
    samples, rate = read_wav(wav)
    samples = np.concatenate([samples, np.zeros(rate, dtype=np.int16)])  # a second of silence after
    step = rate * FRAME_MS // 1000
    stream = adapter.stream()
    seen: list[tuple[stt.SpeechEventType, str]] = []

    async def read() -> None:
        async for ev in stream:
            seen.append((ev.type, ev.alternatives[0].text if ev.alternatives else ""))

    reader = asyncio.create_task(read())
    for i in range(0, samples.size - step, step):
        stream.push_frame(rtc.AudioFrame(samples[i : i + step].tobytes(), rate, 1, step))
        await asyncio.sleep(FRAME_MS / 1000)  # as a microphone would: decodes run beside the audio
    stream.end_input()
    await asyncio.wait_for(reader, 60)
    return seen


async def test_interim_transcripts_arrive_while_the_caller_speaks(
    model_server: ModelServer, tmp_path: Path
) -> None:
    said = (
        "I would like to book a table for four people tomorrow evening at the Italian place near the station."
    )
    wav = speak_natural(said, "en", tmp_path / "long.wav")
    seen = await events_for(wav, model_server, EagerOptions(interim_interval=1.0), "en")
    kinds = [k for k, _ in seen]
    assert kinds[0] is stt.SpeechEventType.START_OF_SPEECH
    end = kinds.index(stt.SpeechEventType.END_OF_SPEECH)
    interims = [t for k, t in seen[:end] if k is stt.SpeechEventType.INTERIM_TRANSCRIPT]
    assert len(interims) >= 2, seen
    assert "table" in interims[-1].lower(), interims
    finals = [t for k, t in seen if k is stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(finals) == 1 and "station" in finals[0].lower(), seen


async def test_an_early_decode_at_a_pause_is_dropped_when_the_caller_goes_on(
    model_server: ModelServer, tmp_path: Path
) -> None:
    """A 0.35 s pause: longer than the early-decode trigger (0.2 s), shorter than the VAD's end of
    speech (0.8 s here). The decode started in the pause lacks the second half: not the final."""
    first = speak_natural("我最近总是睡不好，", "zh", tmp_path / "a.wav", pad_s=0.0)
    second = speak_natural("应该怎么办？", "zh", tmp_path / "b.wav", pad_s=0.0)
    wav = join_with_pause(first, second, 0.35, tmp_path / "paused.wav")
    options = EagerOptions(interim_interval=0, early_final_after=0.2)
    seen = await events_for(wav, model_server, options, "zh", vad_silence=0.8)
    finals = [t for k, t in seen if k is stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(finals) == 1, seen
    assert "睡" in finals[0] and "怎么办" in finals[0], finals


async def test_the_early_final_decode_arrives_as_an_interim_before_the_final(
    model_server: ModelServer, tmp_path: Path
) -> None:
    """Whoever follows the interims (the transcript turn detector) gets the likely final as soon as it is
    decoded, 0.1 s into the silence, not when the VAD ends the utterance."""
    wav = speak_natural("Could you check whether the pharmacy is open?", "en", tmp_path / "q.wav")
    seen = await events_for(
        wav, model_server, EagerOptions(interim_interval=1.0, early_final_after=0.1), "en"
    )
    final = next(i for i, (k, _) in enumerate(seen) if k is stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert "pharmacy" in seen[final][1].lower(), seen
    assert (stt.SpeechEventType.INTERIM_TRANSCRIPT, seen[final][1]) in seen[:final], seen
