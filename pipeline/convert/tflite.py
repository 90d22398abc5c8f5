"""TFLite: fp32, fp16, dynamic-range and full-integer int8, each with the serving signature.

Uses TensorFlow's TFLiteConverter: it is the converter that ships with the TensorFlow we train
with, it keeps the SavedModel's signature names, and it alone gives int8 input *and* output
tensors from a representative dataset. LiteRT's ai-edge-quantizer is its announced successor for
post-training quantization, but it quantizes an already-converted float model and keeps float
I/O; when it takes int8 I/O, this file is the one place to switch.
"""

from __future__ import annotations

import atexit
import multiprocessing
import shutil
import tempfile
from pathlib import Path

import numpy as np

from pipeline.config import SERVING_SIGNATURE
from pipeline.convert.base import ConversionError, ConvertContext, Converter, one_line
from serving.quiet import quiet_stderr

# TensorFlow's converter cannot lower the TensorList ops of a Keras LSTM/GRU loop while the
# batch dimension is dynamic ("Lowering tensor list ops is failed"); traced at batch 1 the loop
# becomes a builtin WHILE. The edge runtime then runs a batch one sample at a time.
TENSOR_LIST_FAILURE = "tensor list"
FIXED_BATCH_NOTE = "traced at batch 1: the model's loop converts to builtins only at a fixed batch"
SELECT_NOTE = "with TF Select ops (Flex delegate needed)"
_LOOPS_AT_DYNAMIC_BATCH: set[Path] = set()  # SavedModels known to fail that way, this process
_BATCH_ONE: dict[tuple, Path] = {}  # their batch-1 traces, one per model


class TfliteConverter(Converter):
    def __init__(self, variant: str):
        self.variant = variant  # "fp32", "fp16", "dynamic" or "int8"

    def convert(self, ctx: ConvertContext, out: Path) -> str | None:
        # the converter prints pages of MLIR diagnostics below Python; its exception says it all
        with quiet_stderr():
            return self._convert(ctx, out)

    def _convert(self, ctx: ConvertContext, out: Path) -> str | None:
        import tensorflow as tf  # here, so that the table of targets imports without TensorFlow

        if ctx.savedmodel not in _LOOPS_AT_DYNAMIC_BATCH:
            converter = tf.lite.TFLiteConverter.from_saved_model(
                str(ctx.savedmodel), signature_keys=[SERVING_SIGNATURE]
            )
            try:
                out.write_bytes(self._configured(converter, ctx).convert())
                return None
            except Exception as exc:
                select = select_ops(str(exc))
                if select and self.variant == "fp32":
                    return self._with_select_ops(ctx, out, select)
                if select:
                    raise ConversionError(
                        f"needs TF Select ops ({', '.join(select)}): no TFLite builtin does them; "
                        "tflite-fp32 is converted with them"
                    ) from None
                if TENSOR_LIST_FAILURE not in str(exc).lower() or ctx.reference is None:
                    raise
            _LOOPS_AT_DYNAMIC_BATCH.add(ctx.savedmodel)  # the other variants go straight on
        _in_child_process(self.variant, ctx, _at_batch_one(ctx), out)
        return FIXED_BATCH_NOTE

    def _with_select_ops(self, ctx: ConvertContext, out: Path, ops: list[str]) -> str:
        """fp32 with TensorFlow kernels for the ops TFLite lacks (string ops of TextVectorization,
        for one): a file only a runtime linked with the Flex delegate can run, named as such."""
        import tensorflow as tf

        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(ctx.savedmodel), signature_keys=[SERVING_SIGNATURE]
        )
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
        out.write_bytes(converter.convert())
        return f"{SELECT_NOTE}: {', '.join(ops)}"

    def _configured(self, converter, ctx: ConvertContext):
        """The variant's optimizations and types on a TFLiteConverter."""
        import tensorflow as tf

        if self.variant == "fp16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif self.variant == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]  # int8 weights, float activations
        elif self.variant == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = _representative(ctx.representative)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter


def select_ops(message: str) -> list[str]:
    """The TensorFlow ops the converter says need TF Select ("TF Select ops: A, B"), if any."""
    for line in message.splitlines():
        if line.strip().startswith("TF Select ops:"):
            return [op.strip() for op in line.split(":", 1)[1].split(",") if op.strip()]
    return []


def _at_batch_one(ctx: ConvertContext) -> Path:
    """The Keras reference traced at batch 1 with its weights frozen (inside a loop body the
    converter leaves variables that no runtime initializes), as a SavedModel that keeps the
    serving signature's names. Made once per model; every variant converts from it."""
    key = (ctx.reference, ctx.savedmodel)
    if key in _BATCH_ONE:
        return _BATCH_ONE[key]
    import keras
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    from pipeline.runtimes.keras_model import named_outputs

    model = keras.saving.load_model(ctx.reference, compile=False)
    info = ctx.info
    names = [t.name for t in info.inputs]
    specs = [tf.TensorSpec([1, *t.shape[1:]], t.dtype, name=t.name) for t in info.inputs]

    def flat(*args):  # a list keeps the outputs' order through freezing
        outputs = named_outputs(model, info, dict(zip(names, args, strict=True)))
        return [outputs[t.name] for t in info.outputs]

    traced = tf.function(flat).get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(traced, lower_control_flow=False)

    @tf.function(input_signature=specs)
    def serve(*args):
        values = frozen(*args)
        return {t.name: v for t, v in zip(info.outputs, values, strict=True)}

    scratch = Path(tempfile.mkdtemp(prefix="tflite-batch1-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    tf.saved_model.save(tf.Module(), str(scratch), signatures={SERVING_SIGNATURE: serve})
    _BATCH_ONE[key] = scratch
    return scratch


def _in_child_process(variant: str, ctx: ConvertContext, savedmodel: Path, out: Path) -> None:
    """Convert the batch-1 SavedModel in a child process: TensorFlow's converter has crashed the
    whole process on it (a segfault calibrating int8 through a frozen loop), and a converter's
    failure must cost its target, never the run."""
    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    child = spawn.Process(target=_child, args=(variant, ctx, savedmodel, out, send), daemon=True)
    child.start()
    send.close()
    try:
        message = receive.recv()  # the child's error line; nothing when it succeeded or died
    except EOFError:
        message = ""
    child.join()
    if child.exitcode != 0:
        how = f"signal {-child.exitcode}" if child.exitcode < 0 else f"exit {child.exitcode}"
        raise ConversionError(
            message or f"TensorFlow's converter crashed ({how}) on the batch-1 trace"
        )


def _child(variant: str, ctx: ConvertContext, savedmodel: Path, out: Path, send) -> None:
    import tensorflow as tf

    try:
        converter = tf.lite.TFLiteConverter.from_saved_model(
            str(savedmodel), signature_keys=[SERVING_SIGNATURE]
        )
        out.write_bytes(TfliteConverter(variant)._configured(converter, ctx).convert())
    except Exception as exc:
        send.send(one_line(exc))
        raise SystemExit(1) from None
    send.close()


def _representative(inputs: dict[str, np.ndarray]):
    """One sample at a time, by signature input name (the converter maps the names)."""

    def generate():
        for i in range(len(next(iter(inputs.values())))):
            yield {k: _sample(v[i : i + 1]) for k, v in inputs.items()}

    return generate


def _sample(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "OU":
        return np.char.encode(values.astype(str), "utf-8")
    return values.astype(np.float32) if values.dtype.kind == "f" else values
