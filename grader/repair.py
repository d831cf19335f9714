"""Make a submitted notebook gradable by nbgrader, or say exactly why not.

Pure Python, no kernel: ``repair_submission(data, release)`` takes the bytes a
student handed in and the release (student) version of the assignment, and
returns a notebook ready for ``nbgrader autograde``, what was restored or
changed (``changes``), what is merely worth knowing (``notes``), and a status:

- ``ok``: well formed (every nbgrader cell found by its grade_id, with its
  metadata, type and locked source intact, nothing duplicated or missing, in
  order); ``notes`` may still say that inserted cells were kept or dropped;
- ``repaired``: something had to be restored, each listed in ``changes``;
- ``unreadable``: not a notebook (empty, not UTF-8, not JSON, truncated, no
  cells), the message giving the JSON error's line, column and offset;
- ``wrong_notebook``: under 25% of the release's cells and none of its graded
  cells found by id or exact content (another assignment, an unrelated file).

The output is always a TRANSPLANT: a fresh copy of the release notebook whose
answer cells receive the student's answers. Why always, not only when the
submission is damaged:

- nbgrader autograde keeps little more of a submission than this anyway:
  ``OverwriteCells`` puts back, from the gradebook, the source of every locked
  and test cell, the points, cell types and checksums. Scores depend on what
  test cells output after the student's code ran, and on answer-cell
  checksums (an untouched template scores 0). The transplant keeps the
  release's metadata and checksums and runs the same student code in the same
  order, so a well-formed notebook gets the same grades (the tests check that
  its transplant has, cell for cell, the student's sources; a one-off run of
  nbgrader 0.9.6 autograde on a throwaway course gave identical scores for
  the raw and the transplanted notebook).
- One code path: a damaged notebook is graded by the same rules as a healthy one.
- The one deliberate difference: inserted cells that bind no name (``df.head()``,
  a plot, ``!pip install``) are dropped. No later cell can use what they
  define; they could only change objects in place, cost time, or install
  packages on the grading machine. Inserted code cells that define something
  (function, class, import, assignment, also inside ``if``/``try``) are kept,
  unmarked, right before the release cell they preceded, so an answer that
  calls a helper still works; ``!pip``/``%pip`` lines in them are commented out.
- Plain (unmarked) release code cells keep the student's version when found,
  as nbgrader would run it; markdown comes from the release; outputs are
  never carried (gigantic outputs do not reach nbgrader).

How release cells are found: :mod:`grader.matching`.

Several student cells may be copies of one answer cell (duplicated or split,
often with the metadata, which makes raw nbgrader abort the whole batch): the
first copy that is not the untouched template is the answer, the other copies
that define something follow it unmarked, so the code runs in the student's
order; copies of a written (markdown) answer are joined. All recorded.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .cell_code import defined_names, normalise_source  # noqa: F401 -- re-exported for callers
from .matching import (  # noqa: F401 -- re-exported: the intake and the tests use them from here
    Release,
    ReleaseCell,
    StudentCell,
    Unreadable,
    content_match_score,
    content_match_scores,
    found_fraction,
    match_cells,
    read_submitted,
)
from .statuses import RepairStatus

STATUS_OK, STATUS_REPAIRED = RepairStatus.OK, RepairStatus.REPAIRED
STATUS_UNREADABLE, STATUS_WRONG_NOTEBOOK = RepairStatus.UNREADABLE, RepairStatus.WRONG_NOTEBOOK

# Below this fraction of the release's cells found (by id or content), and
# with no graded cell found at all, the file is another notebook.
WRONG_NOTEBOOK_FRACTION = 0.25

# Package installs in carried cells would change the grading environment.
_INSTALL_LINE = re.compile(r"^(\s*)([!%]{1,2}\s*(?:pip|pip3|conda|mamba|uv|apt|apt-get)\b.*)$", re.M)


# --- Results -------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One thing restored or changed; ``grade_id`` names the release cell concerned."""

    kind: str
    message: str
    grade_id: str | None = None


# Kinds of change that make a notebook "repaired" rather than "ok".
REPAIR_KINDS = frozenset(
    {
        "upgraded",  # nbformat 3 -> 4
        "metadata_restored",  # nbgrader metadata missing or altered (grade_id, points, flags)
        "cell_type_restored",  # e.g. an answer cell turned into markdown
        "visible_test_restored",  # a test cell edited by the student
        "locked_cell_restored",  # a locked (read-only) cell edited
        "cell_restored",  # a locked/test cell deleted by the student, put back
        "answer_missing",  # no student counterpart: the template stays (scores 0)
        "duplicate_answer",  # several copies of an answer cell
        "duplicate_cell",  # a graded cell copied with its grade_id (nbgrader would abort)
        "reordered",  # release cells found out of order
    }
)
# Kinds that are only informative (the notebook is still "ok").
NOTE_KINDS = frozenset(
    {
        "helper_carried",  # an inserted cell that defines something, kept
        "cell_dropped",  # an inserted cell that defines nothing, or a duplicate of a locked cell
        "install_disabled",  # a `!pip install` line commented out in a carried cell
        "outputs_cleared",  # outputs are never passed to nbgrader
        "matched_by_position",  # an answer (or empty hidden-test cell) found only by where it sits
    }
)


