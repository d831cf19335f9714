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

How release cells are found among the student's cells, strongest first:

1. nbgrader ``grade_id`` in the cell metadata, then the nbformat cell ``id``;
2. content: locked, test and plain cells by normalised source (exact, then
   close, so an edited visible test is still recognised); answer cells by
   the text around the answer region (signature, docstring) and the names
   they define, so a code answer turned into markdown is found too;
3. position: an answer still missing takes the student cells between the
   nearest neighbours found above (an empty hidden-test cell, an empty one).

Several student cells may be copies of one answer cell (duplicated or split,
often with the metadata, which makes raw nbgrader abort the whole batch): the
first copy that is not the untouched template is the answer, the other copies
that define something follow it unmarked, so the code runs in the student's
order; copies of a written (markdown) answer are joined. All recorded.
"""

from __future__ import annotations

import ast
import copy
import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import nbformat
from nbformat import NotebookNode

# --- What the course's nbgrader config puts in answer cells -----------------

# grader/nbgrader_config.py: ClearSolutions.code_stub and text_stub. These
# lines are not evidence of which cell is which: every answer cell has them.
STUB_LINES = frozenset(
    {"# YOUR CODE HERE", "raise NotImplementedError()", "raise NotImplementedError", "YOUR ANSWER HERE"}
)

STATUS_OK = "ok"
STATUS_REPAIRED = "repaired"
STATUS_UNREADABLE = "unreadable"
STATUS_WRONG_NOTEBOOK = "wrong_notebook"

# Below this fraction of the release's cells found (by id or content), and
# with no graded cell found at all, the file is another notebook.
WRONG_NOTEBOOK_FRACTION = 0.25
# Similarity (difflib ratio) for a locked/test/plain cell edited by the student.
EDITED_CELL_RATIO = 0.6
# Fraction of an answer cell's surrounding text (signature, docstring) found.
ANSWER_CONTEXT_SCORE = 0.6
# difflib is quadratic: longer sources are only compared exactly.
FUZZY_MAX_CHARS = 20_000

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


# --- Cells, normalised ---------------------------------------------------------


def _text(source: object) -> str:
    """A cell source as one string (nbformat allows a list of lines)."""
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def _line_keys(source: str) -> list[str]:
    """Non-blank lines with whitespace collapsed: indentation and trailing spaces don't count."""
    return [" ".join(line.split()) for line in source.splitlines() if line.strip()]


def normalise_source(source: str) -> str:
    """Source as compared between release and student: blank lines and spacing ignored."""
    return "\n".join(_line_keys(source))


@lru_cache(maxsize=1)
def _ipython_transformer():
    """IPython's cell transformer (magics and ``!`` lines to calls), or None without IPython."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return None
    return TransformerManager()


def _python(source: str) -> ast.Module | None:
    """Parse a cell as IPython would run it; None when it is not valid Python."""
    transformer = _ipython_transformer()
    try:
        if transformer is not None:
            source = transformer.transform_cell(source)
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    except Exception:  # IPython's transformer can fail on odd input: parse as plain Python
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError):
            return None


def _bound_targets(node: ast.stmt) -> list[ast.expr]:
    """Expressions a statement assigns to (not counting what it defines by name)."""
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        return [node.target]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [item.optional_vars for item in node.items if item.optional_vars is not None]
    return []


def _module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at module level: inside if/try/for/with, not inside functions."""
    statements = []
    for node in body:
        statements.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            statements.extend(_module_statements(getattr(node, name, None) or []))
        for handler in getattr(node, "handlers", None) or []:
            statements.extend(_module_statements(handler.body))
    return statements


