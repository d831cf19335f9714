"""The student notebooks match their sources, and the sources follow the authoring rules.

Checks every assignment in ``solutions/`` (parametrized; none yet is fine):

- ``notebooks/`` holds exactly what ``python -m grader.release`` generates;
- notebooks are stored without outputs and are valid nbformat / nbgrader;
- graded cells have unique, meaningful grade_ids (``<exercise>_solution``,
  ``<exercise>_visible_<what>``, ``<exercise>_hidden_<what>``);
- test cells open with a docstring and do not end in a value (nbgrader would
  read a number there as partial credit);
- every graded exercise has visible and hidden tests, and nothing hidden
  reaches the student version;
- hidden tests take their shared helpers from ``grader.hidden_tests``, and
  their imports inline into self-contained cells (what the gradebook records).

``RECSYS_COURSE_ROOT`` points these tests at another copy of the course.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from grader.inline_hidden_helpers import HiddenHelperError, inline_notebook
from grader.nbgrader_helpers import (
    RELEASE_DIR,
    SOURCE_DIR,
    NbgraderError,
    copy_assignment_source,
    course_root,
    list_assignments,
    nbgrader_meta,
    read_notebook,
    release_notebook,
    source_notebook,
)
from grader.release import compare_release, generate, orphan_releases

ROOT = course_root()
ASSIGNMENTS = list_assignments(ROOT)

GRADE_ID = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]$")
ANSWER_SUFFIX = "_solution"  # <exercise>_solution
TEST_KIND = re.compile(r"_(visible|hidden)_")  # <exercise>_visible_<what>, <exercise>_hidden_<what>
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # as nbgrader matches them
# Markers that must never reach a student (the release would be leaking).
PRIVATE_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "BEGIN MARK SCHEME")


# --- Reading cells --------------------------------------------------------------------


def is_answer(cell: NotebookNode) -> bool:
    """A cell the student writes (nbgrader solution cell)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_test(cell: NotebookNode) -> bool:
    """An autograder test cell: graded, code, not written by the student."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def has_grade_id(cell: NotebookNode) -> bool:
    """nbgrader tracks the cell (and so needs its grade_id)."""
    meta = nbgrader_meta(cell)
    return any(meta.get(flag) for flag in ("grade", "solution", "locked", "task"))


def without_hidden_tests(source: str) -> str:
    """The cell as students see it: the hidden test region removed."""
    kept, hidden = [], False
    for line in source.splitlines():
        if HIDDEN_BEGIN in line:
            hidden = True
        elif HIDDEN_END in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def parse(source: str, grade_id: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as error:
        pytest.fail(f"test cell {grade_id} is not plain Python (no magics in test cells): {error}")


def is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def shows_a_value(statement: ast.stmt) -> bool:
    """Would IPython display this last statement as the cell's result?

    Calls that return None by contract are fine: ``print(...)`` and the
    ``assert...`` helpers (``np.testing.assert_allclose``, ...).
    """
    if not isinstance(statement, ast.Expr):
        return False
    value = statement.value
    if isinstance(value, ast.Call):
        func = value.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return not (name == "print" or name.startswith("assert"))
    return True


def exercises(notebook: NotebookNode) -> dict[str, list[NotebookNode]]:
    """Test cells grouped by the code answer cell that precedes them.

    Test cells before any answer are grouped under "".
    """
    groups: dict[str, list[NotebookNode]] = {}
    current = ""
    for cell in notebook.cells:
        if is_answer(cell) and cell.cell_type == "code":
            current = nbgrader_meta(cell)["grade_id"]
            groups.setdefault(current, [])
        elif is_test(cell):
            groups.setdefault(current, []).append(cell)
    return groups


def notebook_paths() -> list[Path]:
    """Every source and student notebook that exists."""
    paths = []
    for assignment in ASSIGNMENTS:
        for folder in (ROOT / SOURCE_DIR / assignment, ROOT / RELEASE_DIR / assignment):
            paths += sorted(folder.glob("*.ipynb"))
    return paths


def by_assignment(test):
    return pytest.mark.parametrize("assignment", ASSIGNMENTS)(test)


def by_notebook(test):
    paths = notebook_paths()
    ids = [p.relative_to(ROOT).parent.as_posix() for p in paths]
    return pytest.mark.parametrize("path", paths, ids=ids)(test)


# --- The course as a whole ------------------------------------------------------------


def test_course_has_assignments():
    # Tolerates an empty course while the notebooks are being written;
    # turn into an assertion once they are in.
    if not ASSIGNMENTS:
        pytest.skip(f"no assignments in {ROOT / SOURCE_DIR} yet")


def test_no_student_folder_without_source():
    assert orphan_releases(ROOT) == [], (
        f"folders of {RELEASE_DIR}/ without a source in {SOURCE_DIR}/: `git rm -r` them"
    )


@pytest.fixture(scope="session")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A temp course root with ``notebooks/`` freshly generated, and nbgrader's error if any.

    One nbgrader run for all assignments (it starts slowly). When it fails on
    one notebook it still writes the others, so each test reports only its own.
    """
    scratch = tmp_path_factory.mktemp("release")
    for assignment in ASSIGNMENTS:
        try:
            copy_assignment_source(ROOT, scratch, assignment)
        except NbgraderError:
            pass  # reported by the layout test
    try:
        generate(scratch, list_assignments(scratch), all_assignments=True)
    except NbgraderError as error:
        return scratch, str(error)
    return scratch, ""


