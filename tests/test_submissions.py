"""grader.submissions: LMS exports of every shape, built here from small nbgrader-style notebooks."""

from __future__ import annotations

import copy
import csv
import io
import json
import stat
import sys
import zipfile
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `grader` when pytest runs from anywhere

from grader.submissions import (  # noqa: E402
    ExtractLimits,
    collect_submissions,
    normalise_student_id,
    parse_lms_name,
    strip_copy_marks,
)

# Three assignments of the course, each with its own setup, answer and test cells.
EXERCISES = {
    "01_exploring_movielens": ("movie_rating_stats", "ratings", "ratings = load_ratings()"),
    "03_measuring_error": ("sparse_mean_square_error", "sparse_ratings, user_embeddings, movie_embeddings", "import tensorflow as tf"),
    "07_softmax_model": ("softmax_loss", "user_embeddings, movie_embeddings, labels", "from recsys_course import softmax_setup"),
}


def _meta(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def release_notebook(assignment: str) -> nbformat.NotebookNode:
    function, args, setup = EXERCISES[assignment]
    title = assignment.split("_", 1)[1].replace("_", " ").title()
    cells = [
        new_markdown_cell(f"# {title}\n\nLearning goals of {assignment}."),
        new_code_cell(f"{setup}\nSEED = {len(assignment)}", metadata=_meta(f"{assignment}_setup", locked=True)),
        new_markdown_cell(f"Write `{function}`."),
        new_code_cell(
            f'def {function}({args}):\n    """The {function} of the course."""\n    # YOUR CODE HERE\n    raise NotImplementedError()',
            metadata=_meta(f"{function}_answer", solution=True),
        ),
        new_code_cell(f"assert {function} is not None  # visible test of {assignment}", metadata=_meta(f"test_{function}", grade=True, locked=True, points=2)),
        new_markdown_cell(f"Questions to think about after {title}."),
    ]
    return new_notebook(cells=cells)


def student_notebook(assignment: str, answered: bool = True, strip: bool = False) -> bytes:
    notebook = copy.deepcopy(release_notebook(assignment))
    function, args, _ = EXERCISES[assignment]
    if answered:
        notebook.cells[3].source = f'def {function}({args}):\n    """The {function} of the course."""\n    return 42'
    if strip:  # Colab
        for cell in notebook.cells:
            cell.metadata = {}
    return nbformat.writes(notebook).encode()


@pytest.fixture()
def releases(tmp_path) -> dict[str, Path]:
    paths = {}
    for assignment in EXERCISES:
        path = tmp_path / "course" / "notebooks" / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(release_notebook(assignment), path)
        paths[assignment] = path
    return paths


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relpath, data in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def placed(intake) -> dict[str, tuple]:
    """relpath -> (status, student_id, assignment) for a compact comparison."""
    return {r.relpath: (r.status, r.student_id, r.assignment) for r in intake.records}


NB3 = student_notebook("03_measuring_error")
NB1 = student_notebook("01_exploring_movielens")
NB7 = student_notebook("07_softmax_model")


# --- one folder per student -----------------------------------------------------------------


def test_one_folder_per_student_with_renamed_files_and_several_notebooks(releases, tmp_path):
    export = write_tree(
        tmp_path / "export",
        {
            "alice/03_measuring_error.ipynb": NB3,
            "bob/Downloads/hw/Copy of 03_measuring_error.ipynb": NB3,
            "Carol Ng/03_measuring_error/03_measuring_error (1).ipynb": NB3,
            "Carol Ng/01_exploring_movielens/notebook.ipynb": NB1,  # the folder says which
            "dave/03 Measuring Error-1.ipynb": NB3,  # Canvas-style -1, spaces
            "dave/my_homework_final.ipynb": NB7,  # only the content says which
        },
    )
    intake = collect_submissions(export, releases)
    assert placed(intake) == {
        "Carol Ng/01_exploring_movielens/notebook.ipynb": ("ok", "carol_ng", "01_exploring_movielens"),
        "Carol Ng/03_measuring_error/03_measuring_error (1).ipynb": ("ok", "carol_ng", "03_measuring_error"),
        "alice/03_measuring_error.ipynb": ("ok", "alice", "03_measuring_error"),
        "bob/Downloads/hw/Copy of 03_measuring_error.ipynb": ("ok", "bob", "03_measuring_error"),
        "dave/03 Measuring Error-1.ipynb": ("ok", "dave", "03_measuring_error"),
        "dave/my_homework_final.ipynb": ("ok", "dave", "07_softmax_model"),
    }
    how = {r.relpath: r.matched_by for r in intake.records}
    assert how["alice/03_measuring_error.ipynb"] == "name"
    assert how["bob/Downloads/hw/Copy of 03_measuring_error.ipynb"] == "name (copy marks removed)"
    assert how["Carol Ng/01_exploring_movielens/notebook.ipynb"] == "folder"
    assert how["dave/my_homework_final.ipynb"] == "content"
    carol = [r for r in intake.records if r.student_id == "carol_ng"][0]
    assert carol.display_name == "Carol Ng" and carol.scheme == "folder" and carol.path.is_file()
    assert all(r.score == 1.0 for r in intake.records)


@pytest.mark.parametrize(
    "files, student",
    [
        ({"submissions/alice/03_measuring_error.ipynb": NB3, "submissions/bob/03_measuring_error.ipynb": NB3}, "alice"),
        ({"submissions/alice/03_measuring_error.ipynb": NB3}, "alice"),  # one student under a wrapper
        ({"alice/03_measuring_error.ipynb": NB3}, "alice"),  # one student, no wrapper
        ({"alice/03_measuring_error/03_measuring_error.ipynb": NB3}, "alice"),  # student/assignment/notebook
        ({"03_measuring_error/alice/nb.ipynb": NB3, "03_measuring_error/bob/nb.ipynb": NB3}, "alice"),
        ({"CS 101 spring/alice/nb.ipynb": NB3, "CS 101 spring/bob/nb.ipynb": NB3}, "alice"),
    ],
)
def test_wrapper_folders_above_the_student_folders(releases, tmp_path, files, student):
    intake = collect_submissions(write_tree(tmp_path / "export", files), releases)
    first = intake.submissions[0]
    assert (first.student_id, first.assignment) == (student, "03_measuring_error")
    assert len(intake.submissions) == len(files)


def test_a_notebook_with_no_student_folder_is_unknown_student(releases, tmp_path):
    intake = collect_submissions(write_tree(tmp_path / "export", {"03_measuring_error.ipynb": NB3, "alice/03_measuring_error.ipynb": NB3}), releases)
    assert placed(intake)["03_measuring_error.ipynb"][0] == "unknown_student"
    assert "mapping" in [r for r in intake.records if r.status == "unknown_student"][0].message


# --- Canvas, Moodle, Blackboard ----------------------------------------------------------------


def test_canvas_flat_export(releases, tmp_path):
    export = write_tree(
        tmp_path / "canvas",
        {
            "smithjane_48213_1739201_03_measuring_error.ipynb": NB3,
            "smithjane_48213_1739202_01_exploring_movielens.ipynb": NB1,  # two notebooks in one submission
            "doejohn_LATE_48214_1739350_03_measuring_error-1.ipynb": NB3,  # late, resubmitted file name
            "leekim_48215_1739400_Copy of 03_measuring_error (2).ipynb": NB3,
            "ngcarol_48216_1739500_report.pdf": b"%PDF-1.4",
        },
    )
    intake = collect_submissions(export, releases)
    assert placed(intake) == {
        "smithjane_48213_1739201_03_measuring_error.ipynb": ("ok", "smithjane", "03_measuring_error"),
        "smithjane_48213_1739202_01_exploring_movielens.ipynb": ("ok", "smithjane", "01_exploring_movielens"),
        "doejohn_LATE_48214_1739350_03_measuring_error-1.ipynb": ("ok", "doejohn", "03_measuring_error"),
        "leekim_48215_1739400_Copy of 03_measuring_error (2).ipynb": ("ok", "leekim", "03_measuring_error"),
        "ngcarol_48216_1739500_report.pdf": ("not_a_notebook", "ngcarol", None),
    }
    john = [r for r in intake.records if r.student_id == "doejohn"][0]
    assert john.late and john.scheme == "canvas" and john.lms_id == "48214"
    assert john.original_name == "03_measuring_error-1.ipynb" and john.submission_number == 1739350


def test_moodle_folders_flat_names_accents_and_blind_marking(releases, tmp_path):
    export = write_tree(
        tmp_path / "moodle",
        {
            "Jane Smith_1002_assignsubmission_file/03_measuring_error.ipynb": NB3,
            "José Álvarez_1003_assignsubmission_file_03_measuring_error.ipynb": NB3,
            "Participant_1004_assignsubmission_file_03_measuring_error.ipynb": NB3,
            "Participant_1005_assignsubmission_file/Copy of 03_measuring_error.ipynb": NB3,
            "Jane Smith_1002_assignsubmission_onlinetext_onlinetext.html": b"<p>see file</p>",
        },
    )
    intake = collect_submissions(export, releases)
    assert placed(intake) == {
        "Jane Smith_1002_assignsubmission_file/03_measuring_error.ipynb": ("ok", "jane_smith", "03_measuring_error"),
        "José Álvarez_1003_assignsubmission_file_03_measuring_error.ipynb": ("ok", "jose_alvarez", "03_measuring_error"),
        "Participant_1004_assignsubmission_file_03_measuring_error.ipynb": ("ok", "participant_1004", "03_measuring_error"),
        "Participant_1005_assignsubmission_file/Copy of 03_measuring_error.ipynb": ("ok", "participant_1005", "03_measuring_error"),
        "Jane Smith_1002_assignsubmission_onlinetext_onlinetext.html": ("not_a_notebook", "jane_smith", None),
    }
    jose = [r for r in intake.records if r.student_id == "jose_alvarez"][0]
    assert jose.display_name == "José Álvarez" and jose.lms_id == "1003" and jose.scheme == "moodle"
    assert "LMS id appended" in [r for r in intake.records if r.student_id == "participant_1004"][0].message


def test_moodle_numbers_participants_per_assignment_so_one_student_keeps_one_id(releases, tmp_path):
    """Two assignments' downloads give Jane two participant ids: she stays one student;
    two Janes in one assignment are still told apart."""
    export = write_tree(
        tmp_path / "moodle",
        {
            "Jane Smith_1002_assignsubmission_file_03_measuring_error.ipynb": NB3,
            "Jane Smith_2417_assignsubmission_file_01_exploring_movielens.ipynb": NB1,
            "Kim Lee_1010_assignsubmission_file_03_measuring_error.ipynb": NB3,
            "Kim Lee_1011_assignsubmission_file_03_measuring_error.ipynb": NB3,
        },
    )
    intake = collect_submissions(export, releases)
    assert sorted((r.student_id, r.assignment) for r in intake.submissions) == [
        ("jane_smith", "01_exploring_movielens"), ("jane_smith", "03_measuring_error"),
        ("kim_lee_1010", "03_measuring_error"), ("kim_lee_1011", "03_measuring_error"),
    ]


def test_blackboard_attempts_the_latest_is_graded(releases, tmp_path):
    early, late = "2025-03-02-21-14-05", "2025-03-03-09-00-00"
    export = write_tree(
        tmp_path / "bb",
        {
            f"Measuring the error_jsmith_attempt_{early}_03_measuring_error.ipynb": NB3,
            f"Measuring the error_jsmith_attempt_{early}.txt": b"Name: Jane Smith (jsmith)",
            f"Measuring the error_jsmith_attempt_{late}_Copy of 03_measuring_error.ipynb": NB3,
            f"Measuring the error_jsmith_attempt_{late}.txt": b"Name: Jane Smith (jsmith)",
            f"Measuring the error_akim_attempt_{early}_my notebook.ipynb": NB3,
            f"03_measuring_error_bdoe_attempt_{early}_untitled.ipynb": student_notebook("03_measuring_error", strip=True),
        },
    )
    intake = collect_submissions(export, releases)
    status = {r.relpath: r.status for r in intake.records}
    assert status[f"Measuring the error_jsmith_attempt_{late}_Copy of 03_measuring_error.ipynb"] == "ok"
    assert status[f"Measuring the error_jsmith_attempt_{early}_03_measuring_error.ipynb"] == "superseded_attempt"
    assert status[f"Measuring the error_jsmith_attempt_{early}.txt"] == "ignored"
    assert [(r.student_id, r.assignment, r.matched_by) for r in intake.submissions] == [
        ("akim", "03_measuring_error", "content"),
        ("bdoe", "03_measuring_error", "lms assignment name"),
        ("jsmith", "03_measuring_error", "name (copy marks removed)"),
    ]
    jsmith = [r for r in intake.submissions if r.student_id == "jsmith"][0]
    assert jsmith.attempt == late and "latest of 2 attempts" in jsmith.message
    superseded = [r for r in intake.records if r.status == "superseded_attempt"][0]
    assert late in superseded.message


# --- the CSV mapping ---------------------------------------------------------------------------------


def test_csv_mapping_places_anything_and_overrides_names(releases, tmp_path):
    export = write_tree(
        tmp_path / "export",
        {"a1.ipynb": NB3, "b2.ipynb": NB1, "x/scan.ipynb": NB7, "smithjane_48213_1739201_03_measuring_error.ipynb": NB3},
    )
    mapping = tmp_path / "map.csv"
    with open(mapping, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "student", "assignment"])
        writer.writerow(["a1.ipynb", "Alice Martin", ""])  # assignment from the content
        writer.writerow(["b2.ipynb", "bob", "01_exploring_movielens"])
        writer.writerow(["x/scan.ipynb", "carol", "99_no_such"])
        writer.writerow(["smithjane_48213_1739201_03_measuring_error.ipynb", "jane.smith@uni.edu", ""])
        writer.writerow(["gone.ipynb", "dave", ""])
    intake = collect_submissions(export, releases, mapping=mapping)
    assert placed(intake) == {
        "a1.ipynb": ("ok", "alice_martin", "03_measuring_error"),
        "b2.ipynb": ("ok", "bob", "01_exploring_movielens"),
        "smithjane_48213_1739201_03_measuring_error.ipynb": ("ok", "jane_smith_uni_edu", "03_measuring_error"),
        "x/scan.ipynb": ("unmatched", "carol", None),
        "gone.ipynb": ("mapping_unused", None, None),
    }
    assert {r.scheme for r in intake.submissions} == {"mapping"}
    assert "99_no_such" in placed_record(intake, "x/scan.ipynb").message


