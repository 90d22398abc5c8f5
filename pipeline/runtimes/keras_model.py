"""Keras: the reference, loaded back from model.keras and called directly."""

from __future__ import annotations

import numpy as np

from pipeline.metadata import ModelInfo
from pipeline.runtimes.base import InProcessRuntime


class KerasRuntime(InProcessRuntime):
    name = "keras"

    def load(self, path, info):
        import keras
        import tensorflow as tf

        model = keras.saving.load_model(path, compile=False)
        # the model's own call, traced once per input shape: an eager call pays Python per layer
        # (tens of ms for a small CNN), which would be the row's latency instead of the model's
        traced = tf.function(
            lambda inputs: named_outputs(model, info, inputs), reduce_retracing=True
        )

        def predict(inputs):
            outputs = traced({k: tf.constant(v) for k, v in inputs.items()})
            return {k: v.numpy() for k, v in outputs.items()}

        return predict


def call_keras(model, info: ModelInfo, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's outputs on numpy inputs, by output name."""
    import tensorflow as tf

    outputs = named_outputs(model, info, {k: tf.constant(v) for k, v in inputs.items()})
    return {k: np.asarray(v) for k, v in outputs.items()}


def named_outputs(model, info: ModelInfo, inputs: dict) -> dict:
    """The model's outputs keyed by the signature's names, whatever structure it was built with
    (one tensor, a list in `output_names` order, or a dict). Inputs go in by name (a functional
    model maps them), the only one alone. Runs eagerly and inside the exported tf.function."""
    result = model(inputs[info.input_name] if len(inputs) == 1 else inputs, training=False)
    if isinstance(result, dict):
        values = [result[k] for k in (model.output_names or result)]
    else:
        values = list(result) if isinstance(result, list | tuple) else [result]
    return {t.name: v for t, v in zip(info.outputs, values, strict=True)}
