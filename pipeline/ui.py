"""Terminal output: progress bars on stderr, tables on stdout (rich)."""

from __future__ import annotations

import contextlib
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


def waiting(holder: str) -> None:
    """Said once when another run of the same model name holds its lock."""
    console.print(f"[yellow]waiting[/]: another run of this model name holds its lock ({holder})")