def placed_record(intake, relpath):
    return [r for r in intake.records if r.relpath == relpath][0]


def test_a_mapping_without_its_columns_is_refused(releases, tmp_path):
    (tmp_path / "map.csv").write_text("name,who\na,b\n")
    with pytest.raises(ValueError, match="file,student"):
        collect_submissions(write_tree(tmp_path / "e", {"a/x.ipynb": NB3}), releases, mapping=tmp_path / "map.csv")


# --- names versus content, duplicates, bad files --------------------------------------------------------


def test_content_overrules_a_name_that_lies(releases, tmp_path):
    export = write_tree(tmp_path / "export", {"alice/01_exploring_movielens.ipynb": NB3})
    (record,) = collect_submissions(export, releases).records
    assert (record.status, record.assignment, record.matched_by) == ("ok", "03_measuring_error", "content")
    assert "named like 01_exploring_movielens" in record.message


def test_two_copies_of_one_assignment_the_exact_name_is_graded(releases, tmp_path):
    export = write_tree(
        tmp_path / "export",
        {"alice/Copy of 03_measuring_error.ipynb": NB3, "alice/03_measuring_error.ipynb": NB3, "alice/old.ipynb": NB3},
    )
    intake = collect_submissions(export, releases)
    assert [r.relpath for r in intake.submissions] == ["alice/03_measuring_error.ipynb"]
    duplicates = intake.by_status()["duplicate_submission"]
    assert sorted(r.relpath for r in duplicates) == ["alice/Copy of 03_measuring_error.ipynb", "alice/old.ipynb"]
    assert all("alice/03_measuring_error.ipynb is graded" in r.message for r in duplicates)


