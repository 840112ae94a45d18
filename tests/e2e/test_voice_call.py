"""A real call through the development SFU: token from the functions API, the agent dispatched, speech
both ways, the session log and webhooks, and the failure cases a deployment meets."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from livekit import rtc

from tests.e2e.conftest import Stack
from tests.support.audio import speak, voiced_seconds
from tests.support.caller import RATE, Caller, load_48k
from tests.support.transcribe import overlap, transcribe

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TURNS = [
    ("en", "What is the weather like today", ["weather", "today"]),
    ("zh", "请给我一杯咖啡", ["咖啡"]),
]


async def one_turn(caller: Caller, wav: Path) -> tuple[float, np.ndarray]:
    """Speak, wait for the whole reply; returns (end of speech, reply audio as heard)."""
    await caller.wait_idle(within=120)
    ended = await caller.say(load_48k(wav))
    speaking_at = await caller.wait_state("speaking", within=60, after=ended)
    await caller.wait_state("listening", within=90, after=speaking_at)
    await asyncio.sleep(0.5)  # the last packets in flight
    return ended, caller.audio_between(ended)


async def test_english_then_mandarin_turn_end_to_end(stack: Stack, caller: Caller, tmp_path: Path) -> None:
    grant = stack.token(name="E2E caller", language="en")
    assert grant["url"] == stack.settings.livekit_url
    await caller.join(grant["url"], grant["token"])
    await caller.wait_state("speaking", within=120)  # the greeting
    replies = []
    for i, (lang, text, _keys) in enumerate(TURNS):
        ended, heard = await one_turn(caller, speak(text, lang, tmp_path / f"turn{i}.wav"))
        assert voiced_seconds(heard, RATE) > 0.5, f"no audible reply to turn {i}"
        first = caller.first_loud_after(ended)
        assert first is not None and first - ended < 15
        replies.append((lang, heard))
    await caller.leave()

    # room_finished closes the session; its log holds both turns with their latency.
    room = grant["room"]
    session = stack.wait_session(room, lambda s: s["status"] == "finished", within=60)
    users = [t for t in session["transcript"] if t["role"] == "user"]
    agents = [t for t in session["transcript"] if t["role"] == "agent" and t.get("turn")]
    assert len(users) >= 2 and len(agents) >= 2, session["transcript"]
    for (_lang, text, keys), said in zip(TURNS, users, strict=False):
        # Through Opus and a loaded CPU, Whisper base may miss a word: most of the sentence, or its
        # key words, must have been heard.
        heard_keys = all(k in said["text"].lower() for k in keys)
        assert heard_keys or overlap(text, said["text"]) >= 0.6, (text, said["text"])
    turns = {t["turn"]: t for t in session["turns"]}
    assert {1, 2} <= set(turns)
    for n in (1, 2):
        assert turns[n]["voice_to_voice"] is not None and 0 < turns[n]["voice_to_voice"] < 15
        assert turns[n]["llm_ttft"] is not None and turns[n]["tts_ttfb"] is not None
    # What the caller heard is what the log says the agent said.
    for (lang, heard), reply in zip(replies, agents[:2], strict=True):
        text = await asyncio.to_thread(transcribe, heard, RATE, lang)
        # Whisper base hears the Mandarin voice through Opus less well than the English one
        # (docs/offline-models.md): a lower bar for zh, still far above what silence or someone
        # else's audio reaches.
        assert overlap(reply["text"], text) >= (0.5 if lang == "en" else 0.35), (reply["text"], text)
    # The browser-facing metrics packets arrived as the turns happened.
    assert {m["turn"] for m in caller.metrics} >= {1, 2}
    # Transcriptions streamed to the room for the app's live transcript.
    assert any(v["final"] for v in caller.transcriptions.values())
    # After the call the local model wrote its summary and tags into the session (issue 11); the call
    # ran the seeded default assistant's first version.
    done = stack.wait_session(room, lambda s: s.get("summary") is not None, within=120)
    assert done["summary"]["summary"] and done["summary"]["outcome"] and done["summary"]["topic"]
    assert done["assistant_id"] == "default" and done["assistant_version"] == 1
    assert done["assistant_ran"] == "default@1", done  # the worker fetched and ran that version


async def test_two_rooms_at_once_stay_isolated(stack: Stack) -> None:
    a, b = Caller(identity="alice"), Caller(identity="bob")
    ga = stack.token(name="Alice")
    try:
        # Both calls are live at once; the second joins once the first is answered (two dispatches in
        # the same instant have been seen to leave one room without an agent on a loaded 2-core CI
        # machine: see the closing note). Its token is asked for then: tokens only cover the join.
        await a.join(ga["url"], ga["token"])
        await a.wait_state("listening", within=120)
        gb = stack.token(name="Bob", language="zh")
        assert ga["room"] != gb["room"]
        await b.join(gb["url"], gb["token"])
        await b.wait_state("listening", within=120)
        names_a = {p.identity for p in a.room.remote_participants.values()}
        names_b = {p.identity for p in b.room.remote_participants.values()}
        assert not names_a & names_b, "each room has its own agent and no one else"
        assert ga["identity"] not in names_b and gb["identity"] not in names_a
        assert len(names_a) == 1 and len(names_b) == 1
    finally:
        await asyncio.gather(a.leave(), b.leave())


async def test_expired_and_foreign_tokens_are_refused(stack: Stack) -> None:
    url = stack.settings.livekit_url
    # Expired two minutes ago: past the one-minute clock leeway LiveKit (and the dev SFU) allow.
    expired = stack.raw_token("call-expired0001", "late", ttl_s=-120, dispatch=False)
    with pytest.raises(rtc.ConnectError):
        await rtc.Room().connect(url, expired)
    forged = stack.raw_token("call-forged00001", "mallory", dispatch=False)
    head, body, _sig = forged.split(".")
    with pytest.raises(rtc.ConnectError):
        await rtc.Room().connect(url, f"{head}.{body}.{'A' * 43}")
    # A token names its room: holding one for room A never puts you in room B.
    ga, gb = stack.token(name="A"), stack.token(name="B")
    a = Caller(identity="a")
    try:
        await a.join(ga["url"], ga["token"])
        assert a.room.name == ga["room"] != gb["room"]
    finally:
        await a.leave()


async def test_leaving_mid_sentence_leaves_no_stuck_job(stack: Stack, tmp_path: Path) -> None:
    grant = stack.token(name="Quitter")
    c = Caller(identity="quitter")
    await c.join(grant["url"], grant["token"])
    await c.wait_idle(within=120)
    speech = load_48k(speak("I would like to ask you something rather long about", "en", tmp_path / "q.wav"))
    await c.say(speech[: speech.size // 2])
    await c.leave()
    stack.wait_session(grant["room"], lambda s: s["status"] == "finished", within=60)
    # The worker took the job's end and is free: the next caller is answered.
    nxt = stack.token(name="Next")
    c2 = Caller(identity="next")
    try:
        await c2.join(nxt["url"], nxt["token"])
        await c2.wait_state("listening", within=120)
    finally:
        await c2.leave()


async def test_worker_killed_mid_call_then_restarted_serves_a_new_call(stack: Stack) -> None:
    grant = stack.token(name="Victim")
    c = Caller(identity="victim")
    await c.join(grant["url"], grant["token"])
    await c.wait_state("listening", within=120)
    await asyncio.get_running_loop().run_in_executor(None, stack.kill, "agent")
    await c.leave()
    await asyncio.get_running_loop().run_in_executor(None, stack.restart, "agent")
    fresh = stack.token(name="After restart")
    c2 = Caller(identity="after")
    try:
        await c2.join(fresh["url"], fresh["token"])
        await c2.wait_state("listening", within=120)
    finally:
        await c2.leave()


async def test_sfu_restart_lets_the_worker_register_again(stack: Stack) -> None:
    t0 = time.monotonic()
    await asyncio.get_running_loop().run_in_executor(None, stack.restart, "sfu")
    grant = stack.token(name="After SFU restart")
    c = Caller(identity="after-sfu")
    try:
        # The worker reconnects by itself (with back-off); no restart of the worker.
        await c.join(grant["url"], grant["token"])
        await c.wait_state("listening", within=120)
    finally:
        await c.leave()
    assert time.monotonic() - t0 < 240


def _new_assistant(stack: Stack, **overrides: object) -> str:
    spec = {
        "name": "Recorded line",
        "instructions": {"en": "You are a helpful assistant on a recorded line."},
        "greeting": {"en": "Hello, this call is recorded."},
        "languages": ["en"],
        "recording": True,
        **overrides,
    }
    headers = stack.operator.headers("openid assistants:write")
    made = httpx.post(f"{stack.settings.functions_url}/assistants", json=spec, headers=headers, timeout=10)
    assert made.status_code == 201, made.text
    return str(made.json()["assistant_id"])


def _edit_assistant(stack: Stack, assistant_id: str, **changes: object) -> int:
    """A new version, as the editor saves one; returns its number."""
    api = stack.settings.functions_url
    headers = stack.operator.headers("openid assistants:read assistants:write")
    current = httpx.get(f"{api}/assistants/{assistant_id}", headers=headers, timeout=10).json()
    spec = {
        k: v
        for k, v in current.items()
        if k not in ("assistant_id", "version", "archived", "created_at", "updated_at")
    }
    body = {**spec, **changes, "base_version": current["version"]}
    saved = httpx.put(f"{api}/assistants/{assistant_id}", json=body, headers=headers, timeout=10)
    assert saved.status_code == 200, saved.text
    return int(saved.json()["version"])


def _played_back(stack: Stack, room: str) -> bytes:
    """What an operator's player fetches: the presigned link, then the file from S3."""
    api = stack.settings.functions_url
    link = httpx.get(f"{api}/sessions/{room}/recording", headers=stack.operator.headers(), timeout=10)
    assert link.status_code == 200, link.text
    audio = httpx.get(link.json()["url"], timeout=30)
    assert audio.status_code == 200, audio.text
    return audio.content