def defined_names(source: str) -> set[str]:
    """Names a code cell binds at module level: functions, classes, imports, assignments.

    A cell that binds nothing (``df.head()``, a plot, ``!pip install``) cannot
    be what a later cell depends on.
    """
    tree = _python(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in _module_statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported = (alias.asname or alias.name for alias in node.names if alias.name != "*")
            names.update(name.split(".")[0] for name in imported)
        for target in _bound_targets(node):
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _function_names(source: str) -> set[str]:
    """Functions and classes a cell defines at top level: an answer cell's signature."""
    tree = _python(source)
    if tree is None:
        return set()
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name for node in tree.body if isinstance(node, kinds)}


@dataclass
class _StudentCell:
    index: int
    cell_type: str
    source: str
    nbgrader: dict
    cell_id: str | None
    has_outputs: bool

    @cached_property
    def norm(self) -> str:
        return normalise_source(self.source)

    @cached_property
    def lines(self) -> set[str]:
        return set(_line_keys(self.source))

    @cached_property
    def functions(self) -> set[str]:
        return _function_names(self.source) if self.cell_type == "code" else set()


def _role(cell: Mapping) -> str:
    """``solution`` (answer), ``test``, ``locked`` (read-only, task) or ``plain``."""
    meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
    if meta.get("solution"):
        return "solution"
    if meta.get("grade"):
        return "test"
    if meta.get("locked") or meta.get("task"):
        return "locked"
    return "plain"


@dataclass
class _ReleaseCell:
    index: int
    cell: NotebookNode
    role: str

    @property
    def grade_id(self) -> str | None:
        return self.cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")

    @property
    def label(self) -> str:
        return self.grade_id or f"cell {self.index + 1}"

    @cached_property
    def source(self) -> str:
        return _text(self.cell.get("source", ""))

    @cached_property
    def norm(self) -> str:
        return normalise_source(self.source)

    @cached_property
    def context(self) -> set[str]:
        """An answer cell's lines outside the answer region (signature, docstring, comments)."""
        return {line for line in _line_keys(self.source) if line not in STUB_LINES}

    @cached_property
    def functions(self) -> set[str]:
        return _function_names(self.source) if self.cell.cell_type == "code" else set()


class Release:
    """The release notebook of an assignment, indexed for matching (build it once)."""

    def __init__(self, notebook: NotebookNode):
        self.notebook = notebook
        self.cells = [_ReleaseCell(i, c, _role(c)) for i, c in enumerate(notebook.cells)]
        self.by_grade_id = {c.grade_id: c for c in self.cells if c.grade_id and c.role != "plain"}
        self.by_cell_id = {c.cell["id"]: c for c in self.cells if c.cell.get("id")}
        self.by_norm: dict[str, list[_ReleaseCell]] = {}
        for cell in self.cells:
            if cell.role != "solution" and cell.norm:
                self.by_norm.setdefault(cell.norm, []).append(cell)

    @classmethod
    def load(cls, release: Release | NotebookNode | Path | str) -> Release:
        if isinstance(release, Release):
            return release
        if isinstance(release, (str, Path)):
            release = nbformat.read(str(release), as_version=4)
        return cls(release)

    @cached_property
    def countable(self) -> list[_ReleaseCell]:
        """Cells that can be recognised by content: non-empty, and answers with context."""
        return [
            c for c in self.cells if (c.context if c.role == "solution" else c.norm) or c.grade_id
        ]


# --- Reading what the student handed in --------------------------------------------


class Unreadable(ValueError):
    """The submitted bytes are not a notebook; the message says where it breaks."""


def _json_error_message(error: json.JSONDecodeError, text: str) -> str:
    message = (
        f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno} "
        f"(character {error.pos} of {len(text)})"
    )
    if not text.rstrip().endswith("}"):
        message += "; the file ends early, it looks truncated (an interrupted upload or download)"
    return message


