"""The demo model: a small CNN in the Keras functional API."""

from __future__ import annotations

import keras

from pipeline.config import INPUT_NAME, OUTPUT_NAME


def build_model(
    input_shape: tuple[int, int, int] = (8, 8, 1), num_classes: int = 10, seed: int = 42
) -> keras.Model:
    """Two 3x3 convolutions, one pooling step and a dense head: ~0.3 MB of fp32 weights."""
    init = keras.initializers.GlorotUniform(seed=seed)
    image = keras.Input(shape=input_shape, name=INPUT_NAME)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init)(
        image
    )
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init)(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Dropout(0.25, seed=seed)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=init)(x)
    x = keras.layers.Dropout(0.4, seed=seed)(x)
    probabilities = keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=init, name=OUTPUT_NAME
    )(x)
    return keras.Model(image, probabilities, name="digits_cnn")