def test_not_notebooks_truncated_files_and_notebooks_under_other_extensions(releases, tmp_path):
    export = write_tree(
        tmp_path / "export",
        {
            "alice/answers.py": b"def f(): pass\n",
            "alice/report.pdf": b"%PDF-1.7\n",
            "alice/hw.zip": b"PK\x03\x04",
            "alice/03_measuring_error.ipynb.json": NB3,  # the browser added .json
            "bob/03_measuring_error": NB3,  # no extension at all
            "carol/03_measuring_error.ipynb": NB3[: len(NB3) // 2],  # truncated: placed, repair says unreadable
            "dave/notebook.ipynb": NB3[:100],  # truncated and badly named
        },
    )
    intake = collect_submissions(export, releases)
    assert placed(intake) == {
        "alice/03_measuring_error.ipynb.json": ("ok", "alice", "03_measuring_error"),
        "bob/03_measuring_error": ("ok", "bob", "03_measuring_error"),
        "carol/03_measuring_error.ipynb": ("ok", "carol", "03_measuring_error"),
        "alice/answers.py": ("not_a_notebook", "alice", None),
        "alice/hw.zip": ("not_a_notebook", "alice", None),
        "alice/report.pdf": ("not_a_notebook", "alice", None),
        "dave/notebook.ipynb": ("unmatched", "dave", None),
    }
    assert "archive inside the export" in placed_record(intake, "alice/hw.zip").message
    assert "not a readable notebook" in placed_record(intake, "dave/notebook.ipynb").message
    assert placed_record(intake, "carol/03_measuring_error.ipynb").score is None


# --- zip exports ------------------------------------------------------------------------------------------


def make_zip(entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buffer.getvalue()


def test_zip_export_is_extracted_safely(releases, tmp_path):
    link = zipfile.ZipInfo("alice/link.ipynb")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "export.zip"
    archive.write_bytes(
        make_zip(
            [
                ("export/alice/03_measuring_error.ipynb", NB3),
                ("export/bob/Copy of 03_measuring_error.ipynb", NB3),
                ("../../evil.ipynb", NB3),  # zip slip
                ("export/../../evil2.ipynb", NB3),
                ("/etc/evil3.ipynb", NB3),  # absolute
                ("C:\\Windows\\evil4.ipynb", NB3),
                ("export\\carol\\03_measuring_error.ipynb", NB3),  # made on Windows
                ("__MACOSX/export/alice/._03_measuring_error.ipynb", b"\x00\x05"),
                ("export/alice/.ipynb_checkpoints/03_measuring_error-checkpoint.ipynb", NB3),
                ("export/.DS_Store", b"\x00"),
                (link, b"/etc/passwd"),
            ]
        )
    )
    dest = tmp_path / "work"
    intake = collect_submissions(archive, releases, workdir=dest)
    assert [(r.student_id, r.relpath) for r in intake.submissions] == [
        ("alice", "export/alice/03_measuring_error.ipynb"),
        ("bob", "export/bob/Copy of 03_measuring_error.ipynb"),
        ("carol", "export/carol/03_measuring_error.ipynb"),
    ]
    statuses = intake.by_status()
    assert sorted(r.relpath for r in statuses["unsafe_path"]) == sorted(
        ["../../evil.ipynb", "export/../../evil2.ipynb", "/etc/evil3.ipynb", "C:/Windows/evil4.ipynb", "alice/link.ipynb"]
    )
    assert "zip slip" in [r for r in statuses["unsafe_path"] if r.relpath == "../../evil.ipynb"][0].message
    assert len(statuses["ignored"]) == 3
    # Nothing escaped, nothing but the good files was written.
    assert not list(tmp_path.rglob("evil*"))
    written = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert written == [r.relpath for r in intake.submissions]
    assert all(r.path.resolve().is_relative_to(dest.resolve()) for r in intake.submissions)


def test_zip_bombs_are_capped_on_the_bytes_really_written(releases, tmp_path):
    bomb = b"\x00" * 3_000_000  # compresses to a few kB
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(
        make_zip([("alice/03_measuring_error.ipynb", NB3), ("alice/big.ipynb", bomb), ("bob/b1.bin", bomb), ("bob/b2.bin", bomb)])
    )
    limits = ExtractLimits(max_file_bytes=len(bomb) + 1, max_total_bytes=len(bomb) * 2 + len(NB3) + 10)
    intake = collect_submissions(archive, releases, workdir=tmp_path / "w", limits=limits)
    assert [r.relpath for r in intake.submissions] == ["alice/03_measuring_error.ipynb"]
    too_large = intake.by_status()["too_large"]
    assert [r.relpath for r in too_large] == ["bob/b2.bin"]
    assert "total size cap" in too_large[0].message
    assert not (tmp_path / "w" / "bob" / "b2.bin").exists()
    small = ExtractLimits(max_file_bytes=1_000_000)
    intake = collect_submissions(archive, releases, workdir=tmp_path / "w2", limits=small)
    assert {r.relpath for r in intake.by_status()["too_large"]} == {"alice/big.ipynb", "bob/b1.bin", "bob/b2.bin"}


def test_zip_workdir_must_be_empty(releases, tmp_path):
    archive = tmp_path / "e.zip"
    archive.write_bytes(make_zip([("alice/03_measuring_error.ipynb", NB3)]))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        collect_submissions(archive, releases, workdir=tmp_path / "w")


def test_records_are_deterministic(releases, tmp_path):
    files = {"bob/03_measuring_error.ipynb": NB3, "alice/x.pdf": b"%PDF", "alice/03_measuring_error.ipynb": NB3, "zed/1.ipynb": NB1}
    first = collect_submissions(write_tree(tmp_path / "a", files), releases)
    second = collect_submissions(write_tree(tmp_path / "b", dict(reversed(files.items()))), releases)

    def comparable(intake):
        return [{k: v for k, v in asdict(r).items() if k != "path"} for r in intake.records]

    assert comparable(first) == comparable(second)
    assert [r.student_id for r in first.records] == ["alice", "bob", "zed", "alice"]


# --- the small pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("Jane Smith", "jane_smith"), ("José Álvarez", "jose_alvarez"), ("O'Brien-Ng", "obrien-ng"),
     ("jane.smith@uni.edu", "jane_smith_uni_edu"), ("  __x__ ", "x"), ("山田", "")],
)
def test_normalise_student_id(text, expected):
    assert normalise_student_id(text) == expected


