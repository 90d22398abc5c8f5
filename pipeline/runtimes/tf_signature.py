"""TensorFlow: the SavedModel's serving signature, as TF Serving calls it."""

from __future__ import annotations

from pipeline.config import SERVING_SIGNATURE
from pipeline.runtimes.base import InProcessRuntime


class TfSignatureRuntime(InProcessRuntime):
    name = "tf-signature"

    def load(self, path, info):
        import tensorflow as tf

        signature = tf.saved_model.load(str(path)).signatures[SERVING_SIGNATURE]

        def predict(inputs):
            outputs = signature(**{k: tf.constant(v) for k, v in inputs.items()})
            return {t.name: outputs[t.name].numpy() for t in info.outputs}

        return predict
