"""A streaming face for a file-based STT: interim transcripts while the caller speaks, and the final
transcript decoded during the silence that ends the turn instead of after it.

livekit-agents' ``stt.StreamAdapter`` sends the utterance once the VAD has heard ``min_silence_duration``
of silence; recognition then starts, so its whole time (≈ 0.4–0.6 s for Whisper base here) adds to the
wait. This adapter starts that last decode when the silence begins (``early_final_after``): if the
caller stays silent until the VAD ends the utterance, the transcript is already known or nearly. If the
caller resumes, the early result is dropped. While the caller speaks it re-decodes the growing buffer
every ``interim_interval`` (up to ``interim_max_s`` of speech, which is what two cores afford) and emits
interim transcripts (shown live on the call page; the transcript turn detector reads them ahead, or the
agent warms the LLM's prompt cache with them); the early final decode is emitted as an interim too.

Built on livekit-agents' own ``StreamAdapter`` and ``RecognizeStream``: the session sees an ordinary
streaming STT with interim results.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.stt.stream_adapter import DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr


@dataclass(frozen=True)
class EagerOptions:
    interim_interval: float = 1.0  # seconds of new speech between interim decodes; 0 = no interims
    interim_max_s: float = 6.0  # no interim decode of a longer buffer (it would not keep up)
    early_final_after: float = 0.03  # seconds of silence before the final decode starts; 0 = off


class EagerStreamAdapter(stt.StreamAdapter):
    def __init__(self, *, stt: stt.STT, vad: vad.VAD, options: EagerOptions | None = None) -> None:
        super().__init__(stt=stt, vad=vad)
        self._options = options or EagerOptions()
        interim = self._options.interim_interval > 0
        self._capabilities = stt_capabilities(self.capabilities, interim)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return EagerStream(
            self,
            vad=self._vad,
            wrapped_stt=self.wrapped_stt,
            language=language,
            conn_options=conn_options,
            options=self._options,
        )


def stt_capabilities(base: stt.STTCapabilities, interim: bool) -> stt.STTCapabilities:
    return stt.STTCapabilities(
        streaming=True,
        interim_results=interim,
        diarization=False,
        keyterms=base.keyterms,
        chat_context=base.chat_context,
    )


@dataclass
class _Utterance:
    """The audio of the utterance in progress and the decodes started on it."""

    frames: list[rtc.AudioFrame] = field(default_factory=list)
    samples: int = 0
    rate: int = 16_000
    interim_at_samples: int = 0
    interim: asyncio.Task[stt.SpeechEvent] | None = None
    early: asyncio.Task[stt.SpeechEvent] | None = None  # valid while the caller stays silent

    def add(self, frames: list[rtc.AudioFrame]) -> None:
        for f in frames:
            self.frames.append(f)
            self.samples += f.samples_per_channel
            self.rate = f.sample_rate

    @property
    def seconds(self) -> float:
        return self.samples / self.rate if self.rate else 0.0

    def snapshot(self) -> rtc.AudioFrame:
        return utils.merge_frames(self.frames)


class EagerStream(stt.RecognizeStream):
    def __init__(
        self,
        adapter: EagerStreamAdapter,
        *,
        vad: vad.VAD,
        wrapped_stt: stt.STT,
        language: NotGivenOr[str],
        conn_options: APIConnectOptions,
        options: EagerOptions,
    ) -> None:
        super().__init__(stt=adapter, conn_options=DEFAULT_STREAM_ADAPTER_API_CONNECT_OPTIONS)
        self._vad = vad
        self._wrapped = wrapped_stt
        self._wrapped_conn_options = conn_options
        self._language = language
        self._opts = options
        self._background: set[asyncio.Task[stt.SpeechEvent]] = set()

    def _recognize(self, frame: rtc.AudioFrame) -> asyncio.Task[stt.SpeechEvent]:
        task = asyncio.create_task(
            self._wrapped.recognize(
                buffer=frame, language=self._language, conn_options=self._wrapped_conn_options
            )
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        # an abandoned decode (the caller went on talking) must not log "exception never retrieved"
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _run(self) -> None:
        vad_stream = self._vad.stream()

        async def forward_input() -> None:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                else:
                    vad_stream.push_frame(item)
            vad_stream.end_input()

        async def follow_vad() -> None:
            utterance: _Utterance | None = None
            async for ev in vad_stream:
                if ev.type == vad.VADEventType.START_OF_SPEECH:
                    utterance = _Utterance()
                    utterance.add(ev.frames)  # the speech so far, with the VAD's prefix padding
                    self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
                elif ev.type == vad.VADEventType.INFERENCE_DONE and utterance is not None:
                    utterance.add(ev.frames)
                    self._on_progress(utterance, ev)
                elif ev.type == vad.VADEventType.END_OF_SPEECH:
                    speech_end = time.time() - ev.silence_duration - ev.inference_duration
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end)
                    )
                    done, utterance = utterance, None
                    await self._finish(done, ev.frames, speech_end)

        tasks = [asyncio.create_task(forward_input()), asyncio.create_task(follow_vad())]
        try:
            await asyncio.gather(*tasks)
        finally:
            await utils.aio.cancel_and_wait(*tasks, *self._background)
            await vad_stream.aclose()

    def _on_progress(self, utterance: _Utterance, ev: vad.VADEvent) -> None:
        silent_for = ev.raw_accumulated_silence
        if silent_for <= 0 and utterance.early is not None:
            utterance.early = None  # the caller went on: that decode missed the end
        opts = self._opts
        if opts.early_final_after > 0 and utterance.early is None and silent_for >= opts.early_final_after:
            utterance.early = self._recognize(utterance.snapshot())
            if opts.interim_interval > 0:
                # the likely final, as an interim as soon as it is known (before the VAD's end of
                # speech): whoever follows the interims (the transcript turn detector) starts on it
                utterance.early.add_done_callback(self._emit_interim)
            return
        if (
            opts.interim_interval > 0
            and silent_for <= 0
            and utterance.seconds <= opts.interim_max_s
            and (utterance.interim is None or utterance.interim.done())
            and utterance.samples - utterance.interim_at_samples >= opts.interim_interval * utterance.rate
        ):
            utterance.interim_at_samples = utterance.samples
            task = self._recognize(utterance.snapshot())
            utterance.interim = task
            task.add_done_callback(self._emit_interim)

    def _emit_interim(self, task: asyncio.Task[stt.SpeechEvent]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        alternatives = task.result().alternatives
        if alternatives and alternatives[0].text and not self._event_ch.closed:
            self._event_ch.send_nowait(
                stt.SpeechEvent(stt.SpeechEventType.INTERIM_TRANSCRIPT, alternatives=[alternatives[0]])
            )

    async def _finish(
        self, utterance: _Utterance | None, frames: list[rtc.AudioFrame], speech_end: float
    ) -> None:
        event: stt.SpeechEvent | None = None
        if utterance is not None and utterance.early is not None:
            with contextlib.suppress(Exception):  # a failed early decode: decode the utterance again
                event = await utterance.early
        if event is None:
            event = await self._wrapped.recognize(
                buffer=utils.merge_frames(frames),
                language=self._language,
                conn_options=self._wrapped_conn_options,
            )
        if not event.alternatives or not event.alternatives[0].text:
            return
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                alternatives=[event.alternatives[0]],
                speech_end_time=event.speech_end_time if event.speech_end_time is not None else speech_end,
            )
        )
