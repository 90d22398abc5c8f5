"""Tabular model, two inputs and two outputs, on scikit-learn's wine data: cultivar and alcohol.

Usage: python examples/tabular/train.py --out DIR [--seed 0]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import fit, parse_args, save, seed_everything

REGIONS = ["low", "mid", "high"]  # StringLookup adds index 0 for anything else


def wine_table(seed: int) -> tuple[dict, dict]:
    """Train and test splits of numeric, region, cultivar and alcohol, stratified by cultivar.

    The wine data has no categorical column, so `region` is a stand-in we derive: proline binned
    into low/mid/high at the training split's tertiles. Proline and alcohol (the regression
    target) are dropped from the numeric features, leaving 11.
    """
    wine = load_wine()
    names = list(wine.feature_names)
    data = wine.data.astype(np.float32)
    table = {
        "numeric": np.delete(data, [names.index("alcohol"), names.index("proline")], axis=1),
        "proline": data[:, names.index("proline")],
        "cultivar": wine.target.astype(np.int32),
        "alcohol": data[:, names.index("alcohol")],
    }
    # 128 = 4 batches of 32: a ragged last batch would make TensorFlow trace the train step again.
    split = train_test_split(
        *table.values(), train_size=128, stratify=wine.target, random_state=seed
    )
    train = dict(zip(table, split[0::2], strict=True))
    test = dict(zip(table, split[1::2], strict=True))
    edges = np.quantile(train["proline"], [1 / 3, 2 / 3])
    for part in (train, test):
        part["region"] = np.array(REGIONS)[np.digitize(part.pop("proline"), edges)][:, np.newaxis]
    return train, test  # region: unicode <U4 [N, 1]


def build_model(train: dict) -> keras.Model:
    normalize = keras.layers.Normalization()
    normalize.adapt(train["numeric"])  # mean and variance of the training split
    numeric = keras.Input(shape=(train["numeric"].shape[1],), dtype="float32", name="numeric")
    region = keras.Input(shape=(1,), dtype="string", name="region")
    one_hot = keras.layers.StringLookup(vocabulary=REGIONS, output_mode="one_hot")(region)  # [B, 4]
    x = keras.layers.Concatenate()([normalize(numeric), one_hot])
    x = keras.layers.Dense(32, activation="relu")(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    cultivar = keras.layers.Dense(3, activation="softmax", name="cultivar")(x)
    # predict alcohol in standard units, then map back to % vol, so the model answers in % vol
    mean, std = float(train["alcohol"].mean()), float(train["alcohol"].std())
    standard = keras.layers.Dense(1)(x)
    alcohol = keras.layers.Rescaling(scale=std, offset=mean, name="alcohol")(standard)
    return keras.Model(
        inputs={"numeric": numeric, "region": region},
        outputs={"cultivar": cultivar, "alcohol": alcohol},
        name="wine_tabular",
    )


def main() -> None:
    args = parse_args(__doc__)
    seed_everything(args.seed)
    train, test = wine_table(args.seed)
    model = build_model(train)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={"cultivar": "sparse_categorical_crossentropy", "alcohol": "mse"},
        loss_weights={"cultivar": 1.0, "alcohol": 1.0 / float(train["alcohol"].var())},  # both ~1
    )

    def inputs(part: dict) -> dict:  # Keras' NumPy adapter rejects unicode arrays: use tf.string
        return {"numeric": part["numeric"], "region": tf.constant(part["region"])}

    targets = {"cultivar": train["cultivar"], "alcohol": train["alcohol"]}
    fit(model, inputs(train), targets, epochs=30, batch_size=32)
    predicted = model.predict(inputs(test), batch_size=256, verbose=0)
    accuracy = float(np.mean(predicted["cultivar"].argmax(axis=-1) == test["cultivar"]))
    mae = float(np.mean(np.abs(predicted["alcohol"][:, 0] - test["alcohol"])))
    samples = {"numeric": test["numeric"], "region": test["region"]}
    save(args.out, model, samples | {"y_cultivar": test["cultivar"], "y_alcohol": test["alcohol"]})
    print(
        f"tabular: held-out cultivar accuracy {accuracy:.3f}, alcohol MAE {mae:.3f} % vol"
        f" on {len(test['cultivar'])} wines ({model.count_params()} params)"
    )


if __name__ == "__main__":
    main()
