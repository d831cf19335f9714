"""Find each cell of a release notebook among the cells a student handed in.

Pure Python, no kernel. :func:`read_submitted` reads submitted bytes leniently
(raising :class:`Unreadable` with a precise message when they are no notebook),
:class:`Release` indexes a release notebook once, :func:`match_cells` pairs them.

How release cells are found among the student's cells, strongest first:

1. nbgrader ``grade_id`` in the cell metadata, then the nbformat cell ``id``;
2. content: locked, test and plain cells by normalised source (exact, then
   close, so an edited visible test is still recognised); answer cells by
   the text around the answer region (signature, docstring) and the names
   they define, so a code answer turned into markdown is found too;
3. position: an answer still missing takes the student cells between the
   nearest neighbours found above (an empty hidden-test cell, an empty one).

:func:`content_match_scores` is the exact half of it, cheap enough for the
intake to compare every file with every assignment.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .cell_code import cell_text, function_names, line_keys, normalise_source
from .cells import LOCKED, PLAIN, SOLUTION, STUB_LINES, TEST, role

# Similarity (difflib ratio) for a locked/test/plain cell edited by the student.
EDITED_CELL_RATIO = 0.6
# Fraction of an answer cell's surrounding text (signature, docstring) found.
ANSWER_CONTEXT_SCORE = 0.6
# difflib is quadratic: longer sources are only compared exactly.
FUZZY_MAX_CHARS = 20_000


@dataclass
class StudentCell:
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
        return set(line_keys(self.source))

    @cached_property
    def functions(self) -> set[str]:
        return function_names(self.source) if self.cell_type == "code" else set()


@dataclass
class ReleaseCell:
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
        return cell_text(self.cell.get("source", ""))

    @cached_property
    def norm(self) -> str:
        return normalise_source(self.source)

    @cached_property
    def context(self) -> set[str]:
        """An answer cell's lines outside the answer region (signature, docstring, comments)."""
        return {line for line in line_keys(self.source) if line not in STUB_LINES}

    @cached_property
    def functions(self) -> set[str]:
        return function_names(self.source) if self.cell.cell_type == "code" else set()


class Release:
    """The release notebook of an assignment, indexed for matching (build it once)."""

    def __init__(self, notebook: NotebookNode):
        self.notebook = notebook
        self.cells = [ReleaseCell(i, c, role(c)) for i, c in enumerate(notebook.cells)]
        self.by_grade_id = {c.grade_id: c for c in self.cells if c.grade_id and c.role != PLAIN}
        self.by_cell_id = {c.cell["id"]: c for c in self.cells if c.cell.get("id")}
        self.by_norm: dict[str, list[ReleaseCell]] = {}
        for cell in self.cells:
            if cell.role != SOLUTION and cell.norm:
                self.by_norm.setdefault(cell.norm, []).append(cell)

    @classmethod
    def load(cls, release: Release | NotebookNode | Path | str) -> Release:
        if isinstance(release, Release):
            return release
        if isinstance(release, (str, Path)):
            release = nbformat.read(str(release), as_version=4)
        return cls(release)

    @cached_property
    def countable(self) -> list[ReleaseCell]:
        """Cells that can be recognised by content: non-empty, and answers with context."""
        return [
            c for c in self.cells if (c.context if c.role == SOLUTION else c.norm) or c.grade_id
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


def read_submitted(data: bytes | str) -> tuple[list[StudentCell], int | None]:
    """Student cells of a submitted file, leniently (the output is built from the release).

    Raises :class:`Unreadable` with a precise message when it is not a notebook.
    Also returns the nbformat version the file was upgraded from (None: it was 4).
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

    upgraded_from = None
    version = raw.get("nbformat", 4 if "cells" in raw else 3)  # some tools omit it
    if version != 4:
        try:
            raw = nbformat.convert(nbformat.from_dict(raw), 4)
        except Exception as error:
            raise Unreadable(f"nbformat {version!r} cannot be converted to 4: {error}") from None
        upgraded_from = version

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
            StudentCell(
                index=index,
                cell_type=str(cell.get("cell_type", "code")),
                source=cell_text(cell.get("source", cell.get("input", ""))),
                nbgrader=nbgrader_meta,
                cell_id=cell.get("id") if isinstance(cell.get("id"), str) else None,
                has_outputs=bool(cell.get("outputs")),
            )
        )
    return cells, upgraded_from


# --- Matching release cells to student cells ------------------------------------------


@dataclass
class Match:
    """Student cells found for one release cell, and how."""

    students: list[int] = field(default_factory=list)
    how: str = ""  # grade_id, cell id, content, position


def _answer_score(release: ReleaseCell, student: StudentCell) -> float:
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
    release: Release, students: list[StudentCell], fuzzy: bool = True
) -> tuple[dict[int, Match], dict[int, int]]:
    """Find each release cell's student counterparts.

    Returns ``matches`` (release index -> students, how) and ``duplicates``
    (student index -> release index of an already found non-answer cell it repeats exactly).
    """
    matches: dict[int, Match] = {c.index: Match() for c in release.cells}
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
        if cell.role != SOLUTION and matches[cell.index].students:
            continue
        for student in students:
            if student.index in claimed:
                continue
            if cell.role == SOLUTION:
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
        if release.cells[r].role == SOLUTION or not matches[r].students:
            claim(r, s, "content")

    # 3. Position, for answers still missing: the student cells between the
    # nearest neighbours found above.
    _match_by_position(release, students, matches, claimed)
    return matches, duplicates


def _match_by_position(
    release: Release, students: list[StudentCell], matches: dict[int, Match], claimed: set[int]
) -> None:
    """Answers still missing take the student cells between their nearest found neighbours.

    So do empty locked/test cells (a cell of hidden tests is empty in the
    release), which take an empty student cell of the same type.
    """
    anchors = {r: min(m.students) for r, m in matches.items() if m.students}
    def findable(cell: ReleaseCell) -> bool:
        return cell.role == SOLUTION or cell.role in (TEST, LOCKED) and not cell.norm

    missing = [c for c in release.cells if not matches[c.index].students and findable(c)]
    gaps: dict[tuple[int, float, str, bool], list[ReleaseCell]] = {}
    for cell in missing:
        low = max((s for r, s in anchors.items() if r < cell.index), default=-1)
        high = min((s for r, s in anchors.items() if r > cell.index), default=float("inf"))
        if low < high:
            gaps.setdefault((low, high, cell.cell.cell_type, cell.role == SOLUTION), []).append(cell)
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


def found_fraction(release: Release, matches: Mapping[int, Match]) -> float:
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

