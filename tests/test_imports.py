"""Imports follow the flow: consumers never import the producer, and nothing imports the harness.

pipeline/ produces models/; serving/, mobile/ and web/ consume it and meet the producer only in the
artifact files and their metadata. The producer may drive a consumer's runtime to verify an
artifact in it (pipeline -> mobile, serving). bench/ and tests/ drive every part and are imported
by none. See docs/design.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.repo import ROOT, repo_files

PACKAGES = ("pipeline", "serving", "mobile", "web", "bench")
HARNESS = {"bench", "tests"}
FORBIDDEN = {
    "pipeline": HARNESS | {"web"},
    "serving": HARNESS | {"pipeline", "mobile", "web"},
    "mobile": HARNESS | {"pipeline", "serving", "web"},
    "web": HARNESS | {"pipeline", "serving", "mobile"},
    "bench": {"tests"},
}


def imported_packages(source: str) -> set[str]:
    """Top-level names of every absolute import in a module, function-level imports included."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str, source: str) -> set[str]:
    return imported_packages(source) & FORBIDDEN[package]


def project_modules() -> list[Path]:
    return [p for p in repo_files("*.py") if p.relative_to(ROOT).parts[0] in PACKAGES]


def test_no_module_imports_against_the_flow():
    modules = project_modules()
    assert {m.relative_to(ROOT).parts[0] for m in modules} == set(PACKAGES)
    against = {
        str(m.relative_to(ROOT)): sorted(bad)
        for m in modules
        if (bad := violations(m.relative_to(ROOT).parts[0], m.read_text()))
    }
    assert against == {}


@pytest.mark.parametrize(
    ("package", "source", "expected"),
    [
        ("serving", "from pipeline.ui import out", {"pipeline"}),
        ("mobile", "def f():\n    import pipeline.config\n", {"pipeline"}),
        ("web", "import bench.table as t", {"bench"}),
        ("pipeline", "from bench import table", {"bench"}),
        ("pipeline", "from mobile.runtime import TfliteModel\nimport serving.quiet", set()),
        ("serving", "from . import errors\nfrom serving import json_tensor", set()),
    ],
)
def test_the_checker_sees_module_and_function_level_imports(package, source, expected):
    assert violations(package, source) == expected
