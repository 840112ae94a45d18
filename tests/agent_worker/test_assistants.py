"""The assistant a call runs: the operator's choices applied to the worker's settings, the built-in
persona when the API cannot be had, and the seeded default equal to the built-in one."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from agent_worker import assistants
from agent_worker.assistants import AssistantSource, call_assistant, settings_for
from agent_worker.persona import BUILT_IN_ROLES, PERSONAS
from agent_worker.settings import WorkerSettings
from functions.models.assistant import Assistant
from functions.models.dispatch import AgentDispatchMetadata
from tests.support.stack import free_port

ROOT = Path(__file__).resolve().parents[2]


def assistant(**fields: object) -> Assistant:
    base: dict[str, object] = {
        "assistant_id": "asst-0123456789ab",
        "version": 3,
        "archived": False,
        "created_at": "2026-12-01T00:00:00.000000Z",
        "updated_at": "2026-12-02T00:00:00.000000Z",
        "name": "Clinic",
        "instructions": {"en": "You book appointments for a dental clinic."},
        "greeting": {"en": "Smile Dental, how can I help?"},
        "languages": ["en"],
    }
    return Assistant.model_validate({**base, **fields})


@pytest.fixture(autouse=True)
def _empty_memory() -> None:
    assistants._MEMORY.clear()


def test_the_seeded_default_is_the_built_in_persona() -> None:
    seeded = json.loads((ROOT / "functions" / "default_assistant.json").read_text("utf-8"))
    roles, greetings = BUILT_IN_ROLES["default"]
    assert seeded["instructions"] == roles and seeded["greeting"] == greetings


def test_an_assistant_changes_only_what_it_sets() -> None:
    base = WorkerSettings(functions_api_url=None)
    one = settings_for(base, assistant(temperature=0.1, llm_model="qwen2.5-0.5b", idle_timeout_s=30), "en")
    assert (one.llm_temperature, one.local_llm_model, one.caller_idle_timeout) == (0.1, "qwen2.5-0.5b", 30.0)
    assert one.language_mode == "fixed", "one language offered: only it is recognised"
    assert one.max_call_duration == base.max_call_duration and one.memory_turns == base.memory_turns
    both = settings_for(
        base,
        assistant(
            languages=["en", "zh"],
            instructions={"en": "x", "zh": "你好"},
            greeting={"en": "Hi", "zh": "你好"},
            voices={"zh": "zh-baker"},
            max_call_s=120,
        ),
        "zh",
    )
    assert (both.language_mode, both.local_tts_voice, both.max_call_duration) == (
        "bilingual",
        "zh-baker",
        120.0,
    )


def test_a_voice_the_provider_cannot_take_is_left_out_not_the_call() -> None:
    base = WorkerSettings(functions_api_url=None, tts_provider="openai", openai_api_key="sk-test")
    chosen = settings_for(base, assistant(voices={"en": "not-an-openai-voice"}, temperature=1.5), "en")
    assert chosen.openai_tts_voice == base.openai_tts_voice
    assert chosen.llm_temperature == 1.5, "the rest of the assistant still applies"


def test_the_persona_carries_the_operators_words_and_the_spoken_rules() -> None:
    found = assistants.applied(WorkerSettings(functions_api_url=None), assistant(), "en")
    persona = found.persona
    assert persona.instructions("en").startswith("You book appointments for a dental clinic. Talk like")
    assert persona.greeting("en") == "Smile Dental, how can I help?"
    # a Mandarin turn of an English-only assistant still has instructions (the English ones)
    assert persona.instructions("zh").startswith("You book appointments")
    assert (found.assistant_id, found.version) == ("asst-0123456789ab", 3)


def test_an_unreachable_api_gives_the_built_in_persona_in_time(tmp_path: Path) -> None:
    settings = WorkerSettings(
        functions_api_url=f"http://127.0.0.1:{free_port()}",
        assistant_cache_dir=tmp_path,
        assistant_fetch_timeout=1.0,
    )
    meta = AgentDispatchMetadata(language="en", assistant_id="asst-0123456789ab", assistant_version=3)
    t0 = time.monotonic()
    found = asyncio.run(call_assistant(settings, meta))
    assert found.version is None and found.persona == PERSONAS["default"]
    assert time.monotonic() - t0 < 2.0


def test_a_version_once_fetched_is_kept_on_disk(tmp_path: Path) -> None:
    kept = assistant()
    (tmp_path / "asst-0123456789ab@3.json").write_text(kept.model_dump_json(), "utf-8")
    settings = WorkerSettings(
        functions_api_url=f"http://127.0.0.1:{free_port()}", assistant_cache_dir=tmp_path
    )
    found = asyncio.run(AssistantSource(settings).get("asst-0123456789ab", 3))
    assert found == kept
    # a torn file is not trusted: fetched again (here: unreachable, so None)
    (tmp_path / "asst-0123456789ab@3.json").write_text('{"assistant_id": "asst-01', "utf-8")
    assistants._MEMORY.clear()
    assert asyncio.run(AssistantSource(settings).get("asst-0123456789ab", 3)) is None


def test_a_dispatch_without_a_version_runs_the_persona_it_names(tmp_path: Path) -> None:
    settings = WorkerSettings(functions_api_url=None, assistant_cache_dir=tmp_path)
    found = asyncio.run(call_assistant(settings, AgentDispatchMetadata(language="zh", persona="tutor")))
    assert found.version is None and found.persona == PERSONAS["tutor"]
