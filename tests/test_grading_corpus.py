"""The grading corpus itself, without grading anything (fast): every case builds and names real cells.

The slow test that grades the corpus is ``tests/test_grade_series.py``.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from grading_corpus import ASSIGNMENTS, PENDING, cases, expected_sheet, points
from grading_corpus.cases import answer_modules, pending_switches
from grading_corpus.delegation import FORMS, Exercise, constant, delegate
from grading_corpus.notebooks import REPO_ROOT, grade_id_of, list_assignments


@pytest.fixture(scope="module")
def everything():
    """The corpus with every pending case switched on."""
    return cases(set(PENDING))


def test_every_released_assignment_has_its_reference_and_untouched_release(everything):
    assert set(ASSIGNMENTS) >= {"01_exploring_movielens", "07_softmax_model"}
    for assignment in ASSIGNMENTS:
        assert everything[("s01", assignment)].expected_points() == sum(points(assignment).values())
        assert everything[("s02", assignment)].expected_points() == 0


def test_answer_modules_are_found_by_their_number():
    modules = answer_modules()
    assert set(modules) <= set(ASSIGNMENTS)
    for assignment, module in modules.items():
        assert module.__name__.endswith("answers_" + assignment.split("_")[0])


def test_every_case_builds_a_notebook_with_the_answers_it_names(everything):
    for (student, assignment), case in everything.items():
        data = case.file_bytes()
        case.expected_points()  # names only real cells
        assert data, (student, assignment, case.what)
        if isinstance(case.make, dict):
            notebook = nbformat.reads(data.decode(), as_version=4)
            sources = {grade_id_of(c): c.source for c in notebook.cells}
            for grade_id, source in case.make.items():
                assert sources[grade_id] == source, (student, assignment, case.what)


def test_pending_cases_stay_out_unless_switched_on(everything, monkeypatch):
    monkeypatch.delenv("GRADING_CORPUS_PENDING", raising=False)
    if pending_switches():
        pytest.skip("a pending switch is on in grading_corpus.cases.PENDING")
    default = cases()
    assert not any(case.pending for case in default.values())
    assert {case.pending for case in everything.values()} >= set(PENDING)
    # pending cases take the places of the class's filler notebooks first
    assert len(everything) - len(default) < sum(bool(case.pending) for case in everything.values())
    monkeypatch.setenv("GRADING_CORPUS_PENDING", "library_guard")
    assert pending_switches() == {"library_guard"}
    assert len(expected_sheet(cases())) >= len(expected_sheet(default))


def test_students_are_unique_per_assignment_and_missing_notebooks_stay_missing(everything):
    from grading_corpus.grader_cases import MISSING  # noqa: PLC0415

    assert not MISSING & set(everything)


def test_delegation_forms_are_python():
    exercise = Exercise("gravity", "U, V", "U, V", library=("recsys_course.regularization.gravity",))
    for form in FORMS:
        ast.parse(delegate(exercise, form))
    assert "return None" in constant(exercise, value="None")["gravity_solution"]


def test_a_module_for_a_notebook_still_being_written_is_skipped():
    released = set(ASSIGNMENTS)
    for assignment in list_assignments(REPO_ROOT):
        if assignment not in released:
            assert assignment not in answer_modules()
