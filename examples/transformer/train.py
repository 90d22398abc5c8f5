"""Transformer encoder classifier over integer token ids: which value token is in the first half.

Usage: python examples/transformer/train.py --out DIR [--seed 0]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import parse_args, seed_everything, train_classifier

LENGTH = 16  # tokens per sequence
VOCAB = 24  # ids 1, 2, 3 are the values (one per class), 4..23 filler; 0 is left free
VALUES = np.array([1, 2, 3])
WIDTH = 32  # model width: token and position embeddings


def sequences(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Filler with each value once: the labelled one in the first half, the other two in the second.

    All sequences hold the same tokens up to order, so counting cannot solve it: without the
    position embedding the model sees the same bag of tokens for every class.
    """
    half = LENGTH // 2
    tokens = rng.integers(VALUES.max() + 1, VOCAB, size=(n, LENGTH))
    labels = rng.integers(VALUES.size, size=n)
    for row, label in zip(tokens, labels, strict=True):
        row[rng.integers(half)] = VALUES[label]
        row[half + rng.choice(LENGTH - half, 2, replace=False)] = np.delete(VALUES, label)
    return tokens.astype(np.int32), labels.astype(np.int32)


def build_model() -> keras.Model:
    tokens = keras.Input(shape=(LENGTH,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(VOCAB, WIDTH)(tokens)  # [B, 16, 32]
    # Core Keras has no position-embedding layer (keras_hub's would be needed again to load), so
    # the learned [16, 32] table is a bias-free Dense layer fed a constant 1: one table for all.
    ones = keras.layers.Embedding(VOCAB, 1, embeddings_initializer="ones", trainable=False)(tokens)
    one = keras.layers.GlobalAveragePooling1D()(ones)  # [B, 1], always 1.0
    table = keras.layers.Dense(LENGTH * WIDTH, use_bias=False, name="position_table")(one)
    x = keras.layers.Add()([x, keras.layers.Reshape((LENGTH, WIDTH), name="positions")(table)])
    # one encoder block (post-norm, as in the original transformer)
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16)(x, x)
    x = keras.layers.LayerNormalization()(keras.layers.Add()([x, attended]))
    hidden = keras.layers.Dense(2 * WIDTH, activation="relu")(x)
    x = keras.layers.LayerNormalization()(
        keras.layers.Add()([x, keras.layers.Dense(WIDTH)(hidden)])
    )
    x = keras.layers.GlobalAveragePooling1D()(x)
    probabilities = keras.layers.Dense(
        VALUES.size, activation="softmax", name="class_probabilities"
    )(x)
    return keras.Model(inputs=tokens, outputs=probabilities, name="transformer_classifier")


def main() -> None:
    args = parse_args(__doc__)
    rng = seed_everything(args.seed)
    x_train, y_train = sequences(rng, 2048)
    x_test, y_test = sequences(rng, 200)
    model = build_model()
    train_classifier(
        args.out,
        "transformer",
        model,
        "tokens",
        (x_train, y_train),
        (x_test, y_test),
        learning_rate=3e-3,
        epochs=6,
        noun="sequences",
    )


if __name__ == "__main__":
    main()
