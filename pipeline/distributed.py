"""Training on several workers: tf.distribute.MultiWorkerMirroredStrategy around the TF loop.

Every worker runs `python -m pipeline run` with TF_CONFIG naming the cluster and its own index
(`make train-distributed WORKERS=2` starts them in containers). Each trains a replica of the
model on its shard of every global batch; the strategy all-reduces the gradients, so the
replicas stay equal, which the workers prove at the end by exchanging a hash of their weights.
Worker 0, the chief, then exports, verifies and publishes as a one-process run does; the others
exit. The chief checkpoints every epoch to `<models>/.checkpoints/<name>/`, which every worker
must be able to read: a worker that dies makes the others stop (exit 1), the engine restarts
them, and all of them resume from the last checkpoint.

Keras 3's `model.fit` cannot run here: keras-team/keras#20585 (open since TF 2.16) fails on the
PerReplica values the strategy hands it, so the CLI refuses `--trainer keras` with TF_CONFIG set
(pipeline/cluster.py). This custom loop under `strategy.run` is TensorFlow's own API.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline.cluster import Cluster
from pipeline.config import TrainConfig
from pipeline.data import Dataset
from pipeline.errors import UserError, WorkerLost
from pipeline.model import build_model
from pipeline.train import TrainResult
from serving.quiet import quiet_import_tensorflow

# A collective that waits this long for a peer means the peer is gone: the worker stops instead
# of hanging (the strategy's health check, every 30 s, usually sees a dead peer sooner).
COLLECTIVE_TIMEOUT_SECONDS = 120
ALLREDUCE_SAMPLES = 5  # timed all-reduces of the gradients' shapes after each epoch
_HISTORY = ("loss", "accuracy", "val_loss", "val_accuracy")
# what a peer's death or restart raises in a collective; anything else is a bug, not a lost peer
_PEER_ERRORS = (
    tf.errors.AbortedError,  # the peer came back as a new incarnation
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.FailedPreconditionError,
)


def strategy(cluster: Cluster) -> tf.distribute.MultiWorkerMirroredStrategy:
    """The strategy, made before TensorFlow runs anything (collective ops are configured at
    start-up). It reads TF_CONFIG and returns once every worker is up."""
    quiet_import_tensorflow(init_devices=True)  # no failed-cuInit line on machines without a GPU
    _coordinate_without_heartbeats(cluster)
    options = tf.distribute.experimental.CommunicationOptions(
        timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS
    )
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except tf.errors.UnknownError as exc:  # TensorFlow's whole word for a port it cannot bind
        address = cluster.workers[cluster.index]
        raise UserError(f"this worker cannot listen on {address}: {exc.message}") from None


def _coordinate_without_heartbeats(cluster: Cluster) -> None:
    """The coordination service the strategy would start, without its heartbeat check.

    A worker leaves as soon as it has trained, while the chief goes on to export; with heartbeats
    the chief would log that worker as crashed. A lost peer is still seen: its collective fails
    at once (connection reset) or after COLLECTIVE_TIMEOUT_SECONDS. The strategy keeps a service
    configured before it is made (tensorflow/python/distribute/collective_all_reduce_strategy.py).
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader="/job:worker/replica:0/task:0",
        enable_health_check=False,
        coordinated_jobs=[
            coordination_config_pb2.CoordinatedJob(name="worker", num_tasks=cluster.size)
        ],
    )


def weights_sha256(weights: list[np.ndarray]) -> str:
    """A hash of a model's weights in order: equal on every worker when the all-reduce worked."""
    digest = hashlib.sha256()
    for w in weights:
        digest.update(f"{w.dtype.str}{w.shape}".encode() + np.ascontiguousarray(w).tobytes())
    return digest.hexdigest()


def train_workers(
    mwms,
    cluster: Cluster,
    data: Dataset,
    cfg: TrainConfig,
    checkpoints: Path,
    log_dir: Path,
    on_epoch=None,
) -> TrainResult:
    """Train the digits CNN on every worker at once; every worker returns the same model.

    The global batch is `cfg.batch_size` per worker. Early stopping keeps each worker's own copy of
    its best weights, so the hashes the workers compare are of weights each computed itself.
    """
    try:
        return _train(mwms, cluster, data, cfg, checkpoints, log_dir, on_epoch)
    except _PEER_ERRORS as exc:
        raise WorkerLost(f"worker {cluster.index}: a peer was lost: {_reason(exc)}") from None


