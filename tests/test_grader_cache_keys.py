"""Cached templates and results follow every change of an assignment's hidden tests (fast)."""

from __future__ import annotations

import shutil
from pathlib import Path

from grader import grade

REPO = Path(__file__).resolve().parent.parent


def make_course(root: Path) -> Path:
    (root / "solutions" / "01_a").mkdir(parents=True)
    (root / "solutions" / "01_a" / "01_a.ipynb").write_text('{"cells": [], "nbformat": 4}')
    shutil.copytree(REPO / "grader" / "hidden_tests", root / "grader" / "hidden_tests")
    shutil.copy(REPO / "grader" / "inline_hidden_helpers.py", root / "grader" / "inline_hidden_helpers.py")
    return root


def test_the_digest_changes_with_the_source_and_with_a_hidden_test_helper(tmp_path, monkeypatch):
    root = make_course(tmp_path)
    monkeypatch.setattr(grade, "REPO_ROOT", root)
    first = grade.hidden_tests_digest(root, "01_a")
    assert grade.hidden_tests_digest(root, "01_a") == first  # stable
    helper = root / "grader" / "hidden_tests" / "common.py"
    helper.write_text(helper.read_text() + "\n# a changed reference\n")
    second = grade.hidden_tests_digest(root, "01_a")
    assert second != first
    notebook = root / "solutions" / "01_a" / "01_a.ipynb"
    notebook.write_text(notebook.read_text().replace("[]", '[{"cell_type": "markdown", "source": "x"}]'))
    assert grade.hidden_tests_digest(root, "01_a") not in (first, second)