@dataclass
class RepairResult:
    """What :func:`repair_submission` made of one submitted file."""

    status: str
    notebook: NotebookNode | None
    changes: list[Change] = field(default_factory=list)
    notes: list[Change] = field(default_factory=list)
    message: str = ""
    # Fraction of the release's recognisable cells found by id or exact content.
    found_fraction: float = 0.0

    @property
    def gradable(self) -> bool:
        return self.notebook is not None

    def describe(self) -> list[str]:
        """Messages of the changes, then of the notes, for a report."""
        return [c.message for c in self.changes] + [n.message for n in self.notes]


# --- Building the transplant -----------------------------------------------------------


def _is_template(release: ReleaseCell, student: StudentCell) -> bool:
    return student.norm == release.norm


def _numbers(cells: list[StudentCell]) -> str:
    """Cell numbers as a student sees them in JupyterLab (from 1)."""
    return ", ".join(str(s.index + 1) for s in cells)


def _choose_answer(
    release: ReleaseCell, copies: list[StudentCell]
) -> tuple[StudentCell, list[StudentCell]]:
    """The answer among copies of an answer cell: the first not left as the template.

    A copy that defines something beats one that does not (a ``f(x).head()``
    found next to the answer by position), non-empty beats empty; when every
    copy is the template, the first. Returns the answer and the other copies.
    Only copies that define something are carried after the answer, so the
    code that runs keeps the student's order.
    """
    def preference(student: StudentCell) -> tuple[bool, bool, bool]:
        edited = not _is_template(release, student)
        defines = release.cell.cell_type != "code" or bool(defined_names(student.source))
        return (edited and bool(student.norm) and defines, edited and bool(student.norm), edited)

    best = max(copies, key=preference)  # max keeps the first of equals
    return best, [s for s in copies if s is not best]


def _clean_cell(cell: NotebookNode) -> NotebookNode:
    """A copy of a release cell without outputs or execution counts."""
    cell = copy.deepcopy(cell)
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    return cell


def _new_code_cell(source: str, cell_id: str | None) -> NotebookNode:
    """An unmarked code cell (no nbgrader metadata) carrying student code."""
    cell = nbformat.v4.new_code_cell(source=source)
    if cell_id is None:
        cell.pop("id", None)
    else:
        cell["id"] = cell_id
    return cell


@dataclass
class Transplant:
    """The gradable notebook and what it took to build it."""

    notebook: NotebookNode
    changes: list[Change]
    notes: list[Change]
    fraction: float  # of the release's recognisable cells found by id or exact content
    graded_found: bool  # an answer or test cell found by id or exact content


class _Transplanter:
    """Builds the transplant of one submission and records every change."""

    def __init__(self, release: Release, students: list[StudentCell]):
        self.release = release
        self.students = {s.index: s for s in students}
        self.matches, self.duplicates = match_cells(release, students)
        self.changes: list[Change] = []
        self.notes: list[Change] = []
        self.stripped: list[str] = []  # labels of cells whose nbgrader metadata was gone
        self.use_ids = release.notebook.get("nbformat_minor", 0) >= 5
        self.taken_ids = {c.cell.get("id") for c in release.cells}

    def record(self, kind: str, message: str, cell: ReleaseCell | None = None) -> None:
        """A change (a repair kind) or a note, about a release cell when given."""
        target = self.changes if kind in REPAIR_KINDS else self.notes
        target.append(Change(kind, message, cell.grade_id if cell is not None else None))

    def copies(self, cell: ReleaseCell) -> list[StudentCell]:
        return [self.students[s] for s in self.matches[cell.index].students]

    # -- one release cell --

    def restore(self, cell: ReleaseCell) -> list[NotebookNode]:
        """The release cell with the student's answer put in, then the copies that follow it."""
        new, copies = _clean_cell(cell.cell), self.copies(cell)
        if self.matches[cell.index].how == "position":
            self.record("matched_by_position", f"{cell.label} found by its position only", cell)
        if not copies:
            if cell.role == "solution":
                self.record("answer_missing", f"answer {cell.label} missing: the template stays", cell)
            elif cell.role in ("test", "locked"):
                self.record("cell_restored", f"{cell.label} was deleted: restored from the release", cell)
            return [new]
        if cell.role == "plain":
            self.drop_copies(cell, copies[1:])
            if cell.cell.cell_type == "code" == copies[0].cell_type:
                # Plain cells are the student's to edit: nbgrader runs their version.
                new.source = copies[0].source
            return [new]
        following: list[NotebookNode] = []
        if cell.role == "solution" and cell.cell.cell_type == "markdown":
            student = self.written_answer(cell, copies, new)
        elif cell.role == "solution":
            student, following = self.code_answer(cell, copies, new)
        else:
            student = copies[0]
            self.drop_copies(cell, copies[1:])
            if student.norm != cell.norm:
                kind, what = ("visible_test_restored", "visible test")
                if cell.role == "locked":
                    kind, what = ("locked_cell_restored", "locked cell")
                self.record(kind, f"{what} {cell.label} was edited: restored from the release", cell)
        self.check_metadata(cell, student)
        if student.cell_type != cell.cell.cell_type:
            self.record(
                "cell_type_restored",
                f"{cell.label} had been turned into {student.cell_type}: back to {cell.cell.cell_type}",
                cell,
            )
        return [new, *following]

    def code_answer(
        self, cell: ReleaseCell, copies: list[StudentCell], new: NotebookNode
    ) -> tuple[StudentCell, list[NotebookNode]]:
        """The first copy not left as the template is the answer; later copies follow it."""
        student, others = _choose_answer(cell, copies)
        new.source = student.source
        if others:
            self.record(
                "duplicate_answer",
                f"answer {cell.label} found in {len(copies)} cells ({_numbers(copies)}): cell "
                f"{student.index + 1} is the answer, the other copies that define something follow it",
                cell,
            )
        carried = (self.extra(s, "copy of answer") for s in others if not _is_template(cell, s))
        return student, [c for c in carried if c is not None]

    def written_answer(
        self, cell: ReleaseCell, copies: list[StudentCell], new: NotebookNode
    ) -> StudentCell:
        """A markdown answer: every copy's text is kept, the person grading reads it all."""
        answers = [s for s in copies if s.norm and not _is_template(cell, s)] or copies[:1]
        new.source = "\n\n".join(s.source for s in answers)
        if len(copies) > 1:
            self.record(
                "duplicate_answer",
                f"written answer {cell.label} found in {len(copies)} cells ({_numbers(copies)}): "
                "their texts are joined",
                cell,
            )
        return answers[0]

    def drop_copies(self, cell: ReleaseCell, extra: list[StudentCell]) -> None:
        for student in extra:
            if student.nbgrader.get("grade_id"):  # nbgrader would stop the whole batch on it
                message = f"{cell.label} appears again in cell {student.index + 1} (same grade_id): dropped"
                self.record("duplicate_cell", message, cell)
            else:
                self.record("cell_dropped", f"cell {student.index + 1} repeats {cell.label}: dropped")

    def check_metadata(self, cell: ReleaseCell, student: StudentCell) -> None:
        """Record nbgrader metadata the student's cell lacked or had altered."""
        want, have = cell.cell.metadata.get("nbgrader", {}), student.nbgrader
        if not want:
            return
        if not have:
            self.stripped.append(cell.label)
            return
        differences = [
            f"{key} {have.get(key)!r} -> {want.get(key)!r}"
            for key in ("grade_id", "grade", "solution", "locked")
            if (have.get(key) if key == "grade_id" else bool(have.get(key)))
            != (want.get(key) if key == "grade_id" else bool(want.get(key)))
        ]
        if want.get("grade") and not _same_points(have.get("points"), want.get("points")):
            differences.append(f"points {have.get('points')!r} -> {want.get('points')!r}")
        if differences:
            self.record(
                "metadata_restored",
                f"nbgrader metadata of {cell.label} restored from the release: {'; '.join(differences)}",
                cell,
            )

    # -- student cells outside the release --

    def extra(self, student: StudentCell, why: str) -> NotebookNode | None:
        """A student cell that is no release cell: kept, unmarked, if it defines something."""
        where = f"{why} cell {student.index + 1}"
        if not student.norm:
            return None
        if student.cell_type != "code":
            self.record("cell_dropped", f"{where} ({student.cell_type}) dropped")
            return None
        names = defined_names(student.source)
        if not names:
            self.record("cell_dropped", f"{where} dropped: it defines nothing")
            return None
        source, disabled = _INSTALL_LINE.subn(r"\1# (disabled by the grader) \2", student.source)
        if disabled:
            self.record("install_disabled", f"{disabled} package install line(s) disabled in {where}")
        self.record("helper_carried", f"{where} kept, unmarked (defines {', '.join(sorted(names)[:5])})")
        return _new_code_cell(source, self.new_id(student.index))

    def new_id(self, index: int) -> str | None:
        """A cell id for a carried cell (nbformat >= 4.5 requires unique ids)."""
        if not self.use_ids:
            return None
        cell_id, n = f"student-cell-{index + 1}", 1
        while cell_id in self.taken_ids:
            n += 1
            cell_id = f"student-cell-{index + 1}-{n}"
        self.taken_ids.add(cell_id)
        return cell_id

    def inserted(self) -> dict[int | None, list[NotebookNode]]:
        """Carried inserted cells, keyed by the release cell they preceded (None: the end)."""
        owner = {s: r for r, m in self.matches.items() for s in m.students}
        for s, r in sorted(self.duplicates.items()):
            self.drop_copies(self.release.cells[r], [self.students[s]])
        before: dict[int | None, list[NotebookNode]] = {}
        next_release: int | None = None
        pending = []
        for index in sorted(self.students, reverse=True):
            if index in owner:
                next_release = owner[index]
            elif index not in self.duplicates:
                pending.append((index, next_release))
        for index, anchor in sorted(pending):
            cell = self.extra(self.students[index], "inserted")
            if cell is not None:
                before.setdefault(anchor, []).append(cell)
        return before

    # -- the whole notebook --

    def run(self) -> Transplant:
        inserted = self.inserted()
        cells: list[NotebookNode] = []
        for cell in self.release.cells:
            cells.extend(inserted.get(cell.index, []))
            cells.extend(self.restore(cell))
        cells.extend(inserted.get(None, []))

        if self.stripped:
            self.record(
                "metadata_restored",
                f"metadata restored for {len(self.stripped)} cells ({', '.join(self.stripped)}): "
                "their nbgrader metadata was missing",
            )
        order = [min(m.students) for _, m in sorted(self.matches.items()) if m.students]
        if order != sorted(order):
            self.record("reordered", "cells were out of order: the release's order is restored")
        if any(s.has_outputs for s in self.students.values()):
            self.record("outputs_cleared", "outputs of the submission cleared (nbgrader runs it again)")

        notebook = copy.deepcopy(self.release.notebook)
        notebook.cells = cells
        # Whether this is the assignment's notebook at all is judged on exact evidence
        # only: cells of two notebooks of one course can be alike (boilerplate tests).
        exact, _ = match_cells(self.release, list(self.students.values()), fuzzy=False)
        graded_found = any(
            exact[c.index].students and exact[c.index].how != "position"
            for c in self.release.cells
            if c.role in ("solution", "test")
        )
        fraction = found_fraction(self.release, exact)
        return Transplant(notebook, self.changes, self.notes, fraction, graded_found)


