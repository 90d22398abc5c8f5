"""Importing TensorFlow without its C++ start-up lines on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null: C++ code writes there, below Python's sys.stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_import_tensorflow(init_devices: bool = False) -> None:
    """Import TensorFlow with its C++ start-up lines (absl, oneDNN, CUDA stub) kept off stderr.

    TF 2.21 logs them through absl before any level is applied, so TF_CPP_MIN_LOG_LEVEL cannot;
    without this, an error message would never be the one line a user sees. `init_devices` also
    runs device discovery now, so its failed-cuInit line on machines without a GPU is dropped too.
    """
    if "tensorflow" in sys.modules and not init_devices:
        return
    with quiet_stderr():
        import tensorflow as tf

        if init_devices:
            tf.config.list_physical_devices()
