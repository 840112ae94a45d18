"""The assistant a call runs, as operators defined it (functions API ``/assistants``), applied to the call.

The dispatch names an assistant id and version; the worker fetches that version (signed, like the
session log) and keeps it: a version never changes once written, so the copy in memory and on disk is
good for ever, and an edit made during a call never reaches that call. A call never breaks on it: when
the API cannot be reached in ASSISTANT_FETCH_TIMEOUT and the version is not cached, or the dispatch names
no version (a token from before assistants), the call runs the built-in persona and the session log says
so (version ``None``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from agent_worker.files import write_atomically
from agent_worker.persona import Persona, get_persona, spoken_persona
from agent_worker.settings import Language, Provider, WorkerSettings
from functions.models.assistant import Assistant
from functions.models.dispatch import AgentDispatchMetadata
from functions.models.signing import signed_headers

logger = logging.getLogger("voicecall.assistants")

_MEMORY: dict[tuple[str, int], Assistant] = {}


@dataclass(frozen=True)
class CallAssistant:
    """What a call runs: the persona, the settings as the assistant changes them, and where they came
    from (``version`` None: the built-in persona)."""

    assistant_id: str
    version: int | None
    persona: Persona
    settings: WorkerSettings
    recording: bool = False

    @property
    def ran(self) -> str:
        """As the session log records it: ``<id>@<version>``, or ``built-in``."""
        return f"{self.assistant_id}@{self.version}" if self.version is not None else "built-in"


def assistant_path(assistant_id: str, version: int) -> str:
    return f"/agent/assistants/{assistant_id}/versions/{version}"


class AssistantSource:
    """Fetches assistant versions from the functions API, through a memory and a disk cache."""

    def __init__(self, settings: WorkerSettings) -> None:
        self._settings = settings
        self._dir = settings.assistant_cache_dir

    def _file(self, assistant_id: str, version: int) -> Path:
        return self._dir / f"{assistant_id}@{version}.json"

    async def get(self, assistant_id: str, version: int) -> Assistant | None:
        key = (assistant_id, version)
        if key in _MEMORY:
            return _MEMORY[key]
        found = self._read_disk(assistant_id, version) or await self._fetch(assistant_id, version)
        if found is not None:
            _MEMORY[key] = found
        return found

    def _read_disk(self, assistant_id: str, version: int) -> Assistant | None:
        path = self._file(assistant_id, version)
        try:
            return Assistant.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValidationError) as exc:  # a torn or outdated file: fetch it again
            logger.warning("assistant cache %s unreadable (%s): fetching it again", path.name, exc)
            return None

    def _write_disk(self, assistant: Assistant) -> None:
        try:
            path = self._file(assistant.assistant_id, assistant.version)
            write_atomically(path, assistant.model_dump_json().encode())
        except OSError as exc:
            logger.warning("assistant cache not written (%s): it stays in memory", exc)

    async def _fetch(self, assistant_id: str, version: int) -> Assistant | None:
        api = self._settings.functions_api_url
        if not api:
            return None
        path = assistant_path(assistant_id, version)
        headers = signed_headers(self._settings.session_log_key(), b"", method="GET", path=path)
        try:
            async with httpx.AsyncClient(timeout=self._settings.assistant_fetch_timeout) as client:
                resp = await client.get(api.rstrip("/") + path, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("assistant %s v%s not fetched (%s)", assistant_id, version, type(exc).__name__)
            return None
        if resp.status_code != 200:
            logger.warning("assistant %s v%s not fetched (HTTP %s)", assistant_id, version, resp.status_code)
            return None
        try:
            assistant = known_fields(resp.json())
        except (ValueError, ValidationError) as exc:
            logger.warning("assistant %s v%s unreadable: %s", assistant_id, version, exc)
            return None
        self._write_disk(assistant)
        return assistant


def known_fields(body: object) -> Assistant:
    """An API newer than this worker may return more fields: they are left out, not a refusal."""
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return Assistant.model_validate({k: v for k, v in body.items() if k in Assistant.model_fields})


async def call_assistant(settings: WorkerSettings, meta: AgentDispatchMetadata) -> CallAssistant:
    """The assistant for this call's dispatch, or the built-in persona when it cannot be had."""
    if meta.assistant_version is not None:
        found = await AssistantSource(settings).get(meta.assistant_id, meta.assistant_version)
        if found is not None:
            return applied(settings, found, meta.language)
        logger.warning(
            "assistant %s v%s unavailable: the call runs the built-in persona",
            meta.assistant_id,
            meta.assistant_version,
        )
    return CallAssistant(
        assistant_id=meta.assistant_id,
        version=None,
        persona=get_persona(meta.persona or settings.persona),
        settings=settings,
    )


def applied(settings: WorkerSettings, assistant: Assistant, language: Language) -> CallAssistant:
    return CallAssistant(
        assistant_id=assistant.assistant_id,
        version=assistant.version,
        persona=spoken_persona(
            f"{assistant.assistant_id}@{assistant.version}", assistant.instructions, assistant.greeting
        ),
        settings=settings_for(settings, assistant, language),
        recording=assistant.recording,
    )


def settings_for(settings: WorkerSettings, assistant: Assistant, language: Language) -> WorkerSettings:
    """The worker's settings with the assistant's choices for this call. A choice the configured
    provider cannot take (an OpenAI voice name on Azure, say) is left out with a warning, never the
    call."""
    update: dict[str, Any] = {}
    # One language offered: recognise only it (bilingual detection could only mishear).
    update["language_mode"] = "fixed" if len(assistant.languages) == 1 else assistant.language_mode
    if assistant.temperature is not None:
        update["llm_temperature"] = assistant.temperature
    if assistant.llm_model:
        field = "local_llm_model" if settings.llm_provider is Provider.LOCAL else "openai_llm_model"
        update[field] = assistant.llm_model
    if assistant.idle_timeout_s is not None:
        update["caller_idle_timeout"] = float(assistant.idle_timeout_s)
    if assistant.max_call_s is not None:
        update["max_call_duration"] = float(assistant.max_call_s)
    chosen = _checked(settings, update)
    voices = _voice_fields(settings, assistant.voices, language)
    return _checked(chosen, voices) if voices else chosen


def _voice_fields(
    settings: WorkerSettings, voices: dict[Language, str], language: Language
) -> dict[str, Any]:
    """The TTS provider's voice settings. A bilingual call on one voice setting (local, OpenAI) speaks
    with the call language's voice; the local server's ``auto`` follows each reply's script."""
    if settings.tts_provider is Provider.AZURE:
        return {f"azure_voice_{lang}": voice for lang, voice in voices.items()}
    voice = voices.get(language)
    if voice is None:
        return {}
    return {"openai_tts_voice" if settings.tts_provider is Provider.OPENAI else "local_tts_voice": voice}


def _checked(settings: WorkerSettings, update: dict[str, Any]) -> WorkerSettings:
    if not update:
        return settings
    try:
        # validated as a whole (the provider checks run again); model_copy alone would not check
        return WorkerSettings.model_validate({**settings.model_dump(), **update})
    except ValidationError as exc:
        logger.warning("assistant settings %s not applied: %s", sorted(update), _one_line(exc))
        return settings


def _one_line(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]) for e in exc.errors())