def _same_points(have: object, want: object) -> bool:
    try:
        return float(have) == float(want)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _transplant(release: Release, students: list[StudentCell]) -> Transplant:
    """Build the gradable notebook: a fresh release with the student's answers put in."""
    return _Transplanter(release, students).run()


# --- The entry point -------------------------------------------------------------------------


def repair_submission(data: bytes | str, release: Release | NotebookNode | Path | str) -> RepairResult:
    """Make submitted bytes gradable against the release notebook (see the module doc)."""
    release = Release.load(release)
    try:
        students, upgraded_from = read_submitted(data)
    except Unreadable as error:
        return RepairResult(STATUS_UNREADABLE, None, message=str(error))

    result = _transplant(release, students)
    if result.fraction < WRONG_NOTEBOOK_FRACTION and not result.graded_found:
        return RepairResult(
            STATUS_WRONG_NOTEBOOK,
            None,
            message=(
                f"only {result.fraction:.0%} of the release's cells and none of its graded cells "
                "found: not this assignment's notebook"
            ),
            found_fraction=result.fraction,
        )
    read_changes = [] if upgraded_from is None else [
        Change("upgraded", f"upgraded from nbformat {upgraded_from} to 4")]
    changes = read_changes + result.changes
    status = STATUS_REPAIRED if changes else STATUS_OK
    summary = "; ".join(c.message for c in changes) if changes else "well formed"
    return RepairResult(status, result.notebook, changes, result.notes, summary, result.fraction)


def repair_file(
    path: Path | str, release: Release | NotebookNode | Path | str, output: Path | str | None = None
) -> RepairResult:
    """:func:`repair_submission` on a file; writes the gradable notebook to ``output`` if given."""
    result = repair_submission(Path(path).read_bytes(), release)
    if output is not None and result.notebook is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(result.notebook, str(output))
    return result
