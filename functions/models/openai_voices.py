"""OpenAI's text-to-speech voice names: the worker checks OPENAI_TTS_VOICE against them, and the local model
server takes any of them to mean "the voice for the text's script". Pure stdlib: both images import it."""

from __future__ import annotations

OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
    | {"marin", "cedar"}
)