def read_submitted(data: bytes | str) -> tuple[list[_StudentCell], list[Change]]:
    """Student cells of a submitted file, leniently (the output is built from the release).

    Raises :class:`Unreadable` with a precise message when it is not a notebook.
    nbformat 3 notebooks are upgraded (recorded as a change).
    """
    if isinstance(data, bytes):
        if not data.strip():
            raise Unreadable(f"empty file ({len(data)} bytes)")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise Unreadable(f"not UTF-8 text: byte {error.start} is {data[error.start]:#04x}") from None
    else:
        text = data
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise Unreadable(_json_error_message(error, text)) from None
    if not isinstance(raw, dict) or not ("cells" in raw or "worksheets" in raw):
        raise Unreadable("valid JSON but not a notebook (no 'cells')")

    changes = []
    version = raw.get("nbformat", 4 if "cells" in raw else 3)  # some tools omit it
    if version != 4:
        try:
            raw = nbformat.convert(nbformat.from_dict(raw), 4)
        except Exception as error:
            raise Unreadable(f"nbformat {version!r} cannot be converted to 4: {error}") from None
        changes.append(Change("upgraded", f"upgraded from nbformat {version} to 4"))

    if not isinstance(raw.get("cells"), list):
        raise Unreadable("'cells' is not a list of cells")
    cells = []
    for index, cell in enumerate(raw["cells"]):
        if not isinstance(cell, dict):
            continue
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        nbgrader_meta = dict(metadata["nbgrader"]) if isinstance(metadata.get("nbgrader"), dict) else {}
        if not isinstance(nbgrader_meta.get("grade_id"), str):
            nbgrader_meta.pop("grade_id", None)  # a hand-edited or broken value cannot name a cell
        cells.append(
            _StudentCell(
                index=index,
                cell_type=str(cell.get("cell_type", "code")),
                source=_text(cell.get("source", cell.get("input", ""))),
                nbgrader=nbgrader_meta,
                cell_id=cell.get("id") if isinstance(cell.get("id"), str) else None,
                has_outputs=bool(cell.get("outputs")),
            )
        )
    return cells, changes


# --- Matching release cells to student cells ------------------------------------------


@dataclass
class _Match:
    """Student cells found for one release cell, and how."""

    students: list[int] = field(default_factory=list)
    how: str = ""  # grade_id, cell id, content, position


def _answer_score(release: _ReleaseCell, student: _StudentCell) -> float:
    """How much a student cell looks like an answer cell: its context and signature."""
    score = 0.0
    if release.context:
        score = len(release.context & student.lines) / len(release.context)
    if release.functions:
        found = len(release.functions & student.functions) / len(release.functions)
        score = max(score, 0.95 * found)
    return score


def _similarity(a: str, b: str) -> float:
    """difflib ratio of two normalised sources, 0 when too different in length or too long."""
    if not a or not b or max(len(a), len(b)) > FUZZY_MAX_CHARS:
        return 0.0
    if min(len(a), len(b)) / max(len(a), len(b)) < 0.5:
        return 0.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < EDITED_CELL_RATIO or matcher.quick_ratio() < EDITED_CELL_RATIO:
        return 0.0
    return matcher.ratio()


