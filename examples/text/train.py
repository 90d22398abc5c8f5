"""Text classifier on raw strings: TextVectorization inside the model, Embedding, pooling, softmax.

Usage: python examples/text/train.py --out DIR [--seed 0]
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

# The corpus is generated, not downloaded: there is no dataset download here (no internet), and a
# seeded grammar gives the same reviews on every machine with nothing to ship beside this file.
# Products, parts and templates are shared by every class; only the adjectives carry the label, and
# "neutral" includes mixed reviews (one positive and one negative adjective), so single words do
# not decide it.
LABELS = ["negative", "neutral", "positive"]
PRODUCTS = ["phone", "laptop", "camera", "headset", "charger", "keyboard", "speaker", "monitor"]
PARTS = ["battery", "screen", "sound", "price", "delivery", "case", "software", "support"]
GOOD = ["great", "excellent", "reliable", "fast", "sturdy", "brilliant", "lovely", "solid"]
BAD = ["awful", "broken", "slow", "flimsy", "terrible", "useless", "faulty", "noisy"]
MEH = ["okay", "average", "fine", "standard", "acceptable", "ordinary", "decent", "plain"]
TEMPLATES = [
    "the {product} is {a} and the {part} is {b}",
    "{a} {part} , {b} {other} on this {product}",
    "i think my new {product} is {a} but the {part} is {b}",
    "really {a} {product} with a {b} {part}",
    "the {part} of the {product} felt {a} , the {other} was {b}",
    "{a} {product} . {b} {part} . would buy again ?",
]
# the two adjectives a review of each class may have, in either order
ADJECTIVES = {
    0: [(BAD, BAD), (BAD, MEH)],
    1: [(MEH, MEH), (GOOD, BAD)],
    2: [(GOOD, GOOD), (GOOD, MEH)],
}
SEQUENCE_LENGTH = 16


def review(rng: np.random.Generator, label: int) -> str:
    first, second = ADJECTIVES[label][rng.integers(2)]
    if rng.random() < 0.5:
        first, second = second, first
    part, other = rng.choice(PARTS, size=2, replace=False)
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(
        product=rng.choice(PRODUCTS),
        part=part,
        other=other,
        a=rng.choice(first),
        b=rng.choice(second),
    )


def corpus(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(len(LABELS), size=n).astype(np.int32)
    texts = np.array([[review(rng, int(label))] for label in labels])  # unicode [n, 1]
    return texts, labels


def build_model(train_texts: np.ndarray) -> keras.Model:
    vectorize = keras.layers.TextVectorization(
        max_tokens=200, output_mode="int", output_sequence_length=SEQUENCE_LENGTH
    )
    vectorize.adapt(train_texts[:, 0])  # vocabulary from the training corpus only
    text = keras.Input(shape=(1,), dtype="string", name="text")
    x = vectorize(text)  # int64 [B, 16], 0 pads
    x = keras.layers.Embedding(vectorize.vocabulary_size(), 32, mask_zero=True)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)  # mean over the real tokens (the mask drops pads)
    x = keras.layers.Dense(16, activation="relu")(x)
    sentiment = keras.layers.Dense(len(LABELS), activation="softmax", name="sentiment")(x)
    return keras.Model(inputs=text, outputs=sentiment, name="text_classifier")


def main() -> None:
    args = parse_args(__doc__)
    rng = seed_everything(args.seed)
    x_train, y_train = corpus(rng, 1600)
    x_test, y_test = corpus(rng, 200)
    model = build_model(x_train)
    train_classifier(
        args.out,
        "text",
        model,
        "text",
        (x_train, y_train),
        (x_test, y_test),
        learning_rate=1e-2,
        epochs=6,
        noun="reviews",
    )


if __name__ == "__main__":
    main()
