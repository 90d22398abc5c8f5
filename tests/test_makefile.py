"""The docs' commands exist: every `make X` a markdown file names is a Makefile target with a
description, and `make` alone lists them."""

import re
import subprocess

from tests.repo import ROOT, repo_files

# `make X`, with any VAR=value before the target; the word after X may be prose in a comment
MAKE = re.compile(r"(?<![\w./-])make(?:[ \t]+[A-Z_]+=\S*)*[ \t]+([a-z][a-z0-9-]*)")


def code_in(markdown: str) -> list[str]:
    """Fenced code blocks and inline code spans: where a doc writes a command to run (prose such
    as "make sure" is not one)."""
    fence = re.compile(r"^[ \t]*(```|~~~)[^\n]*\n(.*?)^[ \t]*\1", flags=re.M | re.S)
    blocks = [m.group(2) for m in fence.finditer(markdown)]
    return blocks + re.findall(r"`([^`\n]+)`", fence.sub("", markdown))


def make_targets_named(markdown: str) -> set[str]:
    return {target for code in code_in(markdown) for target in MAKE.findall(code)}


def documented_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):.*## ", makefile, flags=re.M))


def test_the_make_commands_are_read_from_code_not_prose():
    doc = (
        "First make sure to run `make all`, then:\n\n```sh\nmake NAME=mnist train\n"
        "make test  # every tier; make web-dev after make web\n```\nOr make do with `make help`.\n"
        "1. then\n   ```\n   make bench\n   ```\n"
    )
    assert make_targets_named(doc) == {"all", "train", "test", "web-dev", "web", "help", "bench"}


def test_every_make_target_any_markdown_file_names_exists_and_is_documented():
    files = repo_files("*.md")
    assert ROOT / "README.md" in files
    documented = documented_targets()
    missing = {
        str(path.relative_to(ROOT)): sorted(make_targets_named(path.read_text()) - documented)
        for path in files
    }
    assert {f: m for f, m in missing.items() if m} == {}


def test_make_help_is_the_default_goal_and_lists_targets():
    out = subprocess.run(
        ["make", "-s", "--no-print-directory"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0
    for target in ("all", "test", "lint", "format", "bench", "clean"):
        assert re.search(rf"\b{target}\b", out.stdout), target


def test_readme_opens_with_make_all_then_make_test():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^make [a-z-]+", readme, flags=re.M)
    assert commands[:2] == ["make all", "make test"]
