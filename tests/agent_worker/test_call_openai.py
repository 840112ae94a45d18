"""The whole voice loop through ``python -m agent_worker call`` on the openai provider, over real HTTP."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from infra.fake_openai.server import reply_for
from tests.conftest import PYTHON, ROOT, FakeOpenAIHandle, as_sent, worker_env
from tests.support.audio import read_wav, silence, speak, voiced_seconds

METRICS_LINE = re.compile(
    r"^metrics: turn=(\d+) end_of_utterance_delay=(\S+) stt=(\S+) llm_ttft=(\S+) tts_ttfb=(\S+) "
    r"voice_to_voice=(\d+\.\d+)s$",
    re.M,
)


def openai_env(fake: FakeOpenAIHandle, **extra: str) -> dict[str, str]:
    return worker_env(
        STT_PROVIDER="openai",
        LLM_PROVIDER="openai",
        TTS_PROVIDER="openai",
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake.base_url,
        FALLBACK_TO_LOCAL="false",
        **extra,
    )


def run_call(wav: Path, out: Path, lang: str, env: dict[str, str], timeout: float = 120):
    return subprocess.run(
        [PYTHON, "-m", "agent_worker", "call", "--in", str(wav), "--out", str(out), "--lang", lang],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("lang", "said"), [("en", "What is the weather like today"), ("zh", "今天天气怎么样")]
)
def test_one_turn_over_openai_protocol(
    tmp_path: Path, fake_openai: FakeOpenAIHandle, lang: str, said: str
) -> None:
    wav = speak(said, lang, tmp_path / "caller.wav")
    out = tmp_path / "reply.wav"
    fake_openai.control(transcripts=[said])
    proc = run_call(wav, out, lang, openai_env(fake_openai))
    assert proc.returncode == 0, proc.stderr
    expected_reply = reply_for([as_sent(said)])
    assert f"user: {said}" in proc.stdout
    assert f"agent: {expected_reply}" in proc.stdout
    m = METRICS_LINE.search(proc.stdout)
    assert m, proc.stdout
    assert 0 < float(m.group(6)) < 10
    stats = fake_openai.stats()
    # The caller's speech really went over HTTP as audio: about as long as what espeak said.
    spoken_s = len(read_wav(wav)[0]) / read_wav(wav)[1]
    assert stats["last_audio_seconds"] > 0.6 * spoken_s - 0.3
    assert stats["last_audio_rms"] > 300
    assert stats["chat_requests"] >= 1 and stats["tts_requests"] >= 1
    samples, rate = read_wav(out)
    assert voiced_seconds(samples, rate) > 0.8


def test_memory_is_bounded_to_the_configured_turns(tmp_path: Path, fake_openai: FakeOpenAIHandle) -> None:
    parts = []
    for i, word in enumerate(["apple", "banana", "cherry"]):
        parts.append(speak(f"my word is {word}", "en", tmp_path / f"p{i}.wav"))
        # long enough for the fake's reply (it quotes the words and their language hint) to be heard out
        parts.append(silence(tmp_path / f"s{i}.wav", 7.0, rate=22050))
    wav = tmp_path / "three_turns.wav"
    subprocess.run(["sox", *map(str, parts), str(wav)], check=True)
    fake_openai.control(transcripts=["my word is apple", "my word is banana", "my word is cherry"])
    proc = run_call(wav, tmp_path / "out.wav", "en", openai_env(fake_openai, MEMORY_TURNS="2"), timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("agent: ") == 3, proc.stdout
    sent = fake_openai.stats()["last_chat_messages"]
    users = [m["content"] for m in sent if m["role"] == "user"]
    assert users == [as_sent("my word is banana")["content"], as_sent("my word is cherry")["content"]]
    assert sent[0]["role"] in ("system", "developer")


def test_unreadable_empty_and_non_audio_inputs_fail_clearly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio at all " * 50)
    cases = {tmp_path / "missing.wav": "no such file", empty: "empty", text: "not a readable audio file"}
    for path, message in cases.items():
        proc = run_call(path, tmp_path / "o.wav", "en", worker_env(), timeout=60)
        assert proc.returncode == 3, (path, proc.stderr)
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr


def test_silent_file_ends_with_no_speech_heard(tmp_path: Path, fake_openai: FakeOpenAIHandle) -> None:
    wav = silence(tmp_path / "quiet.wav", 2.0)
    proc = run_call(wav, tmp_path / "o.wav", "en", openai_env(fake_openai), timeout=60)
    assert proc.returncode == 4, proc.stderr
    assert "no speech heard" in proc.stdout
    assert fake_openai.stats()["chat_requests"] == 0


def test_missing_key_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    wav = silence(tmp_path / "quiet.wav", 0.5)
    proc = run_call(wav, tmp_path / "o.wav", "en", worker_env(LLM_PROVIDER="openai"), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "configuration error: OPENAI_API_KEY: required when LLM_PROVIDER=openai"