async def test_a_recorded_call_reaches_s3_with_both_voices(
    stack: Stack, caller: Caller, tmp_path: Path
) -> None:
    """An assistant that records: the worker records the call (caller left, agent right), uploads it
    through the API's presigned PUT to the local S3, and an operator plays it back."""
    assistant_id = await asyncio.to_thread(_new_assistant, stack)
    grant = stack.token(name="Recorded caller", language="en", assistant_id=assistant_id)
    assert grant["recording"] is True
    await caller.join(grant["url"], grant["token"])
    await caller.wait_state("speaking", within=120)  # the greeting
    await one_turn(caller, speak("What is the capital of France", "en", tmp_path / "q.wav"))
    await caller.leave()

    room = grant["room"]
    session = stack.wait_session(room, lambda s: s.get("recording") is not None, within=120)
    assert session["recording"]["duration_s"] > 3, session["recording"]
    audio = await asyncio.to_thread(_played_back, stack, room)
    assert audio.startswith(b"OggS") and len(audio) == session["recording"]["bytes"]
    with av.open(io.BytesIO(audio)) as container:
        (stream,) = container.streams.audio
        assert stream.codec_context.name in ("opus", "libopus") and stream.channels == 2
        frames = [f.to_ndarray() for f in container.decode(stream)]
    pcm = np.concatenate(frames, axis=1).astype(np.float32)  # planar: one row per channel
    caller_rms, agent_rms = (float(np.sqrt(np.mean(ch**2))) for ch in pcm)
    # the caller's question on the left, the greeting and the reply on the right
    assert caller_rms > 0.003 and agent_rms > 0.003, (caller_rms, agent_rms)


