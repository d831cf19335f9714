"""Building the corpus's notebooks from the course: the reference, new answers, damage.

Every notebook of the corpus starts from the release (``notebooks/``) with the
reference solution filled in from the source (``solutions/``); a case then
replaces answer cells (by grade_id) or damages the file the way LMS exports,
Colab and careless students do.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader.nbgrader_helpers import REPO_ROOT, fill_in_solutions, list_assignments, release_notebook


def released_assignments() -> tuple[str, ...]:
    """Every assignment of the course that has a student version: what ``grade`` grades."""
    return tuple(a for a in list_assignments(REPO_ROOT) if release_notebook(REPO_ROOT, a).is_file())


def source_path(assignment: str) -> Path:
    return REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment: str) -> Path:
    return release_notebook(REPO_ROOT, assignment)


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


@lru_cache(maxsize=None)
def points(assignment: str) -> dict[str, float]:
    """grade_id -> points of every graded cell of the source."""
    result = {}
    for cell in read(source_path(assignment)).cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            result[meta["grade_id"]] = float(meta.get("points", 0))
    return result


def all_tests(assignment: str) -> set[str]:
    return set(points(assignment))


def exercise_ids(assignment: str, exercise: str) -> set[str]:
    """grade_ids of an exercise's test cells (``split_dataframe`` -> its visible and hidden tests)."""
    return {g for g in points(assignment) if g.startswith(exercise + "_")}


def grade_id_of(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solved(assignment: str) -> NotebookNode:
    """The release with the reference solution in every answer cell."""
    return fill_in_solutions(read(release_path(assignment)), read(source_path(assignment)))


def with_answers(notebook: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """A copy whose answer cells named by grade_id (``split_dataframe_solution``) get new sources."""
    changed = copy.deepcopy(notebook)
    found = set()
    for cell in changed.cells:
        grade_id = grade_id_of(cell)
        if grade_id in answers and cell.metadata.nbgrader.get("solution"):
            cell.source = answers[grade_id]
            found.add(grade_id)
    missing = set(answers) - found
    assert not missing, f"no answer cells {missing}"
    return changed


def edit_answer(notebook: NotebookNode, grade_id: str, edit: Callable[[str], str]) -> NotebookNode:
    source = next(c.source for c in notebook.cells if grade_id_of(c) == grade_id)
    return with_answers(notebook, {grade_id: edit(source)})


def index_of(notebook: NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(notebook.cells) if grade_id_of(c) == grade_id)


def to_bytes(notebook: NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode()


# --- Damage ------------------------------------------------------------------------------


def strip_metadata(notebook: NotebookNode) -> NotebookNode:
    """As Colab saves it: no cell metadata at all."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        cell.metadata = {}
    return changed


def delete_cells(notebook: NotebookNode, *grade_ids: str) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    changed.cells = [c for c in changed.cells if grade_id_of(c) not in grade_ids]
    return changed


def duplicate_cell(notebook: NotebookNode, grade_id: str, keep_metadata: bool = True) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    index = index_of(changed, grade_id)
    twin = copy.deepcopy(changed.cells[index])
    twin["id"] = f"{twin.get('id', 'cell')[:58]}-copy"  # a copy gets a new cell id, as Jupyter does
    if not keep_metadata:
        twin.metadata = {}
    changed.cells.insert(index + 1, twin)
    return changed


def move_cell(notebook: NotebookNode, grade_id: str, before: str) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    cell = changed.cells.pop(index_of(changed, grade_id))
    changed.cells.insert(index_of(changed, before), cell)
    return changed


def to_markdown(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    changed = copy.deepcopy(notebook)
    cell = changed.cells[index_of(changed, grade_id)]
    cell.cell_type = "markdown"
    cell.pop("outputs", None)
    cell.pop("execution_count", None)
    return changed


def edit_visible_test(notebook: NotebookNode, grade_id: str) -> NotebookNode:
    """The student "fixes" a failing visible test by emptying it."""
    changed = copy.deepcopy(notebook)
    changed.cells[index_of(changed, grade_id)].source = "# this test was wrong\npass\n"
    return changed


def gigantic_outputs(notebook: NotebookNode, megabytes: int = 24) -> NotebookNode:
    """Outputs saved in the file (``megabytes`` in all, spread over the code cells)."""
    changed = copy.deepcopy(notebook)
    code = [cell for cell in changed.cells if cell.cell_type == "code"]
    line = "x" * 1023 + "\n"
    for cell in code:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=line * (megabytes * 1024 // len(code)))]
    return changed


def to_v3(notebook: NotebookNode) -> bytes:
    return nbformat.writes(nbformat.convert(copy.deepcopy(notebook), 3), version=3).encode()
