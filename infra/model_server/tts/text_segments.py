"""A reply cut into the pieces that are synthesized one at a time: sentences, clauses, script runs.

Streaming starts with the first piece, so pieces are short; each also carries the pause that follows it.
Mixed text is cut into runs by script, Han for the Mandarin voice and Latin for the English one, so that
"你好，我叫Echo。" is spoken whole (the Mandarin front end silently drops Latin letters). Digits and
symbols have no script of their own: they go with the run they are written against ("3个" is Mandarin,
"iPhone 15" English). English clauses of one sentence are kept together up to a length, because the
English voices pause at commas themselves and phrase a sentence better whole; Mandarin is synthesized
clause by clause, with the pause added here, since its front end drops punctuation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from infra.model_server.tts.voice import Language

# Pauses after a piece, in seconds at speed 1.0.
PAUSE_AFTER_CLAUSE = 0.15
PAUSE_AFTER_SENTENCE = 0.3
PAUSE_BETWEEN_RUNS = 0.04  # a change of voice inside a clause: a breath, not a pause
MAX_ENGLISH_WORDS = 24  # a longer English piece would hold back the first audio

# Full-width forms (ＡＢＣ１２３，！？) → ASCII, and the ideographic space → a space.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}
# CJK punctuation closing an English run ("我叫Echo。"), as the English voices know it.
_CJK_TO_ASCII = str.maketrans({"。": ".", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'"})
# Titles and Latin abbreviations that rarely end a sentence ("etc.", "a.m." and "No." often do).
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "e.g", "i.e", "approx"})
# A sentence ends at 。！？!?… (runs of them, and closing quotes or brackets after), at a full stop
# followed by a space or the end (not in "3.5" or "example.com"), and at a line break.
_SENTENCE_END = re.compile(r"(?:[。！？!?…]+|\.+(?=\s|$))[”’\"')）\]」』]*|\n+")
# A clause ends at 、，；： and at , ; : unless a digit follows ("1,000", "3:30"). Full-width forms are
# folded before splitting, but these also work on text as written.
_CLAUSE_END = re.compile(r"[、，；：]+|[,;:]+(?!\d)")
_WORD_BEFORE = re.compile(r"([A-Za-z.]+)$")


@dataclass(frozen=True)
class Segment:
    text: str
    language: Language
    pause_s: float  # silence after this piece


def fold_fullwidth(text: str) -> str:
    return text.translate(_FULLWIDTH)


def _cut(text: str, ends: list[int]) -> list[str]:
    pieces, start = [], 0
    for end in [*ends, len(text)]:
        if text[start:end].strip():
            pieces.append(text[start:end].strip())
        start = end
    return pieces


def _is_initial(word: str) -> bool:
    """A capital standing for a name ("F." in "F. Scott"); "I." ends a sentence ("...than I.")."""
    return len(word) == 1 and word.isupper() and word != "I"


def split_sentences(text: str) -> list[str]:
    ends = []
    for m in _SENTENCE_END.finditer(text):
        word = _WORD_BEFORE.search(text, 0, m.start())
        if m[0] == "." and word and (word[1].lower() in _ABBREVIATIONS or _is_initial(word[1])):
            continue  # "Dr. Smith" and "F. Scott Fitzgerald" are one sentence
        ends.append(m.end())
    return _cut(text, ends)


def split_clauses(sentence: str) -> list[str]:
    """``sentence`` cut after each clause punctuation, which stays with its clause."""
    return _cut(sentence, [m.end() for m in _CLAUSE_END.finditer(sentence)])


def _script(c: str) -> Language | None:
    if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" or "\uf900" <= c <= "\ufaff" or c == "〇":
        return "zh"
    if c.isalpha() and (c.isascii() or "\u00c0" <= c <= "\u024f"):
        return "en"
    return None


def script_runs(clause: str, default: Language) -> list[tuple[Language, str]]:
    """``clause`` as consecutive (language, text) runs; text with no script at all is ``default``'s."""
    groups: list[tuple[Language | None, str]] = []
    for c in clause:
        script = _script(c)
        if groups and groups[-1][0] == script:
            groups[-1] = (script, groups[-1][1] + c)
        else:
            groups.append((script, c))
    strong = [g[0] for g in groups if g[0] is not None]
    if not strong:
        return [(default, clause)] if _speakable(clause) else []
    runs: list[tuple[Language, str]] = []
    for i, (script, text) in enumerate(groups):
        if script is None:
            before = next((g[0] for g in reversed(groups[:i]) if g[0] is not None), None)
            after = next((g[0] for g in groups[i + 1 :] if g[0] is not None), None)
            # Digits written against Mandarin ("3个", "第1") are read in Mandarin; anything else
            # joins the run before it (punctuation closes what precedes it).
            glued_to_next_han = after == "zh" and any(ch.isdigit() for ch in text) and not text[-1].isspace()
            script = "zh" if glued_to_next_han else (before or after)
        assert script is not None
        if runs and runs[-1][0] == script:
            runs[-1] = (script, runs[-1][1] + text)
        else:
            runs.append((script, text))
    return [
        (lang, text.strip().translate(_CJK_TO_ASCII) if lang == "en" else text.strip())
        for lang, text in runs
        if _speakable(text)
    ]


def _speakable(text: str) -> bool:
    return any(c.isalnum() for c in text)


def _split_long_english(text: str) -> list[str]:
    words = text.split()
    if len(words) <= MAX_ENGLISH_WORDS:
        return [text]
    size = math.ceil(len(words) / math.ceil(len(words) / MAX_ENGLISH_WORDS))  # equal parts under the limit
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def segments(text: str, default: Language) -> list[Segment]:
    """The pieces to synthesize for ``text``, in order; empty when nothing in it can be spoken."""
    out: list[Segment] = []
    for sentence in split_sentences(fold_fullwidth(text)):
        pieces: list[tuple[Language, str, float]] = []
        for clause in split_clauses(sentence):
            runs = script_runs(clause, default)
            for i, (lang, run) in enumerate(runs):
                pause = PAUSE_AFTER_CLAUSE if i == len(runs) - 1 else PAUSE_BETWEEN_RUNS
                prev = pieces[-1] if pieces else None
                joined = f"{prev[1]} {run}" if prev else run
                if (
                    prev
                    and lang == prev[0] == "en"
                    and prev[2] == PAUSE_AFTER_CLAUSE
                    and len(joined.split()) <= MAX_ENGLISH_WORDS
                ):
                    pieces[-1] = (lang, joined, pause)
                else:
                    pieces.append((lang, run, pause))
        for j, (lang, piece, pause) in enumerate(pieces):
            if j == len(pieces) - 1:
                pause = PAUSE_AFTER_SENTENCE
            parts = _split_long_english(piece) if lang == "en" else [piece]
            out += [Segment(p, lang, PAUSE_AFTER_CLAUSE) for p in parts[:-1]]
            out.append(Segment(parts[-1], lang, pause))
    return out
