"""Autograde every assignment with real nbgrader, on the synthetic data.

For each assignment in ``solutions/``, in one throwaway course per session:

- a student who writes the reference solution into the released notebook
  gets full marks on every autograded test cell;
- a student who hands the released notebook in untouched gets 0 on every
  autograded test cell (a test that passes on the stub tests nothing).

Scores are read from the gradebook, not inferred from exit codes. Slow (a
kernel and TensorFlow per notebook): marked ``grader``.

The kernels read ``RECSYS_COURSE_DATA`` when it is set; otherwise a synthetic
data set is made with ``data_scripts/fetch_movielens.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.nbgrader_helpers import (
    REPO_ROOT,
    CellScore,
    NbgraderError,
    ThrowawayCourse,
    cell_outputs_text,
    course_root,
    fill_in_solutions,
    list_assignments,
    nbgrader_meta,
    read_notebook,
    release_notebook,
    source_notebook,
)

pytestmark = pytest.mark.grader

ROOT = course_root()
ASSIGNMENTS = list_assignments(ROOT)
DATA_SCRIPT = REPO_ROOT / "data_scripts" / "fetch_movielens.py"
SOLVED, UNTOUCHED = "solved", "untouched"  # the two students

Scores = dict[str, dict[str, CellScore]]  # student -> grade_id -> score


def is_well_formed(assignment: str) -> bool:
    """The folder holds its one notebook (the release sync tests report it otherwise)."""
    try:
        source_notebook(ROOT, assignment)
    except NbgraderError:
        return False
    return True


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data folder the kernels read (holds ``ml-100k/``)."""
    if os.environ.get("RECSYS_COURSE_DATA"):
        return Path(os.environ["RECSYS_COURSE_DATA"])
    if not DATA_SCRIPT.is_file():
        pytest.fail(f"{DATA_SCRIPT} is missing: cannot make the synthetic data set")
    dest = tmp_path_factory.mktemp("data")
    result = subprocess.run(
        [sys.executable, str(DATA_SCRIPT), "--source", "synthetic", "--dest", str(dest)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"synthetic data failed:\n{result.stdout}{result.stderr}"
    return dest


@pytest.fixture(scope="session")
def generated_course(
    tmp_path_factory: pytest.TempPathFactory, synthetic_data: Path
) -> tuple[ThrowawayCourse, str]:
    """A copy of the sources with every assignment generated (one nbgrader run).

    Also nbgrader's error, if any: it still generates the other notebooks
    when one fails, so each test reports only its own assignment.
    """
    well_formed = [a for a in ASSIGNMENTS if is_well_formed(a)]
    course = ThrowawayCourse.create(
        tmp_path_factory.mktemp("course"),
        well_formed,
        source_root=ROOT,
        kernel_env={"RECSYS_COURSE_DATA": str(synthetic_data)},
    )
    try:
        course.generate("*")
    except NbgraderError as error:
        return course, str(error)
    return course, ""


@pytest.fixture(scope="session")
def course(generated_course: tuple[ThrowawayCourse, str]) -> ThrowawayCourse:
    return generated_course[0]


@pytest.fixture(scope="session")
def autograded(generated_course: tuple[ThrowawayCourse, str]) -> Callable[[str], Scores]:
    """Autograde both students' hand-ins of an assignment, once per session."""
    course, generation_error = generated_course
    results: dict[str, Scores | NbgraderError] = {}

    def grade(assignment: str) -> Scores:
        if not release_notebook(course.root, assignment).is_file():
            pytest.fail(
                f"{assignment} has no student version (layout test and nbgrader say why):\n"
                + generation_error
            )
        if assignment not in results:
            released = read_notebook(release_notebook(course.root, assignment))
            source = read_notebook(source_notebook(course.root, assignment))
            course.submit(assignment, SOLVED, fill_in_solutions(released, source))
            course.submit(assignment, UNTOUCHED, released)
            try:
                course.autograde(assignment)  # both students, one nbgrader run
                results[assignment] = {s: course.scores(assignment, s) for s in (SOLVED, UNTOUCHED)}
            except NbgraderError as error:
                results[assignment] = error  # not retried by the next test
        result = results[assignment]
        if isinstance(result, NbgraderError):
            pytest.fail(str(result))
        return result

    return grade


def expected_grade_ids(course: ThrowawayCourse, assignment: str) -> set[str]:
    """grade_ids of the source's graded cells: the gradebook must score each."""
    notebook = read_notebook(source_notebook(course.root, assignment))
    return {nbgrader_meta(c)["grade_id"] for c in notebook.cells if nbgrader_meta(c).get("grade")}


def report(course: ThrowawayCourse, assignment: str, student: str, scores: list[CellScore]) -> str:
    """One line per cell with what it printed to stderr or raised."""
    notebook = course.autograded_notebook(assignment, student)
    return "\n".join(
        f"- {s.grade_id}: {s.auto_score}/{s.max_score}\n    "
        + cell_outputs_text(notebook, s.grade_id).replace("\n", "\n    ")[:1500]
        for s in scores
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_gets_full_marks(assignment, course, autograded):
    scores = autograded(assignment)[SOLVED]
    assert set(scores) == expected_grade_ids(course, assignment), "gradebook and notebook disagree"
    lost = [s for s in scores.values() if s.is_test and s.auto_score != s.max_score]
    assert not lost, f"the reference solution loses points:\n{report(course, assignment, SOLVED, lost)}"
    # Written answers cannot be autograded; they must be waiting for a human.
    unflagged = [s.grade_id for s in scores.values() if not s.is_test and not s.needs_manual_grade]
    assert not unflagged, f"manually graded answers not flagged for grading: {unflagged}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_student_notebook_gets_zero(assignment, course, autograded):
    scores = autograded(assignment)[UNTOUCHED]
    assert set(scores) == expected_grade_ids(course, assignment), "gradebook and notebook disagree"
    passing = [s for s in scores.values() if s.is_test and s.auto_score != 0]
    assert not passing, (
        "these test cells give points to a notebook with no answer in it:\n"
        + report(course, assignment, UNTOUCHED, passing)
    )
