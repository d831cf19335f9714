"""grader.lms_export: Canvas's gradebook import CSV and Moodle's grade import CSV, from a grading output.

Fast: the grading output is written by hand (grader.sheet.write_sheet) from
an intake of Canvas- and Moodle-named files (grader.submissions), no nbgrader.
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import lms_export
from grader.lms_export import LmsExportError, export_grades
from grader.sheet import identities_of, write_sheet
from grader.submissions import collect_submissions

NB3, NB4 = "03_measuring_error", "04_matrix_factorization"
MAXIMUM = {NB3: {"f_visible": 2.0, "f_hidden_values": 8.0}, NB4: {"g_visible": 1.0, "g_hidden_fit": 4.0}}

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                 "Notebook 3: Measuring the error (4567)", "Notebook 4: Matrix factorization (4568)",
                 "Assignments Current Score", "Current Score", "Final Score"]
CANVAS_ROWS = [
    ["    Points Possible", "", "", "", "", "10.00", "5.00", "(read only)", "(read only)", "(read only)"],
    ["Smith, Jane", "48213", "S001", "jsmith", "Section A", "", "", "", "", ""],
    ["Ng, Carol", "50177", "S002", "cng", "Section A", "", "", "", "", ""],
    ["Doe, John", "50200", "S003", "jdoe", "Section B", "", "", "", "", ""],
    ["Student, Test", "50999", "", "", "Section A", "", "", "", "", ""],
]
MOODLE_HEADER = ["First name", "Last name", "ID number", "Institution", "Department", "Email address",
                 "Assignment: Measuring the error (Real)", "Assignment: Matrix factorization (Real)",
                 "Course total (Real)", "Last downloaded from this course"]
MOODLE_ROWS = [
    ["Jane", "Smith", "S001", "", "", "jane.smith@example.edu", "-", "-", "-", "1764547200"],
    ["Carol", "Ng", "S002", "", "", "carol.ng@example.edu", "-", "-", "-", "1764547200"],
    ["John", "Doe", "S003", "", "", "john.doe@example.edu", "-", "-", "-", "1764547200"],
]


def _release(assignment: str) -> nbformat.NotebookNode:
    meta = {"nbgrader": {"grade": True, "grade_id": f"{assignment}_visible", "locked": True, "points": 1,
                         "schema_version": 3, "solution": False}}
    return new_notebook(cells=[new_markdown_cell(f"# {assignment}"),
                               new_code_cell(f"assert True  # {assignment}", metadata=meta)])


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8-sig") as handle:  # the LMSs write a BOM
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def grading_output(tmp_path: Path, files: list[str], scores: dict[tuple[str, str], float],
                   with_identities: bool = True) -> Path:
    """An intake of ``files`` (LMS-named), graded by hand: ``scores[(student, assignment)]`` hidden points."""
    releases = {}
    for assignment in (NB3, NB4):
        releases[assignment] = tmp_path / "course" / assignment / f"{assignment}.ipynb"
        releases[assignment].parent.mkdir(parents=True)
        nbformat.write(_release(assignment), releases[assignment])
    export = tmp_path / "export"
    for name in files:
        path = export / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(_release(NB3 if NB3 in name else NB4), path)
    intake = collect_submissions(export, releases)
    assert [r.status for r in intake.records] == ["ok"] * len(files)
    results = []
    for record in intake.submissions:
        maximum = MAXIMUM[record.assignment]
        hidden = scores[(record.student_id, record.assignment)]
        scored = {g: (hidden if "hidden" in g else p) for g, p in maximum.items()}
        results.append({"student": record.student_id, "assignment": record.assignment, "status": "graded",
                        "message": "", "scores": scored, "max_scores": maximum})
    out = tmp_path / "grading-output"
    out.mkdir()
    names = {r.student_id: r.display_name for r in intake.submissions}
    write_sheet(results, names, [NB3, NB4], out / "grades.csv",
                identities=identities_of(intake.submissions) if with_identities else None)
    return out


CANVAS_FILES = ["smithjane_48213_1739201_03_measuring_error.ipynb",
                "smithjane_48213_1739300_04_matrix_factorization.ipynb",
                "ngcarol_LATE_50177_1739305_Copy of 03_measuring_error-1.ipynb"]
CANVAS_SCORES = {("smithjane", NB3): 6.5, ("smithjane", NB4): 4.0, ("ngcarol", NB3): 8.0}


def test_the_sheet_keeps_the_canvas_user_id_of_the_file_names(tmp_path):
    out = grading_output(tmp_path, CANVAS_FILES, CANVAS_SCORES)
    rows = {row["student"]: row for row in csv.DictReader(open(out / "grades.csv", newline=""))}
    assert (rows["smithjane"]["lms"], rows["smithjane"]["lms_id"]) == ("canvas", "48213")
    assert (rows["ngcarol"]["lms"], rows["ngcarol"]["lms_id"]) == ("canvas", "50177")
    assert list(rows["ngcarol"])[-4:] == ["total", "max", "lms", "lms_id"]


def test_canvas_import_has_the_roster_columns_points_possible_and_a_row_per_enrolled_student(tmp_path, capsys):
    out = grading_output(tmp_path, CANVAS_FILES, CANVAS_SCORES)
    roster = _write_csv(tmp_path / "canvas-gradebook.csv", CANVAS_HEADER, CANVAS_ROWS)
    summary = export_grades(out, "canvas", roster, tmp_path / "canvas-import.csv")
    table = _read(tmp_path / "canvas-import.csv")
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                        "Notebook 3: Measuring the error (4567)", "Notebook 4: Matrix factorization (4568)"]
    assert table[1] == ["Points Possible", "", "", "", "", "10", "5"]
    assert table[2:] == [["Smith, Jane", "48213", "S001", "jsmith", "Section A", "8.5", "5"],
                         ["Ng, Carol", "50177", "S002", "cng", "Section A", "10", ""],
                         ["Doe, John", "50200", "S003", "jdoe", "Section B", "", ""],
                         ["Student, Test", "50999", "", "", "Section A", "", ""]]
    assert summary["columns"] == {NB3: "Notebook 3: Measuring the error (4567)",
                                  NB4: "Notebook 4: Matrix factorization (4568)"}
    warning = capsys.readouterr().err
    assert "1 enrolled student(s) handed in nothing" in warning and "Doe, John (ID 50200)" in warning
    assert "Student, Test" not in warning


def test_canvas_matches_by_id_even_when_the_name_changed_and_scales_to_points_possible(tmp_path, capsys):
    out = grading_output(tmp_path, CANVAS_FILES, CANVAS_SCORES)
    rows = [list(r) for r in CANVAS_ROWS]
    rows[1][0] = "Smith-Jones, Jane"  # married since the export of submissions: the id still matches
    rows[0][5] = "20.00"
    roster = _write_csv(tmp_path / "canvas-gradebook.csv", CANVAS_HEADER, rows)
    export_grades(out, "canvas", roster, tmp_path / "plain.csv", assignments=[NB3])
    assert "out of 20.00 points in Canvas, 03_measuring_error out of 10" in capsys.readouterr().err
    assert [r[5] for r in _read(tmp_path / "plain.csv")[1:3]] == ["10", "8.5"]
    export_grades(out, "canvas", roster, tmp_path / "scaled.csv", assignments=[NB3], scale=True, missing="zero")
    assert [r[5] for r in _read(tmp_path / "scaled.csv")[1:5]] == ["20", "17", "20", "0"]


def test_a_graded_student_missing_from_the_roster_is_an_error_naming_them(tmp_path):
    out = grading_output(tmp_path, CANVAS_FILES, CANVAS_SCORES)
    roster = _write_csv(tmp_path / "canvas-gradebook.csv", CANVAS_HEADER, [CANVAS_ROWS[0], CANVAS_ROWS[1]])
    with pytest.raises(LmsExportError, match=r"1 graded student\(s\) not in the roster: ngcarol \(ngcarol, canvas id 50177\)"):
        export_grades(out, "canvas", roster, tmp_path / "canvas-import.csv")
    assert not (tmp_path / "canvas-import.csv").exists()
    assert lms_export.main([str(out), "--lms", "canvas", "--roster", str(roster)]) == 2


def test_columns_are_chosen_by_name_or_by_option_and_an_ambiguous_one_is_an_error(tmp_path):
    out = grading_output(tmp_path, CANVAS_FILES, CANVAS_SCORES)
    header = CANVAS_HEADER[:7] + ["Notebook 3 measuring error, resubmission (4569)"] + CANVAS_HEADER[7:]
    rows = [r[:7] + ["5"] + r[7:] for r in CANVAS_ROWS]
    roster = _write_csv(tmp_path / "canvas-gradebook.csv", header, rows)
    with pytest.raises(LmsExportError, match=r"03_measuring_error matches several roster columns .*--column"):
        export_grades(out, "canvas", roster, tmp_path / "x.csv")
    summary = export_grades(out, "canvas", roster, tmp_path / "x.csv",
                            columns={NB3: "Notebook 3 measuring error, resubmission (4569)"})
    assert summary["columns"][NB3] == "Notebook 3 measuring error, resubmission (4569)"
    assert _read(tmp_path / "x.csv")[0][5:] == ["Notebook 3 measuring error, resubmission (4569)",
                                               "Notebook 4: Matrix factorization (4568)"]


MOODLE_FILES = ["Jane Smith_1002_assignsubmission_file/03_measuring_error.ipynb",
                "Carol Ng_1017_assignsubmission_file_03_measuring_error.ipynb"]
MOODLE_SCORES = {("jane_smith", NB3): 6.5, ("carol_ng", NB3): 0.0}


def test_moodle_import_is_keyed_on_email_with_a_grade_and_a_feedback_column(tmp_path, capsys):
    out = grading_output(tmp_path, MOODLE_FILES, MOODLE_SCORES)
    rows = {row["student"]: row for row in csv.DictReader(open(out / "grades.csv", newline=""))}
    assert (rows["jane_smith"]["lms"], rows["jane_smith"]["lms_id"]) == ("moodle", "1002")
    roster = _write_csv(tmp_path / "moodle-grades.csv", MOODLE_HEADER, MOODLE_ROWS)
    export_grades(out, "moodle", roster, tmp_path / "moodle-import.csv", assignments=[NB3], feedback=True)
    table = _read(tmp_path / "moodle-import.csv")
    assert table[0] == ["First name", "Last name", "Email address", "ID number",
                        "Assignment: Measuring the error (Real)", "Assignment: Measuring the error (Real) feedback"]
    assert table[1:] == [["Jane", "Smith", "jane.smith@example.edu", "S001", "8.5", "graded: 8.5/10 points"],
                         ["Carol", "Ng", "carol.ng@example.edu", "S002", "2", "graded: 2/10 points"],
                         ["John", "Doe", "john.doe@example.edu", "S003", "", ""]]
    assert "John Doe <john.doe@example.edu>" in capsys.readouterr().err


def test_moodle_names_in_either_order_and_participant_ids_of_a_grading_worksheet(tmp_path):
    out = grading_output(tmp_path, MOODLE_FILES, MOODLE_SCORES)
    worksheet = _write_csv(tmp_path / "worksheet.csv",
                           ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade"],
                           [["Participant 1002", "Smith Jane", "jane.smith@example.edu", "", "", "10"],
                            ["Participant 1017", "Carol Ng-Lee", "carol.ng@example.edu", "", "", "10"]])
    export_grades(out, "moodle", worksheet, tmp_path / "w.csv", assignments=[NB3], columns={NB3: "Grade"})
    assert _read(tmp_path / "w.csv")[1:] == [["Smith Jane", "jane.smith@example.edu", "8.5"],
                                            ["Carol Ng-Lee", "carol.ng@example.edu", "2"]]


def test_moodle_rows_without_the_chosen_user_key_are_an_error(tmp_path):
    out = grading_output(tmp_path, MOODLE_FILES, MOODLE_SCORES)
    rows = [list(r) for r in MOODLE_ROWS]
    rows[0][2] = ""
    roster = _write_csv(tmp_path / "moodle-grades.csv", MOODLE_HEADER, rows)
    with pytest.raises(LmsExportError, match=r"no ID number in the roster for Jane Smith"):
        export_grades(out, "moodle", roster, tmp_path / "m.csv", assignments=[NB3], moodle_key="idnumber")
    with pytest.raises(LmsExportError, match=r"no 'Username' column"):
        export_grades(out, "moodle", roster, tmp_path / "m.csv", assignments=[NB3], moodle_key="username")


def test_an_older_sheet_without_ids_takes_them_from_the_intake_folder(tmp_path):
    """A grading output from before the lms_id column: a zip export's names are kept under intake/."""
    out = grading_output(tmp_path, CANVAS_FILES, CANVAS_SCORES, with_identities=False)
    kept = out / "intake" / "0123456789ab"
    kept.mkdir(parents=True)
    for name in CANVAS_FILES:
        (kept / name).write_text("{}")
    rows = [list(r) for r in CANVAS_ROWS]
    rows[2][0] = "Ng-Lee, Carol"  # a name that no longer matches: only the id can
    roster = _write_csv(tmp_path / "canvas-gradebook.csv", CANVAS_HEADER, rows)
    export_grades(out, "canvas", roster, tmp_path / "c.csv", assignments=[NB3])
    assert _read(tmp_path / "c.csv")[3][:2] + _read(tmp_path / "c.csv")[3][5:] == ["Ng-Lee, Carol", "50177", "10"]


