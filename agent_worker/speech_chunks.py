"""Where a streamed reply is cut into pieces for a non-streaming TTS: at clauses, not whole sentences.

livekit-agents' default tokenizer waits for a sentence of 20+ characters plus context before the first
synthesis; a local model writing 5–7 tokens a second takes seconds to get there in Mandarin. Cutting at
the first clause ("好的，" / "Sure," ) lets the caller hear the agent while the model is still writing.
An English first clause often runs to fifteen words or more ("The time it takes to learn to swim can
vary greatly depending on several factors,"): the first piece of a reply is cut after its first few
words instead, and the rest flows on clause by clause. A Mandarin first clause is as slow
("你可以尝试调整你的睡眠环境，", 13 characters, a second of generation): it is cut after its first few
characters, at the end of one of the model's streamed tokens. Mandarin has no spaces to find a word by,
but the model's tokens are whole words or single characters ("你", "可以", "尝试"), so a token's end does
not fall inside a word the tokenizer knows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from livekit.agents import tokenize
from livekit.agents.tokenize.token_stream import BufferedSentenceStream
from livekit.agents.tokenize.tokenizer import SentenceStream

# Clause ends: CJK punctuation always; Latin . ! ? ; : , only before a space (not "3.5", "e.g.x").
_CLAUSE_END = re.compile(r"[，。！？；：、…]+|[.!?;:,]+(?=\s)|\n+")
_HAN = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9'’-]+")


def _weight(text: str) -> int:
    """Roughly the spoken length: a Han character or a Latin word each count one."""
    return len(_HAN.findall(text)) + len(re.findall(r"[A-Za-z0-9']+", text))


def split_clauses(
    text: str,
    min_weight: int = 2,
    first_piece_words: int = 0,
    first_piece_chars: int = 0,
    token_ends: Sequence[int] = (),
) -> list[tuple[str, int, int]]:
    """``text`` cut after each clause mark, merging pieces lighter than ``min_weight`` forward
    (so "嗯，" or "OK," never become a synthesis of their own). The first piece is cut shorter: an
    English one longer than ``first_piece_words`` after that many words; a Mandarin one after
    ``first_piece_chars`` Han characters, at the first of ``token_ends`` (offsets in ``text`` where a
    streamed token ended, in order) that leaves at least two more of the clause's characters behind it."""
    pieces = _clauses(text, min_weight)
    if not pieces:
        return pieces
    _, start, end = pieces[0]
    cut: int | None = None
    if _HAN.search(text, start, end):
        if first_piece_chars:
            cut = _han_cut(text, start, end, first_piece_chars, token_ends)
    elif first_piece_words:
        words = list(_WORD.finditer(text, start, end))
        # a later word has begun, so the last word kept is whole
        if len(words) > first_piece_words:
            cut = words[first_piece_words - 1].end()
    if cut is not None:
        pieces[:1] = [(text[start:cut].strip(), start, cut), (text[cut:end].strip(), cut, end)]
    return pieces


def _han_cut(text: str, start: int, end: int, chars: int, token_ends: Sequence[int]) -> int | None:
    # two characters after the cut: a clause of chars + 1 ("你可以试试，") is not left with one
    for at in token_ends:
        if start < at < end and len(_HAN.findall(text, start, at)) >= chars:
            return at if len(_HAN.findall(text, at, end)) >= 2 else None
    return None


def _clauses(text: str, min_weight: int) -> list[tuple[str, int, int]]:
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
    def __init__(self, min_weight: int = 2, first_piece_words: int = 0, first_piece_chars: int = 0) -> None:
        self._min_weight = min_weight
        self._first_piece_words = first_piece_words
        self._first_piece_chars = first_piece_chars

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        # a whole text has no streamed tokens: a Mandarin first piece keeps its clause
        pieces = split_clauses(text, self._min_weight, self._first_piece_words, self._first_piece_chars)
        return [piece for piece, _, _ in pieces]

    def stream(self, *, language: str | None = None) -> SentenceStream:
        # One stream per reply. A piece is complete once the next one has begun (one character of
        # look-ahead); the stream hands on the first piece as soon as the tokenizer returns two, and then
        # tokenizes only what follows it, which must not be cut as a first piece again. Until then the
        # buffer is the reply from its start, and the stream calls the tokenizer after each pushed token:
        # the buffer's length at each call is where a token ended.
        first_words, first_chars = self._first_piece_words, self._first_piece_chars
        token_ends: list[int] = []

        def tokenizer(text: str) -> list[tuple[str, int, int]]:
            nonlocal first_words, first_chars
            if first_chars and (not token_ends or token_ends[-1] != len(text)):
                token_ends.append(len(text))  # the buffer only grows until the first piece is cut
            pieces = split_clauses(text, self._min_weight, first_words, first_chars, token_ends)
            if len(pieces) > 1:
                first_words = first_chars = 0
            return pieces

        return BufferedSentenceStream(tokenizer=tokenizer, min_token_len=1, min_ctx_len=1)
