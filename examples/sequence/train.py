"""LSTM sequence classifier over integer token ids: which of three marker tokens comes first.

Usage: python examples/sequence/train.py --out DIR [--seed 0]
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
VOCAB = 24  # ids 1, 2, 3 are the markers, 4..23 filler; 0 is left free for padding
MARKERS = np.array([1, 2, 3])


def sequences(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random filler with each marker once at a random place; the label is the marker seen first.

    Every sequence holds the same tokens up to order, so counting cannot solve it: the model has
    to remember which marker it met first.
    """
    tokens = rng.integers(MARKERS.size + 1, VOCAB, size=(n, LENGTH))
    places = np.argsort(rng.random((n, LENGTH)), axis=1)[:, : MARKERS.size]  # 3 distinct positions
    np.put_along_axis(tokens, places, MARKERS[np.newaxis, :], axis=1)
    labels = places.argmin(axis=1)  # marker k (id k + 1) is first
    return tokens.astype(np.int32), labels.astype(np.int32)


def build_model() -> keras.Model:
    tokens = keras.Input(shape=(LENGTH,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(VOCAB, 16)(tokens)
    x = keras.layers.LSTM(16)(x)  # the last state summarises the sequence
    probabilities = keras.layers.Dense(
        MARKERS.size, activation="softmax", name="class_probabilities"
    )(x)
    return keras.Model(inputs=tokens, outputs=probabilities, name="lstm_classifier")


def main() -> None:
    args = parse_args(__doc__)
    rng = seed_everything(args.seed)
    x_train, y_train = sequences(rng, 2048)
    x_test, y_test = sequences(rng, 200)
    model = build_model()
    train_classifier(
        args.out,
        "sequence",
        model,
        "tokens",
        (x_train, y_train),
        (x_test, y_test),
        learning_rate=1e-2,
        epochs=6,
        noun="sequences",
    )


if __name__ == "__main__":
    main()
