"""The reply's text on its way to the voice: markdown marks dropped without holding Mandarin back.

livekit-agents' ``filter_markdown`` keeps text until a space or a punctuation mark, so that it sees whole
emphasis runs before it strips them. Mandarin has no spaces: a Mandarin clause reached the TTS only at
its comma, all at once, and its first piece could not be cut after a few characters
(``TTS_FIRST_PIECE_CHARS``). A Mandarin reply therefore passes token by token with the marks a voice
would read out (* ` ~ # _) dropped; every other reply goes through livekit-agents' filter as before.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator

from livekit.agents.voice.transcription.filters import filter_markdown

from agent_worker.persona import language_of

_MARKS = re.compile(r"[*`~#_]+")
_LEADING_MARKER = re.compile(r"^\s*(?:[-+>]|\d+[.)])\s+")  # a list item or a quote opening the reply


async def filter_markdown_streaming(text: AsyncIterable[str]) -> AsyncIterator[str]:
    chunks = text.__aiter__()
    head = ""
    async for chunk in chunks:  # the reply's first words decide its language
        head += chunk
        if any(ch.isalpha() for ch in head):  # Han characters are letters too
            break
    if language_of(head) != "zh":
        async for out in filter_markdown(_rejoined(head, chunks)):
            yield out
        return
    yield _MARKS.sub("", _LEADING_MARKER.sub("", head))
    async for chunk in chunks:
        yield _MARKS.sub("", chunk)


async def _rejoined(head: str, rest: AsyncIterator[str]) -> AsyncIterator[str]:
    if head:
        yield head
    async for chunk in rest:
        yield chunk