def _train(mwms, cluster, data, cfg, checkpoints, log_dir, on_epoch) -> TrainResult:
    global_batch = cfg.batch_size * cluster.size
    keras.utils.set_random_seed(cfg.seed)
    with mwms.scope():
        model = build_model(data.train.x.shape[1:], len(data.class_names), cfg.seed)
        optimizer = keras.optimizers.Adam(cfg.learning_rate)
        optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    # this worker's own copy of its best weights: plain variables, not mirrored; checkpointed
    best = [tf.Variable(w, trainable=False) for w in model.get_weights()]
    state = {
        "epoch": tf.Variable(0, dtype=tf.int64),
        "step": tf.Variable(0, dtype=tf.int64),
        "best_loss": tf.Variable(np.inf, dtype=tf.float64),
        "waited": tf.Variable(0, dtype=tf.int64),
        "history": tf.Variable(json.dumps({k: [] for k in _HISTORY})),
    }
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, best=best, **state)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    # an endless stream of whole global batches: no collective is needed per step to agree
    # whether every worker still has data, as it would be for a last, partial batch
    steps_per_epoch = len(data.train.x) // global_batch
    train_ds = (
        tf.data.Dataset.from_tensor_slices((data.train.x, data.train.y))
        .shuffle(len(data.train.x), seed=cfg.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(global_batch, drop_remainder=True)
        .with_options(options)
    )
    batches = iter(mwms.experimental_distribute_dataset(train_ds))
    val_x, val_y = tf.constant(data.val.x), tf.constant(data.val.y)

    @tf.function
    def train_epoch():
        """One epoch in one call: this worker's summed loss and hits on its shards."""

        def replica_step(x, y):
            with tf.GradientTape() as tape:
                probs = model(x, training=True)
                per_example = loss_fn(y, probs)
                loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            # Keras's optimizer all-reduces (sums) the gradients across the replicas here
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            hits = tf.reduce_sum(tf.cast(tf.argmax(probs, 1) == y, tf.float32))
            return tf.stack([tf.reduce_sum(per_example), hits])

        totals = tf.zeros(2)
        for _ in tf.range(steps_per_epoch):
            local = mwms.run(replica_step, args=next(batches))
            totals += tf.add_n(mwms.experimental_local_results(local))
        return totals

    @tf.function
    def across_workers(local):  # one collective per epoch for the training metrics
        return mwms.reduce(
            tf.distribute.ReduceOp.SUM, mwms.run(lambda: tf.identity(local)), axis=None
        )

    @tf.function
    def evaluate():  # the whole validation split on every worker: every worker decides alike
        probs = model(val_x, training=False)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(val_y, probs))
        return loss, tf.reduce_mean(tf.cast(tf.argmax(probs, 1) == val_y, tf.float32))

    shapes = [tuple(v.shape) for v in model.trainable_variables]

    @tf.function
    def allreduce_like_gradients():  # the collective each step makes, alone, to time it
        def replica():
            ctx = tf.distribute.get_replica_context()
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.zeros(s) for s in shapes])

        return mwms.run(replica)

    manager = tf.train.CheckpointManager(checkpoint, str(checkpoints), max_to_keep=2)
    resumed_from = _restore(checkpoint, manager, checkpoints, cluster, cfg, state)
    history = json.loads(state["history"].numpy())
    writer = tf.summary.create_file_writer(str(log_dir)) if cluster.chief else None
    allreduce_ms, epochs_here, start = [], 0, time.perf_counter()
    while int(state["epoch"]) < cfg.epochs and int(state["waited"]) < cfg.patience:
        loss_sum, hit_sum = (float(v) for v in across_workers(train_epoch()))
        state["step"].assign_add(steps_per_epoch)
        val_loss, val_acc = (float(v) for v in evaluate())

        for _ in range(ALLREDUCE_SAMPLES):
            t0 = time.perf_counter()
            allreduce_like_gradients()
            allreduce_ms.append((time.perf_counter() - t0) * 1000)
        epoch, n = int(state["epoch"]), steps_per_epoch * global_batch
        for key, value in zip(
            _HISTORY, (loss_sum / n, hit_sum / n, val_loss, val_acc), strict=True
        ):
            history[key].append(value)
            if writer is not None:
                with writer.as_default(step=epoch):
                    tf.summary.scalar(key, value)
        if val_loss < float(state["best_loss"]):
            state["best_loss"].assign(val_loss)
            state["waited"].assign(0)
            for copy, w in zip(best, model.get_weights(), strict=True):
                copy.assign(w)
        else:
            state["waited"].assign_add(1)
        state["epoch"].assign_add(1)
        state["history"].assign(json.dumps(history))
        epochs_here += 1
        _save(manager, checkpoint, cluster)
        if on_epoch is not None:
            on_epoch(epoch, {"val_accuracy": val_acc, "val_loss": val_loss})
    seconds = time.perf_counter() - start
    if writer is not None:
        writer.close()

    # the exported model is a plain one: no distributed variables in the SavedModel
    plain = build_model(data.train.x.shape[1:], len(data.class_names), cfg.seed)
    plain.set_weights([copy.numpy() for copy in best])
    hashes = _exchange(mwms, weights_sha256(plain.get_weights()))
    probs = plain(data.test.x, training=False).numpy()
    accuracy = float(np.mean(probs.argmax(1) == data.test.y))
    details = {
        "workers": cluster.size,
        "epochs_here": epochs_here,
        "allreduce_ms": round(statistics.median(allreduce_ms), 3) if allreduce_ms else 0.0,
        "resumed_from": resumed_from,
        "weights_sha256": hashes,
    }
    steps = epochs_here * steps_per_epoch
    return TrainResult("tf", plain, history, seconds, accuracy, details, steps, global_batch)