def test_the_command_writes_the_file_and_says_which_column_each_assignment_went_to(tmp_path, capsys):
    out = grading_output(tmp_path, MOODLE_FILES, MOODLE_SCORES)
    roster = _write_csv(tmp_path / "moodle-grades.csv", MOODLE_HEADER, MOODLE_ROWS)
    code = lms_export.main([str(out), "--lms", "moodle", "--roster", str(roster), "--assignment", NB3,
                            "--column", f'{NB3}="Assignment: Measuring the error (Real)"', "--missing", "zero"])
    printed = capsys.readouterr().out
    assert code == 0 and f"{NB3} -> Assignment: Measuring the error (Real)" in printed
    assert "2 graded of 3 enrolled students" in printed
    assert _read(out / "moodle-import.csv")[3] == ["John", "Doe", "john.doe@example.edu", "S003", "0"]


def test_one_moodle_student_numbered_per_assignment_is_one_row_and_two_graded_copies_are_an_error(tmp_path):
    """Moodle gives a participant another number in each assignment: the intake keeps one id for her
    (ids clash only within an assignment), and her two notebooks land on her one roster row."""
    files = ["Jane Smith_1002_assignsubmission_file/03_measuring_error.ipynb",
             "Jane Smith_2417_assignsubmission_file/04_matrix_factorization.ipynb"]
    out = grading_output(tmp_path, files, {("jane_smith", NB3): 6.5, ("jane_smith", NB4): 1.0})
    roster = _write_csv(tmp_path / "moodle-grades.csv", MOODLE_HEADER, MOODLE_ROWS)
    export_grades(out, "moodle", roster, tmp_path / "m.csv")
    assert _read(tmp_path / "m.csv")[1] == ["Jane", "Smith", "jane.smith@example.edu", "S001", "8.5", "2"]
    twice = tmp_path / "twice"
    twice.mkdir()
    files = ["Jane Smith_1002_assignsubmission_file/03_measuring_error.ipynb",
             "Jane Smith_1005_assignsubmission_file/03_measuring_error.ipynb"]
    out = grading_output(twice, files, {("jane_smith_1002", NB3): 6.5, ("jane_smith_1005", NB3): 1.0})
    with pytest.raises(LmsExportError, match=r"Jane Smith <jane.smith@example.edu>: jane_smith_1002, "
                                             r"jane_smith_1005 \(each has 03_measuring_error\)"):
        export_grades(out, "moodle", roster, twice / "m.csv")