def load_source(assignment: str) -> NotebookNode:
    """The source notebook; skipped when the layout is wrong (its own test fails)."""
    try:
        return read_notebook(source_notebook(ROOT, assignment))
    except NbgraderError as error:
        pytest.skip(f"layout problem reported by the folder test: {error}")


# --- Per assignment ---------------------------------------------------------------------


@by_assignment
def test_assignment_folder_holds_one_notebook_named_after_it(assignment):
    source_notebook(ROOT, assignment)  # raises with the reason


@by_assignment
def test_student_version_is_generated_from_source(assignment, regenerated):
    load_source(assignment)
    scratch, error = regenerated
    generated = scratch / RELEASE_DIR / assignment
    assert generated.is_dir(), f"nbgrader could not generate {assignment}:\n{error}"
    problems = compare_release(generated, ROOT / RELEASE_DIR / assignment, assignment)
    assert not problems, "run `python -m grader.release`:\n" + "\n".join(problems)


@by_notebook
def test_notebook_is_stored_without_outputs(path):
    dirty = [
        f"cell {i} ({nbgrader_meta(cell).get('grade_id', 'no grade_id')})"
        for i, cell in enumerate(read_notebook(path).cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"clear outputs before committing; cells with outputs: {', '.join(dirty)}"


@by_notebook
def test_notebook_is_valid(path):
    from nbgrader.nbgraderformat import MetadataValidator

    notebook = read_notebook(path)
    nbformat.validate(notebook)
    MetadataValidator().validate_nb(notebook)
    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"kernelspec is {kernel!r}: autograde starts the kernel named here"


@by_assignment
def test_grade_ids_are_unique_and_meaningful(assignment):
    notebook = load_source(assignment)
    ids = [nbgrader_meta(cell).get("grade_id", "") for cell in notebook.cells if has_grade_id(cell)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicated grade_ids (nbgrader aborts the whole batch): {duplicates}"
    bad = [i for i in ids if not GRADE_ID.match(i)]
    assert not bad, f"grade_ids must be snake_case names, not {bad}"
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id", "")
        if is_answer(cell):
            assert grade_id.endswith(ANSWER_SUFFIX), (
                f"answer cell {grade_id}: name it <exercise>{ANSWER_SUFFIX}"
            )
        elif has_grade_id(cell) and not is_test(cell):
            assert not grade_id.endswith(ANSWER_SUFFIX) and not TEST_KIND.search(grade_id), (
                f"{grade_id} is neither an answer nor a test cell: its name says otherwise"
            )
    for answer, tests in exercises(notebook).items():
        exercise = answer.removesuffix(ANSWER_SUFFIX)
        for cell in tests:
            grade_id = nbgrader_meta(cell)["grade_id"]
            assert answer, f"test cell {grade_id} comes before any answer cell"
            match = re.fullmatch(rf"{re.escape(exercise)}_(visible|hidden)_\w+", grade_id)
            assert match, (
                f"test cell {grade_id} follows {answer}: name it {exercise}_visible_<what> "
                f"or {exercise}_hidden_<what>"
            )
            visible_checks = len(parse(without_hidden_tests(cell.source), grade_id).body) > 1
            if match.group(1) == "hidden":
                assert HIDDEN_BEGIN in cell.source, f"{grade_id} is named hidden but has no hidden tests"
            else:
                assert visible_checks, f"{grade_id} is named visible but students see no check in it"


@by_assignment
def test_test_cells_open_with_a_docstring(assignment):
    for cell in load_source(assignment).cells:
        if is_test(cell):
            grade_id = nbgrader_meta(cell)["grade_id"]
            body = parse(cell.source, grade_id).body
            assert body and is_docstring(body[0]) and body[0].value.value.strip(), (
                f"test cell {grade_id} must start with a docstring saying what it checks"
            )


@by_assignment
def test_test_cells_do_not_end_in_a_value(assignment):
    for cell in load_source(assignment).cells:
        if not is_test(cell):
            continue
        grade_id = nbgrader_meta(cell)["grade_id"]
        for version, source in (("graded", cell.source), ("student", without_hidden_tests(cell.source))):
            body = parse(source, grade_id).body
            # A hidden-only test too: its docstring alone would be an Out[] that
            # `nbgrader validate` reads as partial credit and warns about.
            assert body and not shows_a_value(body[-1]), (
                f"the {version} version of test cell {grade_id} ends in an expression whose value "
                "nbgrader may read as partial credit (and students see as Out[]): end it with a "
                "statement, e.g. an assert (a hidden-only test: `pass` before ### BEGIN HIDDEN TESTS)"
            )


@by_assignment
def test_every_exercise_has_visible_and_hidden_tests(assignment):
    for answer, tests in exercises(load_source(assignment)).items():
        if not tests:
            continue  # an ungraded exercise
        visible = [c for c in tests if len(parse(without_hidden_tests(c.source), answer).body) > 1]
        hidden = [c for c in tests if HIDDEN_BEGIN in c.source]
        assert visible, f"{answer}: no test cell has a visible check students can run"
        assert hidden, f"{answer}: no test cell has ### BEGIN HIDDEN TESTS"


@by_assignment
def test_student_version_leaks_no_solution_or_hidden_test(assignment):
    path = release_notebook(ROOT, assignment)
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} not generated yet (the sync test reports it)")
    text = path.read_text(encoding="utf-8")
    leaked = [marker for marker in PRIVATE_MARKERS if marker in text]
    assert not leaked, f"{path.relative_to(ROOT)} contains {leaked}"


@by_assignment
def test_hidden_tests_inline_into_self_contained_cells(assignment):
    """Helpers come from grader.hidden_tests, imported inside the hidden block only; inlined
    (as at release, for the gradebook), no hidden block mentions the grader any more and
    every cell still parses."""
    notebook = load_source(assignment)
    try:
        inline_notebook(notebook, assignment)
    except HiddenHelperError as error:
        pytest.fail(str(error))
    for cell in notebook.cells:
        if cell.cell_type != "code" or HIDDEN_BEGIN not in cell.source:
            continue
        grade_id = nbgrader_meta(cell).get("grade_id", "?")
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("#"))
        assert not re.search(r"\bgrader\s*\.\s*\w|\bimport\s+grader\b|\bfrom\s+grader\b", code), (
            f"{grade_id}: still imports from the grader once inlined")
        parse(cell.source, grade_id)


@by_assignment
def test_exercises_the_library_keeps_are_tested_under_its_guard(assignment):
    """An answer that hands its exercise to the helper library's version earns nothing: every
    test cell of such an exercise runs the answer under grader.hidden_tests' guard (its hidden
    block calls forbid_library, or a helper built on it), the visible ones included."""
    from grader.hidden_tests.common import LIBRARY_VERSIONS

    for answer, tests in exercises(load_source(assignment)).items():
        exercise = answer.removesuffix(ANSWER_SUFFIX)
        if exercise not in LIBRARY_VERSIONS:
            continue
        for cell in tests:
            hidden = "\n".join(line for line in cell.source.split(HIDDEN_BEGIN, 1)[-1].splitlines()
                               if not line.lstrip().startswith("#"))
            assert HIDDEN_BEGIN in cell.source and re.search(r"\b(forbid_library|guarded)\w*\(", hidden), (
                f"{nbgrader_meta(cell)['grade_id']}: run {exercise} under forbid_library({exercise!r}, "
                f"{exercise}) in a hidden block")
