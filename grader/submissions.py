"""Intake: find every notebook in an LMS export and decide whose it is and for which assignment.

``collect_submissions(source, releases)`` takes a ``.zip`` or a folder and
the release notebook of each assignment, and returns one :class:`Submission`
record per file: ``ok`` records say (student_id, assignment, path); every
other file gets a status and a message saying why it was not placed. One bad
file never stops the intake. Pure Python, no kernels.

Shapes of export understood (the student's own file name is kept as
``original_name``):

- **One folder per student**, at any depth under wrapper folders::

      alice/03_measuring_error.ipynb
      alice/Downloads/hw/Copy of 03_measuring_error.ipynb
      submissions/bob/03_measuring_error/03_measuring_error.ipynb

- **Canvas** "Download Submissions": flat files named
  ``<lastnamefirstname>[_LATE]_<user id>_<submission/attachment id>_<file>``,
  and a file name Canvas already held gets ``-1``, ``-2``…::

      smithjane_48213_1739201_03_measuring_error.ipynb
      smithjane_LATE_48213_1739202_03_measuring_error-1.ipynb

- **Moodle** "Download all submissions": ``<Full Name>_<participant id>_assignsubmission_file``
  then the file, as a folder (the default since Moodle 3.1) or as a flat name
  (Moodle turns ``_`` in names into spaces; blind marking writes ``Participant``)::

      Jane Smith_1002_assignsubmission_file/03_measuring_error.ipynb
      Jane Smith_1002_assignsubmission_file_03_measuring_error.ipynb

- **Blackboard** "Assignment File Download" (the example of nbgrader's
  ``zip_collect``): ``<Assignment Name>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``,
  plus a receipt ``..._attempt_<timestamp>.txt``; of several attempts the
  latest is graded and the others are recorded as ``superseded_attempt``::

      Measuring the error_jsmith_attempt_2025-03-02-21-14-05_03_measuring_error.ipynb

- **A CSV mapping** (``mapping=``) with columns ``file,student[,assignment]``
  for anything else (``file``: path inside the export, or a bare file name);
  it overrides what names say.

Which assignment: the mapping, else a folder named like an assignment, else
Blackboard's assignment name, else the file name once what Colab, browsers,
Finder and Canvas add is stripped (``Copy of ``, `` (1)``, ``-1``, ``_2``,
`` copy``, spaces or underscores, case, leading zeros), else the content
(fraction of the release's grade_ids and cells found in the notebook, see
:func:`grader.repair.content_match_scores`). A name whose content is clearly
another assignment's is corrected by the content.

Student ids are normalised to what nbgrader accepts (ASCII letters, digits,
``_`` and ``-``, lower case: ``Jane Smith`` -> ``jane_smith``); the display
name and the LMS's own id (``lms_id``: Canvas user id, Moodle participant id)
are kept. Two students who normalise to the same id get their LMS id
appended. Where the students' folders start is inferred from the whole
export (several folders at a level are the students); an export holding a
single student's folder with several non-assignment subfolders is ambiguous:
use the mapping. Notebooks saved as ``.ipynb.json``/``.ipynb.txt`` or without
extension are recognised by content; archives inside the export are reported,
not extracted. Zip files are extracted safely (:mod:`grader.safe_zip`: no
absolute paths or ``..``, no symlinks, real bytes counted against caps,
``__MACOSX`` and ``.ipynb_checkpoints`` skipped); names are decoded by
:mod:`grader.lms_names`.

Statuses (:class:`grader.statuses.IntakeStatus`): ``ok``, ``unmatched`` (which assignment?), ``unknown_student``,
``duplicate_submission``, ``superseded_attempt``, ``not_a_notebook``,
``ignored`` (receipts, OS debris), ``unsafe_path``, ``too_large``,
``unreadable`` (encrypted or corrupt zip entry), ``mapping_unused``.
Records come sorted (graded first, by student and assignment).
"""

from __future__ import annotations

import csv
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .lms_names import (  # noqa: F401 -- re-exported: the intake's name decoding
    AssignmentNames,
    LmsName,
    is_notebook_name,
    name_key,
    normalise_student_id,
    notebook_stem,
    parse_lms_name,
    strip_copy_marks,
)
from .matching import Release, content_match_scores
from .safe_zip import IGNORED_PARTS, ExtractLimits, extract_zip, ignored_reason
from .statuses import IntakeStatus