@pytest.mark.parametrize(
    "stem, expected",
    [("Copy of 03_measuring_error", "03_measuring_error"), ("03_measuring_error (1)", "03_measuring_error"),
     ("03_measuring_error-1", "03_measuring_error"), ("03_measuring_error_2", "03_measuring_error"),
     ("Copy of Copy of 03_measuring_error (2)", "03_measuring_error"), ("03_measuring_error copy", "03_measuring_error"),
     ("Kopie von 03_measuring_error", "03_measuring_error")],
)
def test_strip_copy_marks(stem, expected):
    assert strip_copy_marks(stem) == expected


def test_parse_lms_name():
    canvas = parse_lms_name("smithjane_LATE_48213_1739202_03_measuring_error-1.ipynb")
    assert (canvas.scheme, canvas.student, canvas.lms_id, canvas.late, canvas.original_name) == (
        "canvas", "smithjane", "48213", True, "03_measuring_error-1.ipynb")
    moodle = parse_lms_name("Jane Smith_1002_assignsubmission_file_03_measuring_error.ipynb")
    assert (moodle.scheme, moodle.student, moodle.lms_id, moodle.original_name) == (
        "moodle", "Jane Smith", "1002", "03_measuring_error.ipynb")
    board = parse_lms_name("ps1_bitdiddle_attempt_2016-01-30-15-30-10_problem1.ipynb")  # nbgrader's docs example
    assert (board.scheme, board.student, board.attempt, board.assignment_name, board.original_name) == (
        "blackboard", "bitdiddle", "2016-01-30-15-30-10", "ps1", "problem1.ipynb")
    assert parse_lms_name("ps1_bitdiddle_attempt_2016-01-30-15-30-10.txt").receipt
    for plain in ("03_measuring_error.ipynb", "hw_1_2_notebook.ipynb", "Copy of 03_measuring_error (1).ipynb"):
        assert parse_lms_name(plain) is None