def _reason(exc: tf.errors.OpError) -> str:
    """The line of a collective's error that says what happened (gRPC's words, when it has them)."""
    text = str(exc)
    if match := re.search(r'grpc_message:"([^"]+)"', text):
        return match.group(1)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [
        ln for ln in lines if not ln.endswith(":") and not ln.startswith(("[[", "Additional"))
    ]
    return (useful or lines or [type(exc).__name__])[0][:240]


def _fingerprint(cluster: Cluster, cfg: TrainConfig) -> dict:
    """What a checkpoint must have been made with for a job to resume from it."""
    return {
        "workers": list(cluster.workers),
        "train": {
            k: getattr(cfg, k)
            for k in ("seed", "batch_size", "learning_rate", "epochs", "patience")
        },
    }


def _restore(checkpoint, manager, checkpoints: Path, cluster: Cluster, cfg, state) -> dict | None:
    """Resume from the chief's last checkpoint when this job's configuration made it; otherwise
    the chief starts the directory afresh with this job's fingerprint."""
    job = checkpoints / "job.json"
    fingerprint = _fingerprint(cluster, cfg)
    mine = job.is_file() and json.loads(job.read_text()) == fingerprint
    if mine and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        resumed = {"epoch": int(state["epoch"]), "step": int(state["step"])}
        print(
            f"worker {cluster.index}: resumed from the checkpoint at epoch {resumed['epoch']}, "
            f"step {resumed['step']}",
            flush=True,
        )
        return resumed
    if cluster.chief and not mine:
        if job.exists() or manager.latest_checkpoint:
            print(f"checkpoints in {checkpoints} are another job's: training from scratch")
        shutil.rmtree(checkpoints, ignore_errors=True)
        checkpoints.mkdir(parents=True)
        (checkpoints / "job.json.tmp").write_text(json.dumps(fingerprint))
        (checkpoints / "job.json.tmp").replace(job)
    return None


def _save(manager, checkpoint, cluster: Cluster) -> None:
    """Every worker saves, as MultiWorkerMirroredStrategy asks; only the chief's copy is kept."""
    if cluster.chief:
        manager.save(checkpoint_number=int(checkpoint.step))
        return
    scratch = tempfile.mkdtemp(prefix=f"worker{cluster.index}-checkpoint-")
    try:
        checkpoint.write(os.path.join(scratch, "ckpt"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _exchange(mwms, digest: str) -> list[str]:
    """Every worker's hash, gathered across the workers: [worker 0's, worker 1's, ...]."""
    words = tf.constant(np.frombuffer(bytes.fromhex(digest), dtype=np.int32)[np.newaxis])

    @tf.function
    def gather():
        return mwms.gather(mwms.run(lambda: tf.identity(words)), axis=0)

    return [row.astype(np.int32).tobytes().hex() for row in gather().numpy()]


def finish(checkpoints: Path, cluster: Cluster) -> None:
    """Training ended on every worker: the chief removes the job's checkpoints."""
    if cluster.chief:
        shutil.rmtree(checkpoints, ignore_errors=True)
