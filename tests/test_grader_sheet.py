"""grader.sheet, grader.settings, grader.statuses, grader.cells and grade_class's entry: no kernel, no nbgrader."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import grade
from grader.cells import (
    LOCKED, PLAIN, SOLUTION, TEST, exercise_of, graded_points, has_hidden_tests, is_graded_test, role,
)
from grader.grade_one import GradeJob, library_copies
from grader.settings import GradingSettings
from grader.sheet import write_problems, write_sheet
from grader.statuses import GradeStatus, IntakeStatus, RepairStatus
from grader.submissions import Submission

A, B = "01_a", "02_b"


def _result(student, assignment, scores, maximum, status="graded", **extra):
    return {"student": student, "assignment": assignment, "status": status, "message": extra.pop("message", ""),
            "scores": scores, "max_scores": maximum, **extra}


def read(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path, newline="")))


def test_the_sheet_has_a_row_per_student_and_columns_per_notebook_and_exercise(tmp_path):
    maximum = {"f_visible": 1.0, "f_hidden_x": 2.0, "g_hidden_y": 3.0}
    results = [
        _result("s1", A, {"f_visible": 1.0, "f_hidden_x": 0.0, "g_hidden_y": 3.0}, maximum,
                review=["copied from recsys_course.x.g (g_solution)"]),
        _result("s2", A, dict.fromkeys(maximum, 0.0), maximum, status=GradeStatus.UNREADABLE, message="not JSON"),
        _result("s2", B, {"h_hidden": 1.5}, {"h_hidden": 2.0}),
    ]
    write_sheet(results, {"s1": "Ann One"}, [A, B], tmp_path / "grades.csv")
    rows = {row["student"]: row for row in read(tmp_path / "grades.csv")}
    assert list(rows["s1"])[:7] == ["student", "name", f"{A} points", f"{A} max", f"{A} status", f"{A} message",
                                    f"{A} review"]
    assert rows["s1"]["name"] == "Ann One" and rows["s2"]["name"] == "s2"
    assert (rows["s1"][f"{A} points"], rows["s1"][f"{A} max"], rows["s1"][f"{A} | f"], rows["s1"][f"{A} | g"]) == (
        "4", "6", "1", "3")
    assert rows["s1"][f"{A} review"] == "copied from recsys_course.x.g (g_solution)"
    assert rows["s1"][f"{B} status"] == "not_submitted" and rows["s1"][f"{B} points"] == ""
    assert (rows["s2"][f"{A} status"], rows["s2"][f"{A} max"]) == ("unreadable", "6")
    assert (rows["s1"]["total"], rows["s1"]["max"]) == ("4", "6")
    assert (rows["s2"]["total"], rows["s2"]["max"]) == ("1.5", "8")


def test_problems_list_every_file_not_graded(tmp_path):
    records = [Submission("x/notes.txt", IntakeStatus.NOT_A_NOTEBOOK, student_id="s1", message="not a notebook (.txt)"),
               Submission("y.ipynb", IntakeStatus.UNMATCHED, message="its name matches no assignment")]
    write_problems(records, tmp_path / "problems.csv")
    assert read(tmp_path / "problems.csv") == [
        {"file": "x/notes.txt", "status": "not_a_notebook", "student": "s1", "assignment": "",
         "message": "not a notebook (.txt)"},
        {"file": "y.ipynb", "status": "unmatched", "student": "", "assignment": "",
         "message": "its name matches no assignment"}]


def test_statuses_are_plain_strings_in_csv_and_json():
    assert json.dumps({"s": GradeStatus.MEMORY_LIMIT}) == '{"s": "memory_limit"}'
    assert GradeStatus(RepairStatus.WRONG_NOTEBOOK.value) == "wrong_notebook"
    assert f"{IntakeStatus.DUPLICATE}" == "duplicate_submission"
    assert {s.value for s in GradeStatus} >= {"graded", "repaired", "unreadable", "wrong_notebook", "cell_timeout",
                                             "notebook_timeout", "kernel_died", "memory_limit",
                                             "tampering_detected", "error", "not_submitted"}


def test_settings_defaults_overrides_and_fingerprint(tmp_path):
    settings = GradingSettings()
    assert (settings.cell_timeout, settings.notebook_timeout, settings.memory_mb, settings.jobs) == (120, 600, 4096, 1)
    changed = settings.with_(jobs=2, memory_mb=None, data_dir=tmp_path)
    assert (changed.jobs, changed.memory_mb, changed.resolved_data_dir()) == (2, 4096, str(tmp_path.resolve()))
    assert changed.fingerprint() == GradingSettings(data_dir=tmp_path).fingerprint()  # jobs change no grade
    assert settings.with_(cell_timeout=5).fingerprint() != settings.fingerprint()
    # the data a notebook runs on changes its grade: a full-data run reuses no small-data result
    assert settings.with_(full_data=not settings.full_data).fingerprint() != settings.fingerprint()


def test_the_command_line_chooses_the_data(tmp_path, monkeypatch):
    """--full-data runs on the data folder; without it, the small synthetic set (unless the environment says)."""
    seen = {}
    monkeypatch.setattr(grade, "grade_class", lambda *args, settings, **kwargs: seen.setdefault("s", settings))
    monkeypatch.delenv("RECSYS_GRADER_FULL_DATA", raising=False)
    grade.main([str(tmp_path)])
    assert seen.pop("s").full_data is False
    grade.main([str(tmp_path), "--full-data", "--data", str(tmp_path)])
    assert seen["s"].full_data is True and seen["s"].resolved_data_dir() == str(tmp_path.resolve())


def test_grade_class_takes_keywords_only_and_refuses_unknown_ones(tmp_path):
    with pytest.raises(TypeError):
        grade.grade_class(tmp_path, tmp_path / "out", None, 2)  # noqa -- positional settings are gone
    with pytest.raises(TypeError, match="memory"):
        grade.grade_class(tmp_path, tmp_path / "out", memory=1)


def test_the_command_line_builds_one_settings_object(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(grade, "grade_class", lambda submissions, out, **kwargs: seen.update(kwargs))
    grade.main([str(tmp_path), "--jobs", "2", "--memory-mb", "900", "--show-hidden-code", "--assignment", A])
    assert seen["assignments"] == [A]
    assert seen["settings"] == GradingSettings(jobs=2, memory_mb=900, show_hidden_code=True)


def test_cell_roles_and_markers():
    answer = new_code_cell("def f(): ...", metadata={"nbgrader": {"solution": True, "grade": True, "grade_id": "f_solution", "points": 2}})
    hidden = new_code_cell("### BEGIN HIDDEN TESTS\nassert f()\n### END HIDDEN TESTS",
                           metadata={"nbgrader": {"grade": True, "grade_id": "f_hidden_x", "points": 3}})
    locked = new_markdown_cell("text", metadata={"nbgrader": {"locked": True, "grade_id": "intro"}})
    plain = new_code_cell("x = 1")
    assert [role(c) for c in (answer, hidden, locked, plain)] == [SOLUTION, TEST, LOCKED, PLAIN]
    assert [is_graded_test(c) for c in (answer, hidden, locked, plain)] == [False, True, False, False]
    assert has_hidden_tests(hidden) and not has_hidden_tests(answer)
    assert graded_points(new_notebook(cells=[answer, hidden, locked, plain])) == {"f_solution": 2.0, "f_hidden_x": 3.0}
    assert [exercise_of(g) for g in ("split_dataframe_hidden_seed", "f_visible_format", "f_solution", "title")] == [
        "split_dataframe", "f", "f", "title"]


def test_answers_copied_from_the_library_are_listed_for_review():
    from grader.library_versions import LIBRARY_VERSIONS, _module_file

    module = _module_file("recsys_course.regularization").read_text()
    start = module.index("def gravity(U, V)")
    copied = module[start:module.index("\n\n\n", start)]
    notebook = new_notebook(cells=[
        new_code_cell(copied, metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "gravity_solution"}}),
        new_code_cell(copied),  # not an answer cell: not checked
    ])
    assert library_copies(notebook) == [f"copied from {LIBRARY_VERSIONS['gravity']} (gravity_solution)"]


def test_a_job_carries_the_settings_a_worker_needs():
    job = GradeJob(student="s", assignment=A, submitted="x", template="t", release="r", source="src",
                   data_dir="d", feedback_html="f.html")
    assert (job.cell_timeout, job.notebook_timeout, job.memory_mb, job.show_hidden_code) == (120, 600, 4096, False)
