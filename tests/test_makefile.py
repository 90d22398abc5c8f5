"""The README's commands exist: every `make X` it names is a Makefile target with a description."""

import re
import subprocess

from pipeline.config import ROOT


def test_every_make_target_the_readme_names_exists_and_is_documented():
    readme = (ROOT / "README.md").read_text()
    named = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", readme))
    assert {"all", "test"} <= named
    makefile = (ROOT / "Makefile").read_text()
    documented = set(re.findall(r"^([a-z][a-z0-9-]*):.*## ", makefile, flags=re.M))
    assert named <= documented, named - documented


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