async def test_an_assistant_edited_mid_call_keeps_the_version_the_call_began_with(
    stack: Stack, caller: Caller, tmp_path: Path
) -> None:
    first, second = "Hello, this is version one.", "Hello, this is version two."
    assistant_id = await asyncio.to_thread(
        _new_assistant, stack, name="Edited mid-call", greeting={"en": first}, recording=False
    )
    grant = stack.token(name="Caller", language="en", assistant_id=assistant_id)
    assert grant["assistant_version"] == 1
    await caller.join(grant["url"], grant["token"])
    await caller.wait_state("speaking", within=120)  # version one's greeting
    # an operator saves version two while the call runs
    assert await asyncio.to_thread(_edit_assistant, stack, assistant_id, greeting={"en": second}) == 2
    await one_turn(caller, speak("What is the capital of France", "en", tmp_path / "q.wav"))
    await caller.leave()

    session = stack.wait_session(grant["room"], lambda s: s["status"] == "finished", within=60)
    assert session["assistant_version"] == 1 and session["assistant_ran"] == f"{assistant_id}@1", session
    greetings = [t["text"] for t in session["transcript"] if t["role"] == "agent" and not t.get("turn")]
    assert greetings[:1] == [first], session["transcript"]
    # the next call starts with the new version
    assert stack.token(name="Next", language="en", assistant_id=assistant_id)["assistant_version"] == 2
