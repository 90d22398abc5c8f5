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
from common import fit, parse_args, save, seed_everything

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
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    fit(model, x_train, y_train, epochs=6, batch_size=64)
    predicted = model.predict(x_test, batch_size=256, verbose=0).argmax(axis=-1)
    accuracy = float(np.mean(predicted == y_test))
    save(args.out, model, {"tokens": x_test, "y": y_test})
    print(
        f"sequence: held-out accuracy {accuracy:.3f} on {len(y_test)} sequences"
        f" ({model.count_params()} params)"
    )


if __name__ == "__main__":
    main()