def match_cells(
    release: Release, students: list[_StudentCell], fuzzy: bool = True
) -> tuple[dict[int, _Match], dict[int, int]]:
    """Find each release cell's student counterparts.

    Returns ``matches`` (release index -> students, how) and ``duplicates``
    (student index -> release index of an already found non-answer cell it repeats exactly).
    """
    matches: dict[int, _Match] = {c.index: _Match() for c in release.cells}
    claimed: set[int] = set()
    duplicates: dict[int, int] = {}

    def claim(r: int, s: int, how: str) -> None:
        match = matches[r]
        match.students.append(s)
        match.students.sort()
        match.how = match.how or how
        claimed.add(s)

    # 1. nbgrader grade_id, then the nbformat cell id.
    for student in students:
        cell = release.by_grade_id.get(student.nbgrader.get("grade_id"))
        if cell is not None:
            claim(cell.index, student.index, "grade_id")
    for student in students:
        cell = release.by_cell_id.get(student.cell_id)
        if student.index not in claimed and cell is not None and not matches[cell.index].students:
            claim(cell.index, student.index, "cell id")

    # 2. Content. Locked, test and plain cells: exact normalised source first.
    for student in students:
        if student.index in claimed or not student.norm:
            continue
        for cell in release.by_norm.get(student.norm, []):
            if not matches[cell.index].students:
                claim(cell.index, student.index, "content")
                break
        else:
            if release.by_norm.get(student.norm):  # a copy of a cell already found
                duplicates[student.index] = release.by_norm[student.norm][0].index
                claimed.add(student.index)

    # Then answers by context, and edited cells by similarity, best pairs first.
    candidates = []
    for cell in release.cells:
        if cell.role != "solution" and matches[cell.index].students:
            continue
        for student in students:
            if student.index in claimed:
                continue
            if cell.role == "solution":
                score = _answer_score(cell, student)
                threshold = ANSWER_CONTEXT_SCORE
            elif fuzzy:
                score = _similarity(cell.norm, student.norm)
                threshold = EDITED_CELL_RATIO
            else:
                continue
            if score >= threshold:
                # Ties go to the pair at the most similar relative position.
                distance = abs(cell.index / len(release.cells) - student.index / len(students))
                candidates.append((-score, distance, cell.index, student.index))
    for _, _, r, s in sorted(candidates):
        if s in claimed:
            continue
        if release.cells[r].role == "solution" or not matches[r].students:
            claim(r, s, "content")

    # 3. Position, for answers still missing: the student cells between the
    # nearest neighbours found above.
    _match_by_position(release, students, matches, claimed)
    return matches, duplicates


def _match_by_position(
    release: Release, students: list[_StudentCell], matches: dict[int, _Match], claimed: set[int]
) -> None:
    """Answers still missing take the student cells between their nearest found neighbours.

    So do empty locked/test cells (a cell of hidden tests is empty in the
    release), which take an empty student cell of the same type.
    """
    anchors = {r: min(m.students) for r, m in matches.items() if m.students}
    def findable(cell: _ReleaseCell) -> bool:
        return cell.role == "solution" or cell.role in ("test", "locked") and not cell.norm

    missing = [c for c in release.cells if not matches[c.index].students and findable(c)]
    gaps: dict[tuple[int, float, str, bool], list[_ReleaseCell]] = {}
    for cell in missing:
        low = max((s for r, s in anchors.items() if r < cell.index), default=-1)
        high = min((s for r, s in anchors.items() if r > cell.index), default=float("inf"))
        if low < high:
            gaps.setdefault((low, high, cell.cell.cell_type, cell.role == "solution"), []).append(cell)
    for (low, high, cell_type, answer), cells in gaps.items():
        free = [
            s.index
            for s in students
            if low < s.index < high and s.index not in claimed
            and s.cell_type == cell_type and bool(s.norm) == answer
        ]
        if answer and len(cells) == 1:
            pairs = [(cells[0], s) for s in free]  # every cell in the gap is a copy of the answer
        else:
            pairs = list(zip(cells, free))
        for cell, s in pairs:
            matches[cell.index].students.append(s)
            matches[cell.index].how = "position"
            claimed.add(s)


def found_fraction(release: Release, matches: Mapping[int, _Match]) -> float:
    """Fraction of the release's recognisable cells found by id or content (not by position)."""
    countable = release.countable
    if not countable:
        return 0.0
    found = [c for c in countable if matches[c.index].students and matches[c.index].how != "position"]
    return len(found) / len(countable)


def content_match_scores(data: bytes | str, releases: Mapping[str, Release]) -> dict[str, float] | None:
    """Fraction of each release's cells found in a submitted file (exact matching only).

    Cheap enough to compare every submitted file with every assignment (the
    intake uses it when a file's name does not say which assignment it is).
    None when the file is not a readable notebook.
    """
    try:
        students, _ = read_submitted(data)
    except Unreadable:
        return None
    return {
        name: found_fraction(release, match_cells(release, students, fuzzy=False)[0])
        for name, release in releases.items()
    }