def test_the_release_notebooks_built_here_are_valid(releases):
    for path in releases.values():
        nbformat.validate(nbformat.read(path, as_version=4))
    assert "".join(json.loads(NB3)["cells"][3]["source"]).endswith("return 42")


def test_too_many_zip_entries_are_recorded_not_extracted(releases, tmp_path):
    archive = tmp_path / "many.zip"
    archive.write_bytes(make_zip([(f"s{i}/03_measuring_error.ipynb", NB3) for i in range(5)]))
    intake = collect_submissions(archive, releases, workdir=tmp_path / "w", limits=ExtractLimits(max_entries=3))
    assert len(intake.submissions) == 3
    assert [r.relpath for r in intake.by_status()["too_large"]] == ["s3/03_measuring_error.ipynb", "s4/03_measuring_error.ipynb"]


def test_symlinks_in_a_folder_export_are_not_followed(releases, tmp_path):
    export = write_tree(tmp_path / "export", {"alice/03_measuring_error.ipynb": NB3})
    write_tree(tmp_path / "outside", {"secret/03_measuring_error.ipynb": NB3})
    (export / "bob").symlink_to(tmp_path / "outside" / "secret")
    (export / "alice" / "link.ipynb").symlink_to(tmp_path / "outside" / "secret" / "03_measuring_error.ipynb")
    intake = collect_submissions(export, releases)
    assert [r.relpath for r in intake.submissions] == ["alice/03_measuring_error.ipynb"]
    assert sorted(r.relpath for r in intake.by_status()["unsafe_path"]) == ["alice/link.ipynb", "bob"]


