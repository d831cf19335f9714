"""The grading corpus itself, without grading anything (fast): every case builds and names real cells.

The slow test that grades the corpus is ``tests/test_grade_series.py``; the ``slow`` test here runs
every case, ``DRY_RUN_CASES`` included, through the dry run (no nbgrader).
"""

from __future__ import annotations

import ast
import os
from collections import Counter

import nbformat
import pytest

from grading_corpus import ASSIGNMENTS, PENDING, cases, expected_sheet, points
from grading_corpus.cases import answer_modules, own_cases, pending_switches
from grading_corpus.delegation import FORMS, Exercise, constant, delegate, graded_forms
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
    none = cases(set())
    assert not any(case.pending for case in none.values())
    assert {case.pending for case in everything.values()} >= set(PENDING)
    # pending cases take the places of the class's filler notebooks first
    assert len(everything) - len(none) < sum(bool(case.pending) for case in everything.values())
    monkeypatch.setenv("GRADING_CORPUS_PENDING", "library_guard")
    assert "library_guard" in pending_switches()
    assert len(expected_sheet(cases())) >= len(expected_sheet(none))


def test_dry_run_cases_stay_out_of_real_grading(everything):
    graded = {id(case) for case in everything.values()}
    dry_only = [case for module in answer_modules().values() for case in getattr(module, "DRY_RUN_CASES", [])]
    assert dry_only and not any(id(case) in graded for case in dry_only)
    assert len(own_cases(set(PENDING), dry_run=True)) == len(own_cases(set(PENDING))) + len(dry_only)


def test_real_grading_takes_two_delegation_forms_a_notebook_and_every_form_twice(everything):
    for number in range(1, len(ASSIGNMENTS) + 1):
        assert len(set(graded_forms(number))) == 2
    per_form = Counter(form for case in everything.values() for form in FORMS
                       if case.pending == "library_guard" and case.what.endswith(f"({form})"))
    assert set(per_form) == set(FORMS) and min(per_form.values()) >= 2, per_form
    per_notebook = Counter(case.assignment for case in everything.values() if case.pending == "library_guard")
    assert max(per_notebook.values()) <= 2, per_notebook


def test_notebooks_8_on_grade_at_most_8_cases_besides_delegation_and_constants():
    for assignment, module in answer_modules().items():
        if int(assignment[:2]) >= 8:
            assert len(module.CASES) <= 8, assignment


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


@pytest.mark.slow
def test_every_case_with_its_dry_run_cases_loses_exactly_what_it_says():
    """All cases of all notebooks, without nbgrader: about 3 minutes, in two processes (``dry_run --jobs``)."""
    from grading_corpus import dry_run  # noqa: PLC0415

    chosen = os.environ.get("GRADING_CORPUS_DRY_RUN", "")  # e.g. "08,11": a subset
    numbers = chosen.split(",") if chosen else [a.split("_")[0] for a in ASSIGNMENTS]
    assert dry_run.main([*numbers, "--pending", "all"]) == 0
