"""Barge-in: the caller talks over the agent; the reply stops and only what was heard stays in context."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from infra.fake_openai.server import reply_for
from tests.agent_worker.test_call_openai import openai_env, run_call
from tests.conftest import FakeOpenAIHandle, as_sent
from tests.support.audio import silence, speak


def test_caller_interrupts_and_context_keeps_only_what_was_heard(
    tmp_path: Path, fake_openai: FakeOpenAIHandle
) -> None:
    first = "Please tell me everything you know about the history of the city of Rome"
    parts = [
        speak(first, "en", tmp_path / "a.wav"),
        # The reply (several seconds of speech) starts about a second after the caller stops;
        # the caller cuts in 2.5 s later.
        silence(tmp_path / "gap.wav", 2.5, rate=22050),
        speak("Stop, stop, wait a moment please", "en", tmp_path / "b.wav"),
        silence(tmp_path / "tail.wav", 1.0, rate=22050),
    ]
    wav = tmp_path / "barge_in.wav"
    subprocess.run(["sox", *map(str, parts), str(wav)], check=True)
    fake_openai.control(transcripts=[first, "Stop, stop, wait a moment please"])
    proc = run_call(wav, tmp_path / "out.wav", "en", openai_env(fake_openai), timeout=180)
    assert proc.returncode == 0, proc.stderr
    full_reply = reply_for([as_sent(first)])
    cut = re.search(r"^agent \(interrupted\): (.*)$", proc.stdout, re.M)
    assert cut, proc.stdout
    heard = cut.group(1)
    assert len(heard) < len(full_reply) and full_reply.startswith(heard.rstrip(".… ")), (heard, full_reply)
    # The LLM's next request carries the truncated reply, not the full text it had generated.
    sent = fake_openai.stats()["last_chat_messages"]
    assistant = [m["content"] for m in sent if m["role"] == "assistant"]
    assert assistant and full_reply not in assistant, assistant