def content_match_score(data: bytes | str, release: Release | NotebookNode | Path) -> float | None:
    """:func:`content_match_scores` for one release."""
    scores = content_match_scores(data, {"release": Release.load(release)})
    return None if scores is None else scores["release"]


# --- Building the transplant -----------------------------------------------------------


def _is_template(release: _ReleaseCell, student: _StudentCell) -> bool:
    return student.norm == release.norm


def _numbers(cells: list[_StudentCell]) -> str:
    """Cell numbers as a student sees them in JupyterLab (from 1)."""
    return ", ".join(str(s.index + 1) for s in cells)


def _choose_answer(
    release: _ReleaseCell, copies: list[_StudentCell]
) -> tuple[_StudentCell, list[_StudentCell]]:
    """The answer among copies of an answer cell: the first not left as the template.

    A copy that defines something beats one that does not (a ``f(x).head()``
    found next to the answer by position), non-empty beats empty; when every
    copy is the template, the first. Returns the answer and the other copies.
    Only copies that define something are carried after the answer, so the
    code that runs keeps the student's order.
    """
    def preference(student: _StudentCell) -> tuple[bool, bool, bool]:
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

    def __init__(self, release: Release, students: list[_StudentCell]):
        self.release = release
        self.students = {s.index: s for s in students}
        self.matches, self.duplicates = match_cells(release, students)
        self.changes: list[Change] = []
        self.notes: list[Change] = []
        self.stripped: list[str] = []  # labels of cells whose nbgrader metadata was gone
        self.use_ids = release.notebook.get("nbformat_minor", 0) >= 5
        self.taken_ids = {c.cell.get("id") for c in release.cells}

    def record(self, kind: str, message: str, cell: _ReleaseCell | None = None) -> None:
        """A change (a repair kind) or a note, about a release cell when given."""
        target = self.changes if kind in REPAIR_KINDS else self.notes
        target.append(Change(kind, message, cell.grade_id if cell is not None else None))

    def copies(self, cell: _ReleaseCell) -> list[_StudentCell]:
        return [self.students[s] for s in self.matches[cell.index].students]

    # -- one release cell --

    def restore(self, cell: _ReleaseCell) -> list[NotebookNode]:
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
        self, cell: _ReleaseCell, copies: list[_StudentCell], new: NotebookNode
    ) -> tuple[_StudentCell, list[NotebookNode]]:
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
        self, cell: _ReleaseCell, copies: list[_StudentCell], new: NotebookNode
    ) -> _StudentCell:
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

    def drop_copies(self, cell: _ReleaseCell, extra: list[_StudentCell]) -> None:
        for student in extra:
            if student.nbgrader.get("grade_id"):  # nbgrader would stop the whole batch on it
                message = f"{cell.label} appears again in cell {student.index + 1} (same grade_id): dropped"
                self.record("duplicate_cell", message, cell)
            else:
                self.record("cell_dropped", f"cell {student.index + 1} repeats {cell.label}: dropped")

    def check_metadata(self, cell: _ReleaseCell, student: _StudentCell) -> None:
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

    def extra(self, student: _StudentCell, why: str) -> NotebookNode | None:
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


def _transplant(release: Release, students: list[_StudentCell]) -> Transplant:
    """Build the gradable notebook: a fresh release with the student's answers put in."""
    return _Transplanter(release, students).run()


# --- The entry point -------------------------------------------------------------------------


def repair_submission(data: bytes | str, release: Release | NotebookNode | Path | str) -> RepairResult:
    """Make submitted bytes gradable against the release notebook (see the module doc)."""
    release = Release.load(release)
    try:
        students, read_changes = read_submitted(data)
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
