"""Training two ways on the same model, data and metrics: Keras `fit`, or a TF GradientTape loop.

python -m pipeline train --trainer keras|tf
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline.config import TrainConfig
from pipeline.data import Dataset
from pipeline.model import build_model
from pipeline.ui import progress

TRAINERS = ("keras", "tf")
_HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


@dataclass
class TrainResult:
    trainer: str
    model: keras.Model
    history: dict[str, list[float]] = field(default_factory=dict)  # per epoch
    seconds: float = 0.0
    test_accuracy: float = 0.0
    # on several workers (pipeline/distributed.py): workers, global batch, time per step, the
    # all-reduce's share of it, the checkpoint it resumed from, every worker's weights hash
    distributed: dict | None = None
    steps: int = 0  # optimizer steps this process ran (after a resume: since the resume)
    batch_size: int = 0  # samples per optimizer step (on several workers: the global batch)

    @property
    def epochs(self) -> int:
        return len(self.history.get("loss", []))

    @property
    def seconds_per_epoch(self) -> float:
        ran = (self.distributed or {}).get("epochs_here", self.epochs)  # since a resume
        return self.seconds / max(ran, 1)

    @property
    def label(self) -> str:
        workers = (self.distributed or {}).get("workers")
        return f"{self.trainer} ({workers} workers)" if workers else self.trainer

    @property
    def lines_of_code(self) -> int:
        if self.distributed:
            from pipeline import distributed

            return count_code_lines(distributed._train)
        return count_code_lines(_keras_fit if self.trainer == "keras" else _tf_loop)

    def summary(self) -> dict:
        return {
            "trainer": self.trainer,
            "epochs": self.epochs,
            "seconds": round(self.seconds, 2),
            "seconds_per_epoch": round(self.seconds_per_epoch, 3),
            "seconds_per_step": round(self.seconds / max(self.steps, 1), 5),
            "batch_size": self.batch_size,
            "test_accuracy": round(self.test_accuracy, 4),
            "lines_of_code": self.lines_of_code,
            "history": {k: [round(float(v), 5) for v in vs] for k, vs in self.history.items()},
            **({"distributed": self.distributed} if self.distributed else {}),
        }


def count_code_lines(fn) -> int:
    """Lines of code in a function, not counting blanks, comments and its docstring."""
    source = inspect.getsource(fn)
    doc = inspect.getdoc(fn) or ""
    lines = [ln.strip() for ln in source.splitlines()]
    code = [ln for ln in lines if ln and not ln.startswith("#") and not ln.startswith('"""')]
    return len(code) - max(len(doc.splitlines()) - 1, 0)


class _EpochBar(keras.callbacks.Callback):
    def __init__(self, bar, task):
        super().__init__()
        self.bar, self.task = bar, task

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        status = f"val_acc {logs.get('val_accuracy', 0):.3f} val_loss {logs.get('val_loss', 0):.3f}"
        self.bar.update(self.task, advance=1, status=status)


def _keras_fit(model, data: Dataset, cfg: TrainConfig, log_dir: Path, callbacks: list) -> dict:
    """Keras: compile, then fit with early stopping and TensorBoard logs."""
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        data.train.x,
        data.train.y,
        validation_data=(data.val.x, data.val.y),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        callbacks=[
            keras.callbacks.EarlyStopping(patience=cfg.patience, restore_best_weights=True),
            keras.callbacks.TensorBoard(log_dir=str(log_dir)),
            *callbacks,
        ],
        verbose=0,
    )
    return history.history


def _tf_loop(model, data: Dataset, cfg: TrainConfig, log_dir: Path, on_epoch) -> dict:
    """TensorFlow: a GradientTape step compiled with tf.function, early stopping by hand."""
    optimizer = keras.optimizers.Adam(cfg.learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    train_ds = (
        tf.data.Dataset.from_tensor_slices((data.train.x, data.train.y))
        .shuffle(len(data.train.x), seed=cfg.seed, reshuffle_each_iteration=True)
        .batch(cfg.batch_size)
    )
    val_ds = tf.data.Dataset.from_tensor_slices((data.val.x, data.val.y)).batch(256)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            probs = model(x, training=True)
            loss = loss_fn(y, probs)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss, tf.reduce_sum(tf.cast(tf.argmax(probs, 1) == y, tf.float32))

    @tf.function
    def eval_step(x, y):
        probs = model(x, training=False)
        return loss_fn(y, probs), tf.reduce_sum(tf.cast(tf.argmax(probs, 1) == y, tf.float32))

    def run_epoch(ds, step_fn, n):
        losses, correct = [], 0.0
        for x, y in ds:
            loss, hits = step_fn(x, y)
            losses.append(float(loss) * len(x))
            correct += float(hits)
        return sum(losses) / n, correct / n

    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    writer = tf.summary.create_file_writer(str(log_dir))
    best, best_weights, waited = np.inf, model.get_weights(), 0
    for epoch in range(cfg.epochs):
        loss, acc = run_epoch(train_ds, train_step, len(data.train.x))
        val_loss, val_acc = run_epoch(val_ds, eval_step, len(data.val.x))
        for key, value in zip(history, (loss, acc, val_loss, val_acc), strict=True):
            history[key].append(value)
            with writer.as_default(step=epoch):
                tf.summary.scalar(key, value)
        on_epoch(epoch, {"val_accuracy": val_acc, "val_loss": val_loss})
        if val_loss < best:
            best, best_weights, waited = val_loss, model.get_weights(), 0
        else:
            waited += 1
            if waited >= cfg.patience:
                break
    writer.close()
    model.set_weights(best_weights)
    return history


def train(trainer: str, data: Dataset, cfg: TrainConfig, log_dir: Path) -> TrainResult:
    """Train a fresh model with `trainer` ("keras" or "tf") and score it on the test split."""
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(data.train.x.shape[1:], len(data.class_names), cfg.seed)
    log_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with progress() as bar:
        task = bar.add_task(f"train ({trainer})", total=cfg.epochs, status="")
        if trainer == "keras":
            history = _keras_fit(model, data, cfg, log_dir, [_EpochBar(bar, task)])
        else:
            cb = _EpochBar(bar, task)
            history = _tf_loop(model, data, cfg, log_dir, cb.on_epoch_end)
        bar.update(task, total=len(history["loss"]))
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vs] for k, vs in history.items() if k in _HISTORY_KEYS}
    probs = model.predict(data.test.x, batch_size=256, verbose=0)
    test_accuracy = float(np.mean(probs.argmax(axis=1) == data.test.y))
    steps = len(history["loss"]) * -(-len(data.train.x) // cfg.batch_size)
    return TrainResult(
        trainer, model, history, seconds, test_accuracy, steps=steps, batch_size=cfg.batch_size
    )
