"""Export: the Keras model as a TF Serving SavedModel version, published atomically.

python -m pipeline export --name digits
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from pipeline import artifacts, ui
from pipeline.config import IMAGE_SIGNATURE, SERVING_SIGNATURE
from pipeline.data import Arrays, preprocess_image_bytes
from pipeline.layout import Layout, publish, staging, write_text_atomic
from pipeline.metadata import METADATA_FILE, ModelInfo
from pipeline.runtimes.keras_model import named_outputs
from pipeline.targets import TARGETS

WARMUP_FILE = "tf_serving_warmup_requests"  # TF Serving replays it from assets.extra/ at load


def export_savedmodel(model: keras.Model, info: ModelInfo, out_dir, warmup: Arrays) -> None:
    """Write a SavedModel with `serving_default` (and `predict_image` for image models) to out_dir.

    The signature keeps the model's input and output names, in its order, with their dtypes.
    """
    specs = [tf.TensorSpec(t.shape, tf.as_dtype(t.dtype), name=t.name) for t in info.inputs]

    @tf.function(input_signature=specs)
    def serve(*args):
        return named_outputs(
            model, info, dict(zip([t.name for t in info.inputs], args, strict=True))
        )

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(SERVING_SIGNATURE, serve)
    if info.is_image:
        size = tuple(info.input_shape[1:3])
        # TF Serving's REST API base64-decodes {"b64": ...} values; "_bytes" names the convention.
        bytes_spec = tf.TensorSpec([None], tf.string, name="image_bytes")

        @tf.function(input_signature=[bytes_spec])
        def serve_image(image_bytes):
            images = tf.map_fn(
                lambda b: preprocess_image_bytes(b, size),
                image_bytes,
                fn_output_signature=tf.TensorSpec([*size, 1], tf.float32),
            )
            return named_outputs(model, info, {info.input_name: images})

        archive.add_endpoint(IMAGE_SIGNATURE, serve_image)
    archive.write_out(str(out_dir), verbose=False)

    extra = out_dir / "assets.extra"
    extra.mkdir(exist_ok=True)
    write_warmup_requests(extra / WARMUP_FILE, info, warmup)
    info.write(extra / METADATA_FILE, target="savedmodel", signatures=signature_names(info))


def signature_names(info: ModelInfo) -> list[str]:
    return [SERVING_SIGNATURE, IMAGE_SIGNATURE] if info.is_image else [SERVING_SIGNATURE]


def write_warmup_requests(path, info: ModelInfo, inputs: Arrays) -> None:
    """PredictionLog records in a TFRecord file, the format TF Serving and TFX InfraValidator use."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    def record(signature: str, inputs: dict) -> bytes:
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=info.name, signature_name=signature)
        )
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        log = prediction_log_pb2.PredictionLog(
            predict_log=prediction_log_pb2.PredictLog(request=request)
        )
        return log.SerializeToString()

    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(record(SERVING_SIGNATURE, {k: v[:1] for k, v in inputs.items()}))
        writer.write(record(SERVING_SIGNATURE, {k: v[:8] for k, v in inputs.items()}))
        if info.is_image:
            x = inputs[info.input_name]
            png = tf.io.encode_png(tf.cast(np.round(x[0] * 255), tf.uint8)).numpy()
            writer.write(record(IMAGE_SIGNATURE, {"image_bytes": np.array([png], dtype=object)}))


def write_version(
    model: keras.Model, info: ModelInfo, layout: Layout, version: int, warmup: Arrays
) -> Path:
    """Write SavedModel version N into `layout` (a staging tree) and record its hash beside it."""
    info = replace(info, version=version)
    out = layout.version_dir(version)
    out.parent.mkdir(parents=True, exist_ok=True)
    export_savedmodel(model, info, out, warmup)
    artifacts.describe(TARGETS["savedmodel"], out, info)
    return out


def publish_version(
    model: keras.Model, info: ModelInfo, dest: Layout, version: int | None, warmup: Arrays
) -> Path:
    """Export version N (None: the next one, taken under the name's lock) in a staging tree and
    rename it into `dest` when complete."""
    with staging(dest.root, dest.name, on_wait=ui.waiting) as stage:
        if version is None:
            version = (dest.latest_version() or 0) + 1
        write_version(model, info, stage, version, warmup)
        publish(stage, dest, groups=(), version=version)
    return dest.version_dir(version)


def prune_versions(layout: Layout, keep: int) -> list[int]:
    """Delete all but the newest `keep` versions; each vanishes in one rename."""
    versions = layout.versions()
    removed = versions[:-keep] if keep > 0 else []
    for version in removed:
        doomed = layout.serving_base / f".tmp-delete-{version}"
        try:
            layout.version_dir(version).rename(doomed)
        except FileNotFoundError:  # another writer retired it first
            continue
        shutil.rmtree(doomed, ignore_errors=True)
    return removed


def write_models_config(serving_root, container_root: str = "/models") -> str:
    """TF Serving's model_config_list naming every model under serving_root, as the image mounts it.

    Under a lock: two runs of different names publishing at once each list then write, and the
    last to write lists both.
    """
    with _config_lock(serving_root.parent):
        return _write_models_config(serving_root, container_root)


def _write_models_config(serving_root: Path, container_root: str) -> str:
    names = sorted(
        p.name
        for p in serving_root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and any(c.name.isdigit() for c in p.iterdir())
    )
    blocks = [
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{container_root}/{name}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { latest { num_versions: 1 } }\n"
        "  }\n"
        for name in names
    ]
    text = "model_config_list {\n" + "".join(blocks) + "}\n"
    write_text_atomic(serving_root / "models.config", text)
    return text


@contextlib.contextmanager
def _config_lock(models_dir: Path):
    """One writer of models.config at a time: each lists what is published, then writes."""
    import fcntl

    path = models_dir / ".locks" / "models.config.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield
