"""Cell roles and markers of the course's nbgrader notebooks, recognised in one place.

A cell's role comes from its nbgrader metadata: ``solution`` (an answer
cell, code or written), ``test`` (graded, autograder tests), ``locked``
(read-only task or setup) or ``plain`` (no nbgrader metadata). grade_ids
say what a cell grades: ``<function>_solution``, ``<function>_visible_<what>``,
``<function>_hidden_<behaviour>``; hidden tests sit between
:data:`HIDDEN_BEGIN` and :data:`HIDDEN_END`. ``grader/nbgrader_config.py``
writes the answer stubs (:data:`STUB_LINES`).
"""

from __future__ import annotations

from collections.abc import Mapping

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
SOLUTION_BEGIN = "### BEGIN SOLUTION"
SOLUTION_END = "### END SOLUTION"

# grader/nbgrader_config.py: ClearSolutions.code_stub and text_stub. These
# lines are not evidence of which cell is which: every answer cell has them.
STUB_LINES = frozenset(
    {"# YOUR CODE HERE", "raise NotImplementedError()", "raise NotImplementedError", "YOUR ANSWER HERE"}
)

SOLUTION, TEST, LOCKED, PLAIN = "solution", "test", "locked", "plain"

# What follows the exercise's name in a grade_id.
GRADE_ID_MARKERS = ("_visible", "_hidden", "_solution")


def nbgrader_meta(cell: Mapping) -> dict:
    """The cell's nbgrader metadata ({} for a plain cell or a malformed value)."""
    meta = (cell.get("metadata") or {}).get("nbgrader") or {}
    return dict(meta) if isinstance(meta, Mapping) else {}


def role(cell: Mapping) -> str:
    """``solution`` (answer), ``test``, ``locked`` (read-only, task) or ``plain``."""
    meta = nbgrader_meta(cell)
    if meta.get("solution"):
        return SOLUTION
    if meta.get("grade"):
        return TEST
    if meta.get("locked") or meta.get("task"):
        return LOCKED
    return PLAIN


def is_graded_test(cell: Mapping) -> bool:
    """A code cell nbgrader scores by running it (graded, not an answer)."""
    return cell.get("cell_type") == "code" and role(cell) == TEST


def has_hidden_tests(cell: Mapping) -> bool:
    """A graded code cell whose source holds a hidden-test region."""
    return is_graded_test(cell) and HIDDEN_BEGIN in _text(cell.get("source", ""))


def exercise_of(grade_id: str) -> str:
    """The exercise a graded cell belongs to: ``split_dataframe_hidden_seed`` -> ``split_dataframe``."""
    for marker in GRADE_ID_MARKERS:
        if marker in grade_id:
            return grade_id.split(marker)[0]
    return grade_id


def graded_points(notebook: Mapping) -> dict[str, float]:
    """grade_id -> points of every graded cell (tests and manually graded answers)."""
    points = {}
    for cell in notebook.get("cells", []):
        meta = nbgrader_meta(cell)
        if meta.get("grade") and meta.get("grade_id"):
            points[meta["grade_id"]] = float(meta.get("points") or 0)
    return points


def _text(source: object) -> str:
    """A cell source as one string (nbformat allows a list of lines)."""
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""
