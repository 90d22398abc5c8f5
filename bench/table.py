"""One results table, printed to the terminal (rich) and written as markdown; bench.md collected.

Every bench module renders through it; its tests: python -m pytest tests/bench -q
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rich.markup import escape
from rich.table import Table as RichTable

from pipeline import ui
from pipeline.layout import write_text_atomic


@dataclass(frozen=True)
class Column:
    header: str
    align: Literal["left", "right"] = "right"  # left for names and prose, right for figures


class Table:
    """`Table("title", [Column("server", "left"), Column("req/s")])`, then `.add(...)` per row."""

    def __init__(self, title: str, columns: list[Column]):
        self.title = title
        self.columns = columns
        self.rows: list[tuple[list[str], bool]] = []

    def add(self, *cells: str, strong: bool = False) -> None:
        """One row; a strong row is bold in both renderings (a total, a missed target)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(([str(c) for c in cells], strong))

    def print(self) -> None:
        table = RichTable(title=self.title)
        for c in self.columns:
            table.add_column(c.header, justify=c.align)
        for cells, strong in self.rows:
            table.add_row(*map(escape, cells), style="bold" if strong else None)
        ui.out.print(table)

    def markdown(self) -> str:
        def row(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"

        lines = [
            row([c.header for c in self.columns]),
            row(["---" if c.align == "left" else "---:" for c in self.columns]),
        ]
        for cells, strong in self.rows:
            lines.append(row([f"**{c}**" if strong and c else c for c in cells]))
        return "\n".join(lines)


def targets(verdicts: list[tuple[str, str, bool]]) -> Table:
    """The targets table: (target, measured, met) a row, "pass" or a strong "FAIL"."""
    table = Table(
        "targets", [Column("target", "left"), Column("measured"), Column("result", "left")]
    )
    for text, value, ok in verdicts:
        table.add(text, value, "pass" if ok else "FAIL", strong=not ok)
    return table


def collect(reports_dir: Path) -> None:
    """bench.md: every bench-*.md of this model, one after the other."""
    parts = [p.read_text() for p in sorted(reports_dir.glob("bench-*.md"))]
    text = "\n".join(parts) or "# Benchmarks\n\nNone run yet.\n"
    write_text_atomic(reports_dir / "bench.md", text)


def write_report(reports_dir: Path, bench: str, text: str) -> Path:
    """Write bench-<bench>.md atomically, then bench.md from every report beside it."""
    path = reports_dir / f"bench-{bench}.md"
    write_text_atomic(path, text)
    collect(reports_dir)
    return path
