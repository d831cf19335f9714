"""What LMS exports and students' browsers do to file names, undone.

Canvas, Moodle and Blackboard name each file after the student
(:func:`parse_lms_name`); Colab, browsers, Finder and Canvas add copy marks
(``Copy of ``, `` (1)``, ``-1``, `` copy``: :func:`strip_copy_marks`);
:class:`AssignmentNames` recognises an assignment in what is left;
:func:`normalise_student_id` makes a name an id nbgrader accepts. The shapes
of export are described in :mod:`grader.submissions`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def normalise_student_id(text: str) -> str:
    """A student id nbgrader accepts: ``Jane Smith`` -> ``jane_smith``, ``O'Brien-Ng`` -> ``obrien-ng``."""
    text = _ascii(text).lower().replace("'", "")
    text = re.sub(r"[^a-z0-9_-]+", "_", text).strip("_-")
    return re.sub(r"_+", "_", text)


def name_key(text: str) -> str:
    """Comparable form of a name: ``03 Measuring-Error`` -> ``3_measuring_error``."""
    tokens = re.split(r"[^a-z0-9]+", _ascii(text).lower())
    return "_".join(t.lstrip("0") or "0" if t.isdigit() else t for t in tokens if t)


_NOTEBOOK_SUFFIXES = (".ipynb.json", ".ipynb.txt", ".ipynb")  # browsers sometimes append .json/.txt
# Colab's "Save a copy in Drive" in several interface languages.
_COPY_PREFIX = re.compile(
    r"^(?:(?:copy of|copia de|copie de|kopie von|c[óo]pia de|copia di|kopia)\s+)+", re.I
)
# Browser " (1)", Canvas "-1", "_2", macOS Finder " copy" and " 2".
_COPY_SUFFIX = re.compile(r"(?:\s*\(\d+\)|[-_ ]\d{1,2}|[\s_-]copy)$", re.I)


def is_notebook_name(name: str) -> bool:
    return name.lower().endswith(_NOTEBOOK_SUFFIXES)


def notebook_stem(name: str) -> str:
    """The file name without ``.ipynb`` (or ``.ipynb.json`` / ``.ipynb.txt``)."""
    for suffix in _NOTEBOOK_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def strip_copy_marks(stem: str) -> str:
    """``Copy of 03_measuring_error (1)`` -> ``03_measuring_error``."""
    previous = None
    while previous != stem:
        previous = stem
        stem = _COPY_PREFIX.sub("", stem.strip())
        stem = _COPY_SUFFIX.sub("", stem)
    return stem


@dataclass(frozen=True)
class LmsName:
    """What an LMS says in a file (or Moodle folder) name."""

    scheme: str
    student: str  # as the LMS wrote it
    original_name: str | None  # the student's own file name
    lms_id: str | None = None
    late: bool = False
    attempt: str | None = None
    assignment_name: str | None = None
    number: int | None = None  # Canvas submission/attachment id
    receipt: bool = False  # Blackboard's attempt .txt


_BLACKBOARD = re.compile(
    r"^(?P<assignment>.+)_(?P<user>[^_]+)_attempt_(?P<ts>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)"
    r"(?:_(?P<orig>.+)|(?P<receipt>\.txt))?$"
)
_MOODLE = re.compile(r"^(?P<name>[^_]+)_(?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)(?:_(?P<orig>.+))?$")
# Canvas ids are database ids: several digits, which keeps names like hw_1_2_x.ipynb out.
_CANVAS = re.compile(
    r"^(?P<name>[^\W_](?:[^\W_]|-)*?)(?P<late>_late)?_(?P<uid>\d{3,})_(?P<sid>\d{3,})_(?P<orig>.+)$", re.I
)


def parse_lms_name(name: str) -> LmsName | None:
    """Decode a Canvas, Moodle or Blackboard file name; None for any other name.

    >>> parse_lms_name("smithjane_LATE_48213_1739202_03_measuring_error-1.ipynb").original_name
    '03_measuring_error-1.ipynb'
    """
    if match := _BLACKBOARD.match(name):
        return LmsName(
            "blackboard",
            match["user"],
            match["orig"],
            attempt=match["ts"],
            assignment_name=match["assignment"],
            receipt=bool(match["receipt"]),
        )
    if match := _MOODLE.match(name):
        return LmsName("moodle", match["name"].strip(), match["orig"], lms_id=match["id"])
    if match := _CANVAS.match(name):
        return LmsName(
            "canvas",
            match["name"],
            match["orig"],
            lms_id=match["uid"],
            late=bool(match["late"]),
            number=int(match["sid"]),
        )
    return None


class AssignmentNames:
    """Recognises an assignment from a file or folder name."""

    def __init__(self, releases: Mapping[str, Path]):
        self.keys: dict[str, str] = {}
        for assignment, path in releases.items():
            for text in (assignment, notebook_stem(Path(path).name)):
                self.keys.setdefault(name_key(text), assignment)
        # Without the leading number ("measuring_error"), when that is still unique.
        short: dict[str, set[str]] = {}
        for key, assignment in self.keys.items():
            short.setdefault(re.sub(r"^\d+_", "", key), set()).add(assignment)
        self.short = {k: next(iter(v)) for k, v in short.items() if len(v) == 1 and k}

    def exact(self, name: str) -> str | None:
        return self.keys.get(name_key(name))

    def match(self, name: str, is_file: bool = True) -> tuple[str, str] | None:
        """(assignment, how) from a notebook's file name (or a title such as Blackboard's), or None."""
        stem = notebook_stem(name) if is_file else name
        if found := self.exact(stem):
            return found, "name"
        stripped = name_key(strip_copy_marks(stem))
        if found := self.keys.get(stripped):
            return found, "name (copy marks removed)"
        for table, how in ((self.keys, "name (contains)"), (self.short, "name (partial)")):
            hits = {a for key, a in table.items() if f"_{key}_" in f"_{stripped}_"}
            if len(hits) == 1:
                return hits.pop(), how
        return None
