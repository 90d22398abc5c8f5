"""The SavedModel as every peer server in bench-peers calls it: its serving_default signature,
one input in, one output out, with TensorFlow's threads set as the model server's bench sets
them (one per op). Imported by envs/peer-*/ in their own environments: TensorFlow and numpy only."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class PeerModel:
    def __init__(self, path: str):
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        self._fn = tf.saved_model.load(path).signatures["serving_default"]
        ((self.input, spec),) = self._fn.structured_input_signature[1].items()
        self._dtype = spec.dtype
        self.output = sorted(self._fn.structured_outputs)[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """One model call on a batch: the output named `self.output`."""
        return self._fn(**{self.input: tf.constant(batch, self._dtype)})[self.output].numpy()
