"""Keras: the reference, loaded back from model.keras and called directly."""

from __future__ import annotations

import numpy as np

from pipeline.runtimes.base import InProcessRuntime


class KerasRuntime(InProcessRuntime):
    name = "keras"

    def load(self, path, info):
        import keras

        model = keras.saving.load_model(path, compile=False)
        return lambda x: np.asarray(model(x, training=False))
