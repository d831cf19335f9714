"""The grader end to end on a tiny assignment without TensorFlow: intake, repair, real nbgrader in the
sandbox kernel, scores, feedback and the sheet, for a handful of students (about half a minute).

The course is built in a temp folder (``RECSYS_COURSE_ROOT``): one assignment
whose answer is ``add(a, b)``, a visible test (1 point) and a hidden test (2 points).
"""

from __future__ import annotations

import csv
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.cells import HIDDEN_BEGIN, HIDDEN_END
from grader.grade import grade_class
from grader.nbgrader_helpers import fill_in_solutions
from grader.release import generate
from grader.sandbox_kernel import platform_features
from grader.settings import GradingSettings

pytestmark = [pytest.mark.slow]

ASSIGNMENT = "01_tiny"


def _meta(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# A tiny assignment", metadata=_meta("title", locked=True)),
        new_code_cell("import os\nSECRET_PATHS = ['solutions', 'grading']", metadata=_meta("setup", locked=True)),
        new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                      metadata=_meta("add_solution", solution=True)),
        new_code_cell('"""Format only: add returns a number."""\nassert isinstance(add(1, 2), int)',
                      metadata=_meta("add_visible_format", grade=True, locked=True, points=1)),
        new_code_cell(f'"""add adds."""\n{HIDDEN_BEGIN}\nassert add(2, 3) == 5\nassert add(-1, 1) == 0\n{HIDDEN_END}',
                      metadata=_meta("add_hidden_values", grade=True, locked=True, points=2)),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    folder = course / "solutions" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(source_notebook(), folder / f"{ASSIGNMENT}.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_COURSE_ROOT", str(course))
        generate(course, [ASSIGNMENT])
        release = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        submissions = tmp_path_factory.mktemp("submissions")
        solved = fill_in_solutions(release, source_notebook())
        wrong = fill_in_solutions(release, source_notebook())
        wrong.cells[2].source = "def add(a, b):\n    return float(a - b)"
        noisy = fill_in_solutions(release, source_notebook())
        noisy.cells[2].source = "import sys\ndef add(a, b):\n    print('thinking', file=sys.stderr)\n    return a + b"
        for student, notebook in {"alice": solved, "bob": wrong, "carol": noisy, "dave": release}.items():
            (submissions / student).mkdir()
            nbformat.write(notebook, submissions / student / f"{ASSIGNMENT}.ipynb")
        (submissions / "erin").mkdir()
        (submissions / "erin" / f"{ASSIGNMENT}.ipynb").write_text('{"cells": [')  # truncated upload
        out = tmp_path_factory.mktemp("out")
        results = grade_class(submissions, out, settings=GradingSettings(jobs=2, cell_timeout=30,
                                                                         notebook_timeout=120, memory_mb=1500))
    sheet = {row["student"]: row for row in csv.DictReader(open(out / "grades.csv", newline=""))}
    return {"results": {r["student"]: r for r in results}, "sheet": sheet, "out": out}


def test_each_student_gets_what_the_notebook_deserves(graded):
    sheet = graded["sheet"]
    got = {s: (row[f"{ASSIGNMENT} status"], row[f"{ASSIGNMENT} points"], row[f"{ASSIGNMENT} max"])
           for s, row in sheet.items()}
    assert got == {
        "alice": ("graded", "3", "3"),
        "bob": ("graded", "0", "3"),  # a float: the format test fails, and the values are wrong
        "carol": ("graded", "3", "3"),  # stderr is not a failure
        "dave": ("graded", "0", "3"),  # the untouched release
        "erin": ("unreadable", "0", "3"),  # nothing ran, but the maximum stays
    }
    assert sheet["alice"][f"{ASSIGNMENT} | add"] == "3" and sheet["erin"][f"{ASSIGNMENT} | add"] == "0"
    assert "truncated" in sheet["erin"][f"{ASSIGNMENT} message"]


def test_the_kernels_ran_in_the_sandbox_where_the_platform_allows(graded):
    isolation = {r["isolation"] for r in graded["results"].values() if r["status"] == "graded"}
    assert isolation == ({"namespaces"} if "namespaces" in platform_features() else {"none"})
    assert all(r["isolation_missing"] == graded["results"]["alice"]["isolation_missing"]
               for r in graded["results"].values() if r["status"] == "graded")


def test_feedback_shows_verdicts_not_hidden_code(graded):
    page = (graded["out"] / "feedback" / "bob" / f"{ASSIGNMENT}.html").read_text()
    assert "Hidden test failed" in page and "add(-1, 1)" not in page
    assert not (graded["out"] / "feedback" / "erin").exists()


def test_results_are_kept_for_the_next_run(graded):
    saved = json.loads((graded["out"] / "results" / "alice" / f"{ASSIGNMENT}.json").read_text())
    assert saved["key"] and saved["scores"] == {"add_visible_format": 1.0, "add_hidden_values": 2.0}


def test_the_small_data_set_is_made_once_where_the_job_says(tmp_path):
    """A Dask task names its node's folder for the small data set: made by the first notebook, reused
    (not rebuilt) by the next ones, whose own course folders differ."""
    from grader.grade_one import GradeJob, grading_data_dir

    def job(courses: str) -> GradeJob:
        return GradeJob("s", "a", "", "", "", "", "", "", courses_dir=str(tmp_path / courses),
                        small_data_dir=str(tmp_path / "node" / "small-data"), full_data=False)

    first, _ = grading_data_dir(job("task-1"))
    manifest = tmp_path / "node" / "small-data" / "ml-100k" / ".fetched.json"
    assert first == str(tmp_path / "node" / "small-data") and manifest.is_file()
    made = manifest.stat().st_mtime_ns
    assert grading_data_dir(job("task-2"))[0] == first and manifest.stat().st_mtime_ns == made
    assert not (tmp_path / "task-1" / ".small-data").exists() and not (tmp_path / "task-2" / ".small-data").exists()