def test_intake_then_repair_on_a_canvas_zip(releases, tmp_path):
    """The two stages together: every placed notebook is repaired or explained."""
    from grader.repair import repair_file

    archive = tmp_path / "canvas.zip"
    archive.write_bytes(
        make_zip(
            [
                ("smithjane_48213_1739201_03_measuring_error.ipynb", NB3),
                ("doejohn_48214_1739202_Copy of 03_measuring_error.ipynb", student_notebook("03_measuring_error", strip=True)),
                ("leekim_48215_1739203_03_measuring_error (1).ipynb", NB3[:-40]),
                ("ngcarol_48216_1739204_03_measuring_error.ipynb", NB1),  # the wrong notebook, by its name
            ]
        )
    )
    intake = collect_submissions(archive, releases, workdir=tmp_path / "w")
    outcome = {
        r.student_id: (r.assignment, repair_file(r.path, releases[r.assignment]).status) for r in intake.submissions
    }
    assert outcome == {
        "doejohn": ("03_measuring_error", "repaired"),
        "leekim": ("03_measuring_error", "unreadable"),
        "ngcarol": ("01_exploring_movielens", "ok"),  # placed by its content, not its name
        "smithjane": ("03_measuring_error", "ok"),
    }
    carol = [r for r in intake.submissions if r.student_id == "ngcarol"][0]
    assert "named like 03_measuring_error" in carol.message
    assert repair_file(carol.path, releases["03_measuring_error"]).status == "wrong_notebook"
