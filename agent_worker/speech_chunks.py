"""Where a streamed reply is cut into pieces for a non-streaming TTS: at clauses, not whole sentences.

livekit-agents' default tokenizer waits for a sentence of 20+ characters plus context before the first
synthesis; a local model writing 5–7 tokens a second takes seconds to get there in Mandarin. Cutting at
the first clause ("好的，" / "Sure," ) lets the caller hear the agent while the model is still writing.
"""

from __future__ import annotations

import re

from livekit.agents import tokenize
from livekit.agents.tokenize.token_stream import BufferedSentenceStream
from livekit.agents.tokenize.tokenizer import SentenceStream

# Clause ends: CJK punctuation always; Latin . ! ? ; : , only before a space (not "3.5", "e.g.x").
_CLAUSE_END = re.compile(r"[，。！？；：、…]+|[.!?;:,]+(?=\s)|\n+")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _weight(text: str) -> int:
    """Roughly the spoken length: a Han character or a Latin word each count one."""
    return len(_HAN.findall(text)) + len(re.findall(r"[A-Za-z0-9']+", text))


def split_clauses(text: str, min_weight: int = 2) -> list[tuple[str, int, int]]:
    """``text`` cut after each clause mark, merging pieces lighter than ``min_weight`` forward
    (so "嗯，" or "OK," never become a synthesis of their own)."""
    pieces: list[tuple[str, int, int]] = []
    start = 0
    for m in _CLAUSE_END.finditer(text):
        end = m.end()
        if _weight(text[start:end]) >= min_weight:
            pieces.append((text[start:end].strip(), start, end))
            start = end
    tail = text[start:].strip()
    if tail and not _speakable(tail) and pieces:
        # a trailing "！" or emoji joins the clause before it: alone it is nothing a voice can say
        _, prev_start, _ = pieces.pop()
        tail, start = text[prev_start:].strip(), prev_start
    if tail:
        pieces.append((tail, start, len(text)))
    return [p for p in pieces if _speakable(p[0])]


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


class ClauseTokenizer(tokenize.SentenceTokenizer):
    def __init__(self, min_weight: int = 2) -> None:
        self._min_weight = min_weight

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return [piece for piece, _, _ in split_clauses(text, self._min_weight)]

    def stream(self, *, language: str | None = None) -> SentenceStream:
        # A piece is complete once the next one has begun: one character of look-ahead is enough.
        return BufferedSentenceStream(
            tokenizer=lambda text: split_clauses(text, self._min_weight), min_token_len=1, min_ctx_len=1
        )
