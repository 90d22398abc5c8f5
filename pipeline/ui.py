"""Terminal output: progress bars on stderr, tables on stdout (rich)."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
# tables stay readable when piped or logged (rich would otherwise fold them to 80 columns)
out = Console(width=None if Console().is_terminal else 160)


def progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )


@contextlib.contextmanager
def step(title: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """A titled pipeline step; its wall time is added to `timings` under `title`."""
    console.print(f"[cyan]▶[/] {title}")
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        if timings is not None:
            timings[title] = timings.get(title, 0.0) + seconds
        console.print(f"  [dim]{title}: {seconds:.1f} s[/]")


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