# Statuses of a record; only "ok" records are graded.
OK, UNMATCHED, UNKNOWN_STUDENT, DUPLICATE, SUPERSEDED, NOT_A_NOTEBOOK = (
    IntakeStatus.OK, IntakeStatus.UNMATCHED, IntakeStatus.UNKNOWN_STUDENT, IntakeStatus.DUPLICATE,
    IntakeStatus.SUPERSEDED, IntakeStatus.NOT_A_NOTEBOOK)
IGNORED, UNSAFE_PATH, TOO_LARGE, MAPPING_UNUSED = (
    IntakeStatus.IGNORED, IntakeStatus.UNSAFE_PATH, IntakeStatus.TOO_LARGE, IntakeStatus.MAPPING_UNUSED)

# Content matching: the best assignment must reach this fraction and beat the next by the margin.
CONTENT_MIN_SCORE = 0.4
CONTENT_MARGIN = 0.15
# A name is overruled when its assignment scores below this and another above CONTENT_MIN_SCORE.
NAME_CONTRADICTED_BELOW = 0.2


@dataclass
class Submission:
    """One file of the export and what the intake decided about it."""

    relpath: str  # inside the export, with "/" separators
    status: IntakeStatus
    path: Path | None = None  # the file on disk (extracted when the export is a zip)
    student_id: str | None = None
    display_name: str | None = None
    assignment: str | None = None
    scheme: str | None = None  # folder, canvas, moodle, blackboard, mapping
    original_name: str | None = None  # the student's file name, without LMS decoration
    lms_id: str | None = None  # Canvas user id, Moodle participant id
    submission_number: int | None = None  # Canvas submission/attachment id: higher is newer
    late: bool = False  # Canvas marked it LATE
    attempt: str | None = None  # Blackboard attempt timestamp
    matched_by: str | None = None  # how the assignment was decided
    score: float | None = None  # content match with the assignment, when computed
    message: str = ""


@dataclass
class Intake:
    """Every file of one export, placed or explained."""

    source: Path
    root: Path  # the folder read (the extraction folder for a zip)
    records: list[Submission] = field(default_factory=list)

    @property
    def submissions(self) -> list[Submission]:
        """The notebooks to grade: one per (student, assignment)."""
        return [r for r in self.records if r.status == OK]

    def by_status(self) -> dict[str, list[Submission]]:
        grouped: dict[str, list[Submission]] = {}
        for record in self.records:
            grouped.setdefault(record.status, []).append(record)
        return grouped

    def problems(self) -> list[Submission]:
        """Records an instructor should look at (everything but ok and ignored)."""
        return [r for r in self.records if r.status not in (OK, IGNORED)]


# --- The CSV mapping ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingRow:
    file: str
    student: str
    assignment: str | None
    line: int


