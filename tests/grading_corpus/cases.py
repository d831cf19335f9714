"""The cases of the corpus, where they come from, and what the grade sheet must say.

Sources of cases, in the order they take their students:

1. the course: every released assignment (``solutions/*/`` with a student
   version) gets ``s01`` = its reference solution (full marks) and ``s02`` =
   the untouched release (0 on every test cell), with nothing to write;
2. ``answers_NN.py``, one module per assignment (NN: the number its folder
   starts with), found by its name: ``CASES`` (other correct routes, wrong
   answers and the test cells they lose) and ``PENDING_CASES`` (cases that
   wait for a change of the grader or the hidden tests, each naming its
   switch in :data:`PENDING`); ``DRY_RUN_CASES`` (more of the same, which
   only the dry run checks: real grading costs about 10 s a notebook);
3. ``grader_cases.py``: the grader's own cases on notebooks 1-7 (broken
   files, hostile code) and the rest of the class of 20 students.

A case with a ``student`` takes that student; one without takes the first
student from ``s03`` on who has no notebook of that assignment yet (and is
not one of the class's deliberately missing notebooks), so a new case needs
no bookkeeping. Students beyond ``s20`` appear when an assignment has that
many cases; they have no other notebooks (``not_submitted``).

Points are never written by hand: a case names the test cells it loses
(``lost``) or the only ones it keeps (``kept``), and the expected points are
the source notebook's points minus those of the lost cells. A name in
``lost``/``kept`` is a grade_id, an exercise (``"gravity"``: all its test
cells) or ``"*"`` (every test cell); a string holds names separated by
spaces, so that changing a case's expectation is a one-line edit.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from grader.nbgrader_helpers import REPO_ROOT, list_assignments

from .notebooks import exercise_ids, points, release_path, released_assignments, solved, to_bytes, with_answers

# Every assignment the grader grades: the course's, not a list kept here.
ASSIGNMENTS = released_assignments()
CLASS_SIZE = 20  # s01..s20 always exist; more when an assignment has more cases

# Settings the corpus is calibrated for (an endless loop costs CELL_TIMEOUT seconds, in every run:
# the slowest graded cell of the series takes about a second on the synthetic data, 15 s is ample).
CELL_TIMEOUT = 15
NOTEBOOK_TIMEOUT = 240
MEMORY_MB = 2500

# Pending cases, by the change each waits for. Switch one on here when that change has
# landed, or for one run with GRADING_CORPUS_PENDING=name,name (or =all). All three have
# landed (the guard, values-first hidden tests, the allow-list sandbox).
PENDING = {
    # hidden tests run the student's function under grader/hidden_tests' "forbid library" guard
    "library_guard": True,
    # structural points (shape, dtype, default argument) only together with right values
    "values_before_structure": True,
    # the kernel sees no older output folder, no other temporary folder and no network
    "no_solutions_reachable": True,
}


def pending_switches() -> set[str]:
    """The switches that are on: :data:`PENDING` and ``$GRADING_CORPUS_PENDING``."""
    chosen = {name for name, on in PENDING.items() if on}
    for name in filter(None, os.environ.get("GRADING_CORPUS_PENDING", "").split(",")):
        if name.strip() == "all":
            chosen |= set(PENDING)
        else:
            assert name.strip() in PENDING, f"GRADING_CORPUS_PENDING: unknown switch {name!r}; known: {sorted(PENDING)}"
            chosen.add(name.strip())
    return chosen


@dataclass
class Case:
    """One notebook of one student and what the sheet must say about it."""

    # The answer cells that differ from the reference (grade_id -> the whole cell), or the file's bytes.
    make: dict[str, str] | Callable[[], bytes]
    what: str = ""
    lost: str | Iterable[str] = ()  # test cells that must score 0 (names as in the module docstring)
    kept: str | Iterable[str] | None = None  # if set: only these score (everything else 0)
    status: str = "graded"
    student: str | None = None  # None: the next free student
    file_name: str | None = None  # default: <assignment>.ipynb
    assignment: str | None = None  # set from the module's name for answers_NN.py
    pending: str | None = None  # for PENDING_CASES: the switch of PENDING it waits for
    review: str = ""  # what the sheet's review column must say (an answer copied from the library)

    def file_bytes(self) -> bytes:
        if callable(self.make):
            return self.make()
        return to_bytes(with_answers(solved(self.assignment), self.make))

    def expected_points(self) -> float:
        table = points(self.assignment)
        if self.status in ("unreadable", "wrong_notebook"):
            return 0.0
        if self.kept is not None:
            return sum(table[g] for g in test_cells(self.assignment, self.kept))
        lost = test_cells(self.assignment, self.lost)
        return sum(p for g, p in table.items() if g not in lost)


def test_cells(assignment: str, names: str | Iterable[str]) -> set[str]:
    """grade_ids named by ``names``: grade_ids, exercises (all their cells) or ``*`` (all)."""
    table = points(assignment)
    result = set()
    for name in names.split() if isinstance(names, str) else names:
        if name == "*":
            result |= set(table)
        elif name in table:
            result.add(name)
        elif exercise_ids(assignment, name):
            result |= exercise_ids(assignment, name)
        else:
            raise AssertionError(f"{assignment}: {name!r} is neither a graded cell nor an exercise")
    return result


def reference(assignment: str) -> Case:
    return Case(lambda: to_bytes(solved(assignment)), "reference solution", assignment=assignment)


def untouched(assignment: str) -> Case:
    return Case(lambda: release_path(assignment).read_bytes(), "untouched release", lost="*", assignment=assignment)


def answer_modules() -> dict[str, ModuleType]:
    """Released assignment -> its ``answers_NN`` module (assignments without one are absent).

    A module whose notebook has a source but no student version yet (being
    written) is skipped, as ``grade`` skips the notebook; one that matches no
    source folder is an error (a typo would silently drop its cases).
    """
    sources = list_assignments(REPO_ROOT)
    modules = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        match = re.fullmatch(r"answers_(\d+)", info.name)
        if not match:
            continue
        owners = [a for a in sources if a.split("_")[0] == match.group(1)]
        assert len(owners) == 1, f"{info.name}.py: expected one folder solutions/{match.group(1)}_*/, found {owners}"
        if owners[0] in ASSIGNMENTS:
            modules[owners[0]] = importlib.import_module(f"{__package__}.{info.name}")
    return modules


def own_cases(switches: set[str] | None = None, dry_run: bool = False) -> list[Case]:
    """The cases of every answers module (pending ones whose switch is on), assignment set.

    ``dry_run``: also each module's ``DRY_RUN_CASES`` (never graded by the real test).
    """
    switches = pending_switches() if switches is None else switches
    found = []
    for assignment, module in sorted(answer_modules().items()):
        chosen = list(getattr(module, "CASES", []))
        extra = getattr(module, "DRY_RUN_CASES", []) if dry_run else []
        for case in [*getattr(module, "PENDING_CASES", []), *extra]:
            assert case.pending in (None, *PENDING), f"{module.__name__}: {case.what!r}: unknown pending="
            if case.pending is None or case.pending in switches:
                chosen.append(case)
        for case in chosen:
            assert case.assignment in (None, assignment), f"{module.__name__}: {case.what!r} is for {case.assignment}"
            case.assignment = assignment
            test_cells(assignment, case.lost)  # unknown names fail here, before any grading
            if case.kept is not None:
                test_cells(assignment, case.kept)
            found.append(case)
    return found


def cases(switches: set[str] | None = None) -> dict[tuple[str, str], Case]:
    """(student, assignment) -> Case (missing notebooks are absent)."""
    from . import grader_cases  # noqa: PLC0415 -- it imports the answers modules

    table: dict[tuple[str, str], Case] = {}

    def put(student: str, case: Case) -> None:
        assert case.assignment in ASSIGNMENTS, f"{case.what!r}: {case.assignment} is not a released assignment"
        assert (student, case.assignment) not in table, f"{student} has two {case.assignment} cases"
        table[(student, case.assignment)] = case

    for assignment in ASSIGNMENTS:
        put("s01", reference(assignment))
        put("s02", untouched(assignment))
    own = own_cases(switches)
    for case in own + grader_cases.class_cases():
        if case.student:
            put(case.student, case)
    for case in own:
        if not case.student:
            number = 3
            while {(f"s{number:02d}", case.assignment)} & (table.keys() | grader_cases.MISSING):
                number += 1
            put(f"s{number:02d}", case)
    grader_cases.fill_the_class(table, put)
    return table


def students(table: dict[tuple[str, str], Case]) -> list[str]:
    return sorted({f"s{i:02d}" for i in range(1, CLASS_SIZE + 1)} | {student for student, _ in table})


def build_corpus(folder: Path, switches: set[str] | None = None) -> dict[tuple[str, str], Case]:
    """Write the class into ``folder/<student>/<file>``; return the cases."""
    table = cases(switches)
    for (student, assignment), case in table.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        (folder / student / (case.file_name or f"{assignment}.ipynb")).write_bytes(case.file_bytes())
    return table


def expected_sheet(table: dict[tuple[str, str], Case]) -> dict[tuple[str, str], tuple[str, float]]:
    """(student, assignment) -> (status, points) for every student x assignment."""
    return {(s, a): (table[(s, a)].status, table[(s, a)].expected_points()) if (s, a) in table
            else ("not_submitted", 0.0) for s in students(table) for a in ASSIGNMENTS}
