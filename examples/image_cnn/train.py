"""Image CNN: MobileNetV2-style inverted residual blocks on scikit-learn's digits as 16x16 RGB.

Usage: python examples/image_cnn/train.py --out DIR [--seed 0]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import parse_args, seed_everything, train_classifier

SIZE = 16
NUM_CLASSES = 10


def rgb_digits(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The bundled 8x8 digits, upsampled 2x (nearest) and drawn in a random ink colour on black."""
    digits = load_digits()
    gray = (digits.images / 16.0).astype(np.float32)  # ink per cell, 0..16 -> [0, 1]
    gray = gray.repeat(2, axis=1).repeat(2, axis=2)  # [N, 16, 16]
    ink = rng.uniform(0.4, 1.0, size=(len(gray), 1, 1, 3)).astype(np.float32)
    return gray[..., np.newaxis] * ink, digits.target.astype(np.int32)  # [N, 16, 16, 3] in [0, 1]


def conv_bn(x, filters: int, kernel: int, stride: int = 1, relu6: bool = True):
    x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    return keras.layers.ReLU(max_value=6.0)(x) if relu6 else x


def inverted_residual(x, filters: int, stride: int, expansion: int):
    """1x1 expand -> 3x3 depthwise -> 1x1 linear projection, with a skip when the shapes match."""
    shortcut = x
    if expansion > 1:
        x = conv_bn(x, x.shape[-1] * expansion, 1)
    x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(momentum=0.9)(x)
    x = keras.layers.ReLU(max_value=6.0)(x)
    x = conv_bn(x, filters, 1, relu6=False)  # linear bottleneck: no activation
    if stride == 1 and shortcut.shape[-1] == filters:
        x = keras.layers.Add()([shortcut, x])
    return x


def build_model() -> keras.Model:
    image = keras.Input(shape=(SIZE, SIZE, 3), name="image")
    x = conv_bn(image, 16, 3, stride=2)  # 8x8x16: the stem halves the input, as in MobileNetV2
    x = inverted_residual(x, 16, stride=1, expansion=4)  # 8x8x16, with a skip
    x = inverted_residual(x, 32, stride=2, expansion=4)  # 4x4x32
    x = inverted_residual(x, 32, stride=1, expansion=4)  # 4x4x32, with a skip
    x = conv_bn(x, 64, 1)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)
    probabilities = keras.layers.Dense(
        NUM_CLASSES, activation="softmax", name="class_probabilities"
    )(x)
    return keras.Model(inputs=image, outputs=probabilities, name="image_cnn")


def main() -> None:
    args = parse_args(__doc__)
    rng = seed_everything(args.seed)
    x, y = rgb_digits(rng)
    # 1600 = 25 batches of 64: a ragged last batch would make TensorFlow trace the train step again.
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=1600, stratify=y, random_state=args.seed
    )
    model = build_model()
    train_classifier(
        args.out,
        "image_cnn",
        model,
        "image",
        (x_train, y_train),
        (x_test, y_test),
        learning_rate=3e-3,
        epochs=5,
        noun="images",
    )


if __name__ == "__main__":
    main()
