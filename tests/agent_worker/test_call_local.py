"""The whole voice loop on the offline defaults: the local model server behind livekit-plugins-openai.

Callers speak with the neural voices (a Mandarin caller never with espeak-ng); the agent's reply audio
is re-transcribed to check that a listener can follow it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PYTHON, ROOT, local_env, worker_env
from tests.support.audio import read_wav, voiced_seconds
from tests.support.model_server import ModelServer
from tests.support.stack import free_port
from tests.support.transcribe import sounds_heard, syllables_heard, transcribe
from tests.support.voices import speak_natural

pytestmark = pytest.mark.slow


def call(
    wav: Path, out: Path, lang: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "agent_worker", "call", "--in", str(wav), "--out", str(out), "--lang", lang],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# The reply is sampled greedily so that it is the same words in every run: what is checked is how clearly
# the voice says a reply, and at the default temperature a short reply or an unusual name now and then
# makes one call's overlap a draw (seen: "简称“京”" heard as "简称精", 0.67). The callers' questions
# are ones Whisper base hears whole through the call's VAD and STT stream ("请问北京是中国的首都吗" was
# heard "……首都马", and the model answered about a horse or Jack Ma).
GREEDY = {"LLM_TEMPERATURE": "0", "LLM_SEED": "1"}


@pytest.mark.parametrize(
    ("lang", "said", "keys"),
    [
        ("en", "What is the capital of France?", ["capital", "france"]),
        ("zh", "晚饭吃什么比较健康？", ["晚饭", "健康"]),
    ],
)
def test_local_call_hears_answers_and_speaks_clearly(
    tmp_path: Path, model_server: ModelServer, lang: str, said: str, keys: list[str]
) -> None:
    wav = speak_natural(said, lang, tmp_path / "caller.wav")  # type: ignore[arg-type]
    out = tmp_path / "reply.wav"
    proc = call(wav, out, lang, local_env(model_server, **GREEDY))
    assert proc.returncode == 0, proc.stderr
    user = re.search(r"^user: (.+)$", proc.stdout, re.M)
    agent = re.search(r"^agent: (.+)$", proc.stdout, re.M)
    assert user and agent, proc.stdout
    assert all(k in user.group(1).lower() for k in keys), user.group(1)
    reply = agent.group(1)
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", reply), "a Mandarin caller is answered in Mandarin"
    else:
        assert not re.search(r"[\u4e00-\u9fff]", reply), "an English caller is answered in English"
    assert re.search(r"^metrics: turn=1 .*voice_to_voice=\d", proc.stdout, re.M)
    samples, rate = read_wav(out)
    assert voiced_seconds(samples, rate) > 0.5
    # The agent's own voice, heard again by Whisper: a listener can follow what it said.
    heard = transcribe(samples, rate, lang)
    # What is heard, as a listener hears it: Mandarin syllables (Whisper base writes homophones: a reply
    # naming "全谷物、糙米…富含纤维" came back 0.78 by characters, 0.98 by syllables), English letters.
    if lang == "zh":
        assert syllables_heard(reply, heard) >= 0.85, (reply, heard)
    else:
        assert sounds_heard(reply, heard) >= 0.85, (reply, heard)  # letters, word boundaries ignored


def test_call_starts_a_model_server_when_none_runs(tmp_path: Path) -> None:
    wav = speak_natural("Hello, can you hear me?", "en", tmp_path / "caller.wav")
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    proc = call(wav, tmp_path / "reply.wav", "en", worker_env(LOCAL_MODEL_URL=nobody))
    assert proc.returncode == 0, proc.stderr
    assert "no model server running: starting one" in proc.stderr
    assert "loading models (2/3): language model" in proc.stderr  # loading shows progress
    assert re.search(r"^agent: .+$", proc.stdout, re.M), proc.stdout


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"LOCAL_MODEL_API_KEY": "wrong-key"},
            "configuration error: LOCAL_MODEL_API_KEY: the model server at ",
        ),
        (
            {"LOCAL_LLM_MODEL": "llama-99b"},
            "configuration error: LOCAL_LLM_MODEL: 'llama-99b' is not served by ",
        ),
    ],
)
def test_worker_refuses_to_start_with_a_misconfigured_model_server(
    model_server: ModelServer, env: dict[str, str], line: str
) -> None:
    proc = subprocess.run(
        [PYTHON, "-m", "agent_worker", "start"],
        env=local_env(model_server, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().startswith(line), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_worker_refuses_to_start_when_no_model_server_answers() -> None:
    nobody = f"http://127.0.0.1:{free_port()}/v1"
    proc = subprocess.run(
        [PYTHON, "-m", "agent_worker", "start"],
        env=worker_env(LOCAL_MODEL_URL=nobody),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"configuration error: LOCAL_MODEL_URL: no model server answers at {nobody} "
        "(start one with: python -m infra.model_server, or ./scripts/run.sh)"
    )


def test_what_a_listener_heard_is_cut_at_long_pauses_only() -> None:
    import numpy as np

    from tests.support.transcribe import speech_stretches

    rate = 16_000
    tone = (0.1 * np.sin(np.arange(rate) * 2 * np.pi * 200 / rate)).astype(np.float32)  # 1 s
    gap = np.zeros(int(0.8 * rate), np.float32)
    short = np.zeros(int(0.2 * rate), np.float32)
    parts = speech_stretches(np.concatenate([gap, tone, short, tone, gap, tone, gap]), rate)
    # a 0.2 s pause stays inside a stretch, a 0.8 s one splits; each keeps 0.1 s of margin
    assert [round(p.size / rate, 1) for p in parts] == [2.4, 1.2]