def read_mapping(path: Path) -> list[MappingRow]:
    """Rows of a ``file,student[,assignment]`` CSV (a header row is required)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = {c.strip().lower(): c for c in reader.fieldnames or []}
        if not {"file", "student"} <= set(columns):
            raise ValueError(
                f"{path}: the mapping needs columns file,student[,assignment]; found {reader.fieldnames}"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            file = (row.get(columns["file"]) or "").strip().replace("\\", "/").removeprefix("./")
            student = (row.get(columns["student"]) or "").strip()
            assignment = (row.get(columns.get("assignment", ""), "") or "").strip() or None
            if file and student:
                rows.append(MappingRow(file, student, assignment, line))
    return rows


# --- Walking the export ------------------------------------------------------------------------

# Folder names of exports and downloads, never of a student.
_WRAPPER_WORDS = {"submission", "submissions", "submitted", "export", "exports", "download", "downloads",
                  "gradebook", "archive", "bulk"}


def _walk(root: Path) -> tuple[list[str], list[Submission]]:
    """Relative paths of the files under root (sorted), and records of what is skipped."""
    files, records = [], []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if (Path(folder) / d).is_symlink()]:
            path = Path(folder) / name
            relpath = path.relative_to(root).as_posix()
            if path.is_symlink():
                records.append(Submission(relpath, UNSAFE_PATH, message="symbolic link: not followed"))
            elif reason := ignored_reason(tuple(relpath.split("/"))):
                records.append(Submission(relpath, IGNORED, message=reason))
            else:
                files.append(relpath)
        dirs[:] = [d for d in dirs if d not in IGNORED_PARTS and not (Path(folder) / d).is_symlink()]
    return files, records


def _student_depth(dir_paths: list[tuple[str, ...]], names: AssignmentNames, archive_stem: str) -> int:
    """How many wrapper folders sit above the student folders (one-folder-per-student exports).

    ``dir_paths``: the folders of each file. Several folders at a level are
    the students. A lone folder is a wrapper when it is named like an
    assignment, like an export (``submissions``, the archive's own name) and
    holds folders, or holds several folders that are not assignments;
    otherwise it is the one student of the export.
    """
    depth = 0
    while dir_paths and all(len(p) > depth for p in dir_paths):
        level = {p[depth] for p in dir_paths}
        if len(level) > 1:
            break
        (only,) = level
        children = {p[depth + 1] for p in dir_paths if len(p) > depth + 1}
        key = name_key(only)
        wrapper = bool(set(key.split("_")) & _WRAPPER_WORDS) or key == name_key(archive_stem)
        students_below = len(children) > 1 and not all(names.exact(c) for c in children)
        if not (names.exact(only) or students_below or wrapper and children):
            break
        depth += 1
    return depth


def _is_notebook_file(path: Path) -> tuple[bool, str]:
    """(is it a notebook, note): by extension, else by a peek at the content."""
    if is_notebook_name(path.name):
        return True, ""
    if path.suffix.lower() in (".zip", ".tar", ".gz", ".7z", ".rar"):
        return False, "an archive inside the export (not extracted): unpack it, or map the notebook inside"
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError as error:
        return False, f"cannot read: {error}"
    if head.startswith(b"{") and (b'"cells"' in head or b'"worksheets"' in head or b'"nbformat"' in head):
        return True, f"a notebook saved as {path.suffix or 'a file without extension'}"
    return False, f"not a notebook ({path.suffix or 'no extension'})"


# --- Deciding each file -----------------------------------------------------------------------


class _Placer:
    """Decides student and assignment for every file of one export."""

    def __init__(
        self,
        root: Path,
        releases: Mapping[str, Path],
        mapping: Iterable[MappingRow],
        limits: ExtractLimits,
        archive_stem: str,
    ):
        self.root = root
        self.names = AssignmentNames(releases)
        self.releases = {a: Release.load(p) for a, p in sorted(releases.items())}
        self.mapping = list(mapping)
        self.used_rows: set[int] = set()
        self.limits = limits
        self.archive_stem = archive_stem

    def mapping_row(self, relpath: str) -> MappingRow | None:
        exact = [r for r in self.mapping if r.file == relpath]
        by_name = [r for r in self.mapping if "/" not in r.file and r.file == relpath.rsplit("/", 1)[-1]]
        rows = exact or (by_name if len(by_name) == 1 else [])
        if rows:
            self.used_rows.add(rows[0].line)
            return rows[0]
        return None

    def place_all(self, files: list[str]) -> list[Submission]:
        records, folder_files = [], []
        for relpath in files:
            name = relpath.rsplit("/", 1)[-1]
            record = Submission(relpath, OK, path=self.root / relpath, original_name=name)
            if row := self.mapping_row(relpath):
                record.scheme, record.display_name = "mapping", row.student
                if row.assignment:
                    self.set_assignment(record, row.assignment, "mapping")
            elif not self.from_lms(record):
                folder_files.append(record)
            records.append(record)
        dirs = [tuple(r.relpath.split("/")[:-1]) for r in folder_files]
        depth = _student_depth(dirs, self.names, self.archive_stem)
        for record in folder_files:
            parts = record.relpath.split("/")
            if len(parts) - 1 > depth:
                record.scheme, record.display_name = "folder", parts[depth]
            else:
                record.status = UNKNOWN_STUDENT
                record.message = "no student folder or LMS name: name it in a mapping CSV (file,student)"
        for record in records:
            if record.assignment is None and record.status == OK:
                # A folder named like an assignment (not the student's own folder).
                folders = [p for p in record.relpath.split("/")[:-1] if p != record.display_name]
                for found in filter(None, map(self.names.exact, folders)):
                    self.set_assignment(record, found, "folder")
            self.finish(record)
        return records

    def from_lms(self, record: Submission) -> bool:
        """Fill the record from a Canvas/Moodle/Blackboard name; False when there is none."""
        parts = record.relpath.split("/")
        lms = parse_lms_name(parts[-1])
        if lms is None:
            folders = (parse_lms_name(p) for p in reversed(parts[:-1]))
            folder = next((f for f in folders if f and f.scheme == "moodle"), None)
            if folder is None:
                return False
            lms = LmsName("moodle", folder.student, parts[-1], lms_id=folder.lms_id)
        if lms.receipt:
            record.status, record.message = IGNORED, "Blackboard submission receipt"
        record.scheme, record.display_name, record.lms_id = lms.scheme, lms.student, lms.lms_id
        record.original_name = lms.original_name or parts[-1]
        record.late, record.attempt, record.submission_number = lms.late, lms.attempt, lms.number
        if lms.assignment_name and (found := self.names.match(lms.assignment_name, is_file=False)):
            self.set_assignment(record, found[0], "lms assignment name")
        return True

    def set_assignment(self, record: Submission, assignment: str, how: str) -> None:
        if assignment in self.releases:
            record.assignment, record.matched_by = assignment, how
        else:
            record.status = UNMATCHED
            record.message = f"{how} names an unknown assignment {assignment!r}"

    def finish(self, record: Submission) -> None:
        """Notebook check, then the assignment by name and content."""
        if record.display_name is not None:
            record.student_id = normalise_student_id(record.display_name) or None
            if record.student_id is None and record.status == OK:
                record.status = UNKNOWN_STUDENT
                record.message = f"no usable id in {record.display_name!r}: name it in a mapping CSV"
        if record.status not in (OK, UNKNOWN_STUDENT):
            return
        notebook, note = _is_notebook_file(record.path)
        if not notebook:
            record.status, record.message = NOT_A_NOTEBOOK, note
            return
        if record.path.stat().st_size > self.limits.max_file_bytes:
            record.status, record.message = TOO_LARGE, f"larger than {self.limits.max_file_bytes} bytes"
            return
        self.decide_assignment(record)
        record.message = "; ".join(m for m in (record.message, note) if m)

    def decide_assignment(self, record: Submission) -> None:
        """By name (unless a mapping or folder already said), checked against the content."""
        if record.assignment is None and (found := self.names.match(record.original_name or "")):
            record.assignment, record.matched_by = found
        scores = content_match_scores(record.path.read_bytes(), self.releases) or {}
        ranked = sorted(((s, a) for a, s in scores.items()), reverse=True) + [(0.0, None)] * 2
        (best, best_name), (second, _) = ranked[:2]
        if record.assignment is not None:
            record.score = scores.get(record.assignment)
            contradicted = (
                record.matched_by != "mapping"
                and record.score is not None
                and record.score < NAME_CONTRADICTED_BELOW
                and best >= CONTENT_MIN_SCORE
            )
            if contradicted:
                record.message = (
                    f"named like {record.assignment} ({record.matched_by}) but its cells are "
                    f"{best_name}'s ({best:.0%} found): placed by content"
                )
                record.assignment, record.matched_by, record.score = best_name, "content", best
        elif best_name is not None and best >= CONTENT_MIN_SCORE and best - second >= CONTENT_MARGIN:
            record.assignment, record.matched_by, record.score = best_name, "content", best
        elif record.status == OK:
            record.status = UNMATCHED
            record.message = (
                f"its name matches no assignment; closest content: {best_name} ({best:.0%} of its cells)"
                if scores
                else "its name matches no assignment and it is not a readable notebook"
            )

    def unused_mapping(self) -> list[Submission]:
        return [
            Submission(r.file, MAPPING_UNUSED, message=f"mapping line {r.line} names no file of the export")
            for r in self.mapping
            if r.line not in self.used_rows
        ]


# --- Duplicates and clashing ids ------------------------------------------------------------------

_RANK = {"mapping": 0, "folder": 1, "lms assignment name": 1, "name": 2, "content": 4}


def _resolve_duplicates(records: list[Submission]) -> None:
    """One graded notebook per (student, assignment): the latest attempt, then the best named."""
    groups: dict[tuple[str, str], list[Submission]] = {}
    for record in records:
        if record.status == OK:
            groups.setdefault((record.student_id, record.assignment), []).append(record)
    for group in groups.values():
        if len(group) < 2:
            continue
        # Stable sorts, least important key first.
        group.sort(key=lambda r: r.relpath)
        group.sort(key=lambda r: -(r.score or 0.0))
        group.sort(key=lambda r: -(r.submission_number or 0))
        group.sort(key=lambda r: _RANK.get(r.matched_by or "", 3))
        group.sort(key=lambda r: r.attempt or "", reverse=True)
        chosen = group[0]
        attempts = sorted({r.attempt for r in group if r.attempt})
        if len(attempts) > 1:
            chosen.message = f"latest of {len(attempts)} attempts ({', '.join(attempts)})"
        for other in group[1:]:
            if other.attempt and other.attempt != chosen.attempt:
                other.status = SUPERSEDED
                other.message = f"attempt {other.attempt} superseded by {chosen.attempt} ({chosen.relpath})"
            else:
                other.status = DUPLICATE
                other.message = (
                    f"{chosen.student_id} handed in {chosen.assignment} more than once: "
                    f"{chosen.relpath} is graded"
                )


def _separate_clashing_ids(records: list[Submission]) -> None:
    """Different LMS users who normalise to the same id get their LMS id appended.

    Moodle numbers its participants per assignment: one student's notebooks of
    two assignments carry two ids, so Moodle ids only clash within an assignment.
    """
    def clash_key(record: Submission) -> tuple[str, str | None]:
        return record.student_id, record.assignment if record.scheme == "moodle" else None

    owners: dict[tuple[str, str | None], set[tuple[str | None, str | None]]] = {}
    for record in records:
        if record.student_id:
            owners.setdefault(clash_key(record), set()).add((record.scheme, record.lms_id))
    for record in records:
        if record.student_id and record.lms_id and len(owners[clash_key(record)]) > 1:
            clash = record.student_id
            record.student_id = f"{clash}_{normalise_student_id(record.lms_id)}"
            note = f"id {clash!r} is shared by several students: LMS id appended"
            record.message = f"{record.message}; {note}" if record.message else note


# --- The entry point ---------------------------------------------------------------------------


def collect_submissions(
    source: Path | str,
    releases: Mapping[str, Path | str],
    mapping: Path | str | None = None,
    workdir: Path | str | None = None,
    limits: ExtractLimits = ExtractLimits(),
) -> Intake:
    """Place every file of an export (a ``.zip`` or a folder); see the module doc.

    A zip is extracted into ``workdir`` (created, must be empty; a new temp
    folder when None, left for the caller: the records point into it).
    Raises only for unusable input as a whole (missing source, bad mapping CSV).
    """
    source = Path(source)
    releases = {a: Path(p) for a, p in releases.items()}
    rows = read_mapping(Path(mapping)) if mapping is not None else []
    records: list[Submission] = []
    if source.is_file() and zipfile.is_zipfile(source):
        root = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="submissions-"))
        root.mkdir(parents=True, exist_ok=True)
        if any(root.iterdir()):
            raise ValueError(f"{root} is not empty: extract each export into a folder of its own")
        records += [Submission(e.relpath, e.status, message=e.message) for e in extract_zip(source, root, limits)]
    elif source.is_dir():
        root = source
    else:
        raise FileNotFoundError(f"{source} is neither a zip file nor a folder")

    files, skipped = _walk(root)
    records += skipped
    placer = _Placer(root.resolve(), releases, rows, limits, notebook_stem(source.name))
    records += placer.place_all(files)
    records += placer.unused_mapping()
    _separate_clashing_ids(records)
    _resolve_duplicates(records)
    # Deterministic: graded records first, by student and assignment; then the rest.
    records.sort(
        key=lambda r: (r.status != OK, r.student_id or "~", r.assignment or "~", r.relpath, r.status)
    )
    return Intake(source=source, root=root, records=records)
