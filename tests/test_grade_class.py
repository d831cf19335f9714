"""The `grade` command end to end: real nbgrader, the sandbox, a class of good, bad and hostile hand-ins.

One assignment (03_measuring_error) and a class of students who each do one
thing; the sheet must say exactly what each deserves, with two jobs at once.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from grader.grade import grade_class
from grader.nbgrader_helpers import REPO_ROOT, fill_in_solutions

ASSIGNMENT = "03_measuring_error"
SOLUTION = REPO_ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = REPO_ROOT / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
HEADER = "def sparse_mean_square_error("


def with_answer(notebook, edit) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose answer cell is ``edit(source)``."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if HEADER in cell.source and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = edit(cell.source)
    return changed


SUM_NOT_MEAN = '''
import tensorflow as tf
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_sum(tf.square(predictions - sparse_ratings.values))
'''
# Uses the instructor's solution if the sandbox lets it read it, else gives up.
STEAL = '''
import json
try:
    source = json.load(open(%r))
    exec(next("".join(c["source"]) for c in source["cells"] if "def sparse_mean_square_error" in "".join(c["source"])))
except OSError:
    def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
        return 0.0
''' % str(SOLUTION)


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    good = fill_in_solutions(nbformat.read(RELEASE, as_version=4), nbformat.read(SOLUTION, as_version=4))

    def hand_in(student: str, notebook, name: str = f"{ASSIGNMENT}.ipynb") -> None:
        (folder / student).mkdir()
        nbformat.write(notebook, folder / student / name)

    hand_in("alice", good)
    stripped = with_answer(good, lambda s: s)
    for cell in stripped.cells:
        cell.metadata = {}  # as Colab saves it
    hand_in("bella", stripped, f"Copy of {ASSIGNMENT}.ipynb")
    hand_in("carl", with_answer(good, lambda s: "import warnings\n" + s.replace(
        '"""\n', '"""\n    warnings.warn("an honest warning on stderr")\n', 1)))
    hand_in("erin", with_answer(good, lambda s: SUM_NOT_MEAN))
    hand_in("boris", with_answer(good, lambda s: "import numpy\nnumpy.allclose = lambda *a, **k: True\n" + s))
    hand_in("dora", with_answer(good, lambda s: s + "\nimport os\nos._exit(0)\n"))
    hand_in("fred", with_answer(good, lambda s: "while True:\n    pass\n"))
    hand_in("gina", with_answer(good, lambda s: "hog = bytearray(3 * 1024**3)\nhog[::4096] = b'1' * len(hog[::4096])\n" + s))
    hand_in("hugo", with_answer(good, lambda s: STEAL))
    (folder / "ivan").mkdir()
    (folder / "ivan" / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(nbformat.writes(good))[:2000])
    return folder


@pytest.mark.grader
def test_grade_a_class_with_two_jobs(class_folder, tmp_path, synthetic_dir):
    out = tmp_path / "out"
    grade_class(class_folder, out, [ASSIGNMENT], jobs=2, data_dir=synthetic_dir.parent,
                cell_timeout=90, notebook_timeout=400, memory_mb=2500)
    rows = {row["student"]: row for row in csv.DictReader(open(out / "grades.csv"))}
    got = {student: (row[f"{ASSIGNMENT} status"], float(row[f"{ASSIGNMENT} points"] or 0))
           for student, row in rows.items()}
    hugo = got.pop("hugo")
    assert got == {
        "alice": ("graded", 14.0),
        "bella": ("repaired", 14.0),  # metadata restored from the release
        "carl": ("graded", 14.0),  # stderr from a warning costs nothing
        "erin": ("graded", 7.0),  # sum instead of mean: values, mean_of_squares, gradient_values
        "boris": ("tampering_detected", 0.0),
        "dora": ("kernel_died", 0.0),
        "fred": ("cell_timeout", 0.0),
        "gina": ("memory_limit", 0.0),
        "ivan": ("unreadable", 0.0),
    }
    assert hugo[0] == "graded" and hugo[1] < 14, "the sandbox let a submission read the instructor's solution"
    feedback = (out / "feedback" / "erin" / f"{ASSIGNMENT}.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in feedback and "Hidden test failed" in feedback
