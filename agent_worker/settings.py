"""The worker's configuration: one typed object read from the environment (and an optional .env).

Everything that differs between a laptop and production is a field here; nothing else reads os.environ.
Invalid combinations fail at start-up with one line naming the setting (see ``config_error_line``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.models.openai_voices import OPENAI_VOICES
from functions.models.secret_policy import api_key_problem, is_loopback_url, secret_problem

Language = Literal["zh", "en"]

# Azure neural voice names look like "zh-CN-XiaoxiaoNeural"; the locale must match the language it serves.
_AZURE_VOICE = re.compile(
    r"^(?P<locale>[a-z]{2,3}-[A-Z]{2}(?:-[A-Za-z]+)?)-[A-Za-z]+(?:Multilingual)?Neural(?:HD)?$"
)


# livekit-agents' streaming turn detector needs the VAD to report silences of at least 0.25 s.
MODEL_MIN_VAD_SILENCE = 0.25


class Provider(StrEnum):
    LOCAL = "local"
    OPENAI = "openai"
    AZURE = "azure"


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # LiveKit (a dev SFU locally, LiveKit Cloud or livekit-server in production)
    livekit_url: str = "ws://127.0.0.1:7880"
    livekit_api_key: str = "devkey"
    livekit_api_secret: SecretStr = SecretStr("secret")
    agent_name: str = Field("voicecall-agent", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    worker_http_host: str = "127.0.0.1"
    worker_http_port: int = Field(8081, ge=0, le=65535, description="health/metrics HTTP port; 0 = any")
    idle_processes: int = Field(1, ge=0, le=32, description="prewarmed job processes kept ready")
    process_init_timeout: float = Field(
        120.0, gt=0, description="seconds a job process may take to load models"
    )
    job_executor: Literal["process", "thread"] = Field(
        "process", description="process: each call in its own process; thread: all calls in this one"
    )
    load_threshold: float = Field(
        0.7, gt=0.0, le=1.0, description="CPU load (0..1) above which the worker takes no new calls"
    )

    # Providers per stage; any mix is allowed
    stt_provider: Provider = Provider.LOCAL
    llm_provider: Provider = Provider.LOCAL
    tts_provider: Provider = Provider.LOCAL
    fallback_to_local: bool = Field(True, description="wrap cloud stages in fallback adapters to local")

    # Conversation
    default_language: Language = "en"
    language_mode: Literal["fixed", "bilingual"] = Field(
        "bilingual", description="fixed: recognise only the call's language; bilingual: zh or en per turn"
    )
    persona: str = Field("default", pattern=r"^[a-z0-9_-]{1,32}$")
    memory_turns: int = Field(10, ge=1, le=200, description="user+agent turns kept in the LLM context")
    max_reply_tokens: int = Field(120, ge=16, le=2048)
    llm_temperature: float = Field(0.6, ge=0.0, le=2.0)
    llm_seed: int | None = Field(
        None, ge=0, le=2**31 - 1, description="fixed sampling seed (reproducible tests); unset in production"
    )
    llm_prefill: bool = Field(
        True, description="local LLM: read the instructions into the server's prompt cache at call start"
    )
    llm_reply_grammar: bool = Field(
        True,
        description="local LLM: hold each reply to the script of the caller's language with a llama.cpp "
        "grammar (GBNF); off for an OpenAI-compatible server that does not take `grammar`",
    )
    llm_dry_multiplier: float = Field(
        0.8,
        ge=0.0,
        le=5.0,
        description="local LLM: llama.cpp's DRY sampler against a reply copying a run of its context (the "
        "caller's question, an earlier reply's opening); 0: off",
    )
    # The first audio of a reply after this many English words / Mandarin characters, not at the end of
    # its first clause (often 15+ words, 10+ characters); 0 = cut at clauses only.
    # docs/offline-models.md, speech synthesis.
    tts_first_piece_words: int = Field(4, ge=0, le=50)
    tts_first_piece_chars: int = Field(4, ge=0, le=50)

    # Local STT (agent_worker/stt_stream.py): interim transcripts every this many seconds of speech
    # (0: none), and the final decode started after this much silence instead of at the end (0: off).
    # Unset, interims come with the transcript turn detector, which reads each one ahead (in the call's
    # conversation, so into the reply's prompt cache): at the end of the turn it then reads only the
    # last words (docs/benchmarks.md, endpointing). Without it they would feed the reply's prompt
    # warm-up, which on two CPU cores still ran when the caller stopped (the final transcript took 1.9 s
    # instead of 0.46 s): off there unless set.
    stt_interim_interval: float | None = Field(None, ge=0.0, le=10.0)
    # One VAD window (32 ms) below its threshold: Silero's probability stays high for 0.1 s after the
    # last sound, so counting 0.1 s of silence on top started the decode 0.24-0.29 s after the words.
    stt_early_final_after: float = Field(0.03, ge=0.0, le=2.0)

    # Turn taking (livekit-agents TurnHandlingOptions). "model": LiveKit's turn detector v1-mini, which
    # runs offline in-process (never LiveKit Cloud: the version is always given) and scores, 0.2 s into a
    # silence, whether the caller's last 1.2 s of audio ended a turn; below the threshold for the language
    # of the caller's transcript the turn waits MAX_ENDPOINTING_DELAY, otherwise MIN_ENDPOINTING_DELAY.
    # "vad": silence alone ends the turn after MIN_ENDPOINTING_DELAY. The defaults are the endpointing
    # benchmark's (docs/benchmarks.md): per language the highest threshold that keeps the median
    # end-of-utterance delay within 0.6 s and within 0.1 s of silence alone's, and a long wait that holds
    # a 0.9 s pause while a misjudged end costs 1.2 s. A low threshold fails towards silence alone.
    # "transcript": the local model server's language model reads the caller's words so far, in the
    # call's conversation as the reply will send it, and says how likely the sentence ends there
    # (agent_worker/transcript_turns.py; the reply then finds those words in the server's prompt
    # cache); below TURN_TRANSCRIPT_THRESHOLD_ZH/_EN (by the transcript's language; any other: the
    # lower) the turn waits MAX_ENDPOINTING_DELAY. English is higher: in a conversation a complete clause
    # ("I have been sleeping badly lately") scores 0.4-0.6 at its comma, a sentence's end 0.6-1.0; in
    # Mandarin pauses score under 0.05, sentence ends 0.2-1.0. "auto" (the default): "transcript" where
    # the replies come from the local model server (it is there anyway), "model" with a cloud LLM.
    # Measured: docs/benchmarks.md, endpointing.
    turn_detection: Literal["auto", "model", "vad", "transcript"] = "auto"
    turn_transcript_threshold_zh: float = Field(0.2, gt=0.0, lt=1.0)
    turn_transcript_threshold_en: float = Field(0.6, gt=0.0, lt=1.0)
    turn_threshold_zh: float | None = Field(0.25, gt=0.0, lt=1.0, description="None: the model's own (0.355)")
    turn_threshold_en: float | None = Field(0.40, gt=0.0, lt=1.0, description="None: the model's own (0.36)")
    # Unset: 0.3 s with the transcript detector (it holds the pauses itself, and its answer, not the
    # silence, then ends the turn), 0.5 s with v1-mini or silence alone (docs/benchmarks.md, endpointing).
    min_endpointing_delay: float | None = Field(None, ge=0.0, le=5.0)
    max_endpointing_delay: float = Field(1.2, ge=0.1, le=30.0)
    allow_interruptions: bool = True
    min_interruption_duration: float = Field(0.5, ge=0.0, le=5.0)
    false_interruption_timeout: float | None = Field(2.0, ge=0.1, le=30.0)
    resume_false_interruption: bool = True
    preemptive_generation: bool = True
    vad_min_silence_duration: float = Field(0.4, ge=0.05, le=3.0)
    aec_warmup_duration: float | None = Field(
        1.0, ge=0.0, le=10.0, description="seconds after the agent first speaks when barge-in is off"
    )

    # OpenAI (or any OpenAI-compatible server through OPENAI_BASE_URL)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_llm_model: str = "gpt-4.1-mini"
    openai_stt_model: str = "gpt-4o-mini-transcribe"
    openai_tts_model: str = "gpt-4o-mini-tts"
    openai_tts_voice: str = "alloy"

    # Azure Speech
    azure_speech_key: SecretStr | None = None
    azure_speech_region: str | None = None
    azure_speech_endpoint: str | None = None
    azure_voice_en: str = "en-US-JennyNeural"
    azure_voice_zh: str = "zh-CN-XiaoxiaoNeural"

    # The local model server (python -m infra.model_server; the offline default): OpenAI API, so any
    # OpenAI-compatible server (vLLM, Ollama, speaches, a bigger GGUF) is a change of these settings.
    local_model_url: str = "http://127.0.0.1:8100/v1"
    local_model_api_key: SecretStr = SecretStr("dev-model-server-key")
    local_llm_model: str = Field("qwen2.5-1.5b", min_length=1)
    local_stt_model: str = Field("whisper-base", min_length=1)
    local_tts_model: str = Field("local-tts", min_length=1)
    local_tts_voice: str = Field("auto", min_length=1, description="auto: the voice for each text's script")

    # Telemetry to the functions API
    functions_api_url: str | None = "http://127.0.0.1:3000"
    session_log_secret: SecretStr = SecretStr("dev-session-log-secret")
    # A file holding the secret instead (a mounted Kubernetes Secret, which is updated in place when it
    # is rotated). Read again, like the environment and .env, whenever the API answers 401/403.
    session_log_secret_file: Path | None = None
    telemetry_spool_dir: Path = Path("var/telemetry-spool")
    telemetry_batch_size: int = Field(20, ge=1, le=100)
    telemetry_flush_interval: float = Field(1.0, gt=0, le=60)
    telemetry_spool_flush_interval: float = Field(
        5.0, gt=0, le=300, description="seconds between re-sends of the spool while the worker runs"
    )

    # Greetings, goodbyes and apologies: synthesised once per voice into this directory (shared by the
    # job processes) and replayed from it (agent_worker/phrase_cache.py).
    phrase_cache: bool = True
    phrase_cache_dir: Path = Path("var/phrase-cache")

    # After a call the LLM writes a two-sentence summary and tags (agent_worker/call_summary.py), within
    # this time (livekit-agents' on_session_end; the job's process is busy until then).
    call_summary: bool = True
    call_summary_timeout: float = Field(60.0, gt=0, le=600)

    # The assistant a call runs (agent_worker/assistants.py): fetched by the version its dispatch names,
    # within this time (the call waits for it before greeting), and kept here for good (versions do not
    # change). Unreachable and not kept: the built-in persona.
    assistant_fetch_timeout: float = Field(3.0, gt=0, le=9.0)
    assistant_cache_dir: Path = Path("var/assistant-cache")

    # Calls of an assistant that records them (agent_worker/call_recording.py): the Ogg/Opus file is
    # uploaded after the call within this time.
    recording_upload_timeout: float = Field(30.0, gt=0, le=600)

    # ---- Call limits and ownership (docs/security.md, "A caller owns their call") ----
    # A silent caller (both sides listening: livekit-agents' user_away_timeout) or a call past its
    # maximum length gets a short goodbye in the call's language, then the call ends for everyone; the
    # reason ("caller idle", "max length", "caller left", "agent error") goes to the session log.
    caller_idle_timeout: float | None = Field(
        60.0, gt=0, le=3600, description="seconds of silence from the caller before goodbye; None: never"
    )
    max_call_duration: float | None = Field(
        1800.0, gt=0, le=86_400, description="seconds a call may last before goodbye; None: unlimited"
    )
    goodbye_timeout: float = Field(15.0, gt=0, le=120, description="seconds the goodbye may take at most")
    # Before accepting a dispatched job the worker claims its call from the functions API (one agent
    # job per call, none for a call that ended); without an answer in this time the job is declined
    # (livekit-server waits 10 s for a worker's answer; a Lambda cold start can take several seconds).
    call_claim_timeout: float = Field(8.0, gt=0, le=9.0)

    @model_validator(mode="after")
    def _check_providers(self) -> WorkerSettings:
        stages = {
            "STT_PROVIDER": self.stt_provider,
            "LLM_PROVIDER": self.llm_provider,
            "TTS_PROVIDER": self.tts_provider,
        }
        if self.llm_provider == Provider.AZURE:
            raise ValueError("LLM_PROVIDER: azure offers speech only; choose local or openai")
        for env, provider in stages.items():
            if provider is Provider.OPENAI and not self.openai_api_key:
                raise ValueError(f"OPENAI_API_KEY: required when {env}=openai")
            if provider is Provider.AZURE and not self.azure_speech_key:
                raise ValueError(f"AZURE_SPEECH_KEY: required when {env}=azure")
            if provider is Provider.AZURE and not (self.azure_speech_region or self.azure_speech_endpoint):
                raise ValueError(f"AZURE_SPEECH_REGION: required (or AZURE_SPEECH_ENDPOINT) when {env}=azure")
        if self.tts_provider is Provider.OPENAI and self.openai_tts_voice not in OPENAI_VOICES:
            raise ValueError(
                f"OPENAI_TTS_VOICE: unknown voice {self.openai_tts_voice!r}; one of {sorted(OPENAI_VOICES)}"
            )
        if self.tts_provider is Provider.AZURE:
            for env, voice, prefix in (
                ("AZURE_VOICE_EN", self.azure_voice_en, "en-"),
                ("AZURE_VOICE_ZH", self.azure_voice_zh, "zh-"),
            ):
                m = _AZURE_VOICE.match(voice)
                if not m or not m.group("locale").startswith(prefix):
                    raise ValueError(
                        f"{env}: {voice!r} is not an Azure neural voice for {prefix[:-1]} "
                        f"(e.g. {'en-US-JennyNeural' if prefix == 'en-' else 'zh-CN-XiaoxiaoNeural'})"
                    )
        if problems := self._secret_problems():
            raise ValueError("; ".join(problems))
        if self.endpointing_min_delay > self.max_endpointing_delay:
            raise ValueError("MIN_ENDPOINTING_DELAY: must not exceed MAX_ENDPOINTING_DELAY")
        if self.turn_detector_kind == "model" and self.vad_min_silence_duration < MODEL_MIN_VAD_SILENCE:
            # livekit-agents refuses it at the first call; say so at start-up instead
            raise ValueError(
                f"VAD_MIN_SILENCE_DURATION: at least {MODEL_MIN_VAD_SILENCE} s with TURN_DETECTION=model "
                "(the turn detector is asked 0.2 s into a silence)"
            )
        return self

    def uses_local_server(self) -> bool:
        stages = (self.stt_provider, self.llm_provider, self.tts_provider)
        return self.fallback_to_local or Provider.LOCAL in stages or self.turn_detector_kind == "transcript"

    @property
    def endpointing_min_delay(self) -> float:
        """MIN_ENDPOINTING_DELAY, or its default for the turn detector in use."""
        if self.min_endpointing_delay is not None:
            return self.min_endpointing_delay
        return 0.3 if self.turn_detector_kind == "transcript" else 0.5

    @property
    def interim_interval(self) -> float:
        """STT_INTERIM_INTERVAL, or its default for the turn detector in use."""
        if self.stt_interim_interval is not None:
            return self.stt_interim_interval
        return 1.0 if self.turn_detector_kind == "transcript" else 0.0

    @property
    def turn_detector_kind(self) -> Literal["model", "vad", "transcript"]:
        return resolve_turn_detection(self.turn_detection, self.llm_provider)

    @property
    def public_endpoints(self) -> list[str]:
        """The settings naming addresses outside loopback the worker sends a secret to. Only with none
        are development secrets acceptable (functions/models/secret_policy.py, one rule for all)."""
        urls = [("LIVEKIT_URL", self.livekit_url), ("FUNCTIONS_API_URL", self.functions_api_url)]
        if self.uses_local_server():
            urls.append(("LOCAL_MODEL_URL", self.local_model_url))
        return [name for name, url in urls if url and not is_loopback_url(url)]  # empty: not used

    @property
    def all_endpoints_local(self) -> bool:
        return not self.public_endpoints

    def session_log_key(self) -> str:
        """The session-log secret from where it is configured (SESSION_LOG_SECRET_FILE wins)."""
        if self.session_log_secret_file is not None:
            return self.session_log_secret_file.read_text(encoding="utf-8").strip()
        return self.session_log_secret.get_secret_value()

    def _secret_problems(self) -> list[str]:
        """Fail closed: an empty secret anywhere, or outside loopback a development default or one
        shorter than 32 bytes, names its setting (never its value)."""
        public = self.public_endpoints
        local = not public
        found: list[tuple[str, str | None]] = [
            ("LIVEKIT_API_KEY", api_key_problem(self.livekit_api_key, local=local)),
            ("LIVEKIT_API_SECRET", secret_problem(self.livekit_api_secret.get_secret_value(), local=local)),
        ]
        if self.functions_api_url:
            if self.session_log_secret_file is not None:
                try:
                    key = self.session_log_key()
                except OSError as exc:
                    found.append(("SESSION_LOG_SECRET_FILE", f"cannot be read ({exc.strerror})"))
                else:
                    found.append(("SESSION_LOG_SECRET_FILE", secret_problem(key, local=local)))
            else:
                found.append(("SESSION_LOG_SECRET", secret_problem(self.session_log_key(), local=local)))
        if self.uses_local_server():
            key = self.local_model_api_key.get_secret_value()
            found.append(("LOCAL_MODEL_API_KEY", secret_problem(key, local=local)))
        where = f" (not loopback: {', '.join(public)})" if public else ""
        return [f"{name}: {problem}{where}" for name, problem in found if problem is not None]

    def providers(self) -> dict[str, str]:
        return {
            "stt": self.stt_provider.value,
            "llm": self.llm_provider.value,
            "tts": self.tts_provider.value,
        }


def config_error_line(exc: ValidationError) -> str:
    """One readable line per problem, naming the environment variable."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]).upper()
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "configuration error: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> WorkerSettings:
    return WorkerSettings()


def reload_session_log_secret() -> str:
    """The session-log secret as configured now: the environment, .env and SESSION_LOG_SECRET_FILE read
    again (a rotation replaces the file or the .env); invalid settings raise, and the caller keeps its
    secret."""
    return WorkerSettings().session_log_key()


def resolve_turn_detection(
    mode: Literal["auto", "model", "vad", "transcript"], llm_provider: Provider
) -> Literal["model", "vad", "transcript"]:
    """TURN_DETECTION=auto: the transcript detector where the local model server answers anyway."""
    if mode != "auto":
        return mode
    return "transcript" if llm_provider is Provider.LOCAL else "model"
