"""The repository as the tests that guard its shape see it: its root and its files."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def repo_files(pattern: str) -> list[Path]:
    """Files matching `pattern`, committed or new, as git's ignore rules see them, sorted.

    A file deleted from the work tree is still listed until the deletion is staged: left out.
    """
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", pattern],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    paths = (ROOT / p for p in listed if "node_modules" not in Path(p).parts)
    return sorted(p for p in paths if p.is_file())
