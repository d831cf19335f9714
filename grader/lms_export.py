"""Grades in the import format of the LMS they go back to: Canvas's gradebook CSV, Moodle's grade import CSV.

    python -m grader.lms_export grading-output --lms canvas --roster canvas-gradebook.csv [--out canvas-import.csv]
    python -m grader.lms_export grading-output --lms moodle --roster moodle-grades.csv \\
        --column 03_measuring_error="Assignment: Measuring the error (Real)" --feedback

GRADING_OUT is the output folder of ``grade`` (its ``grades.csv``); ROSTER is
the gradebook the LMS exported, which says who is enrolled, under which ids,
and what each assignment's column is called:

- **Canvas** (Grades > Export > Export Entire Gradebook): columns ``Student``
  (``Last, First``), ``ID`` (the numeric user id that Canvas also writes into
  every downloaded submission's name), ``SIS User ID``, ``SIS Login ID``,
  ``Section``, then one column per assignment named ``Name (assignment id)``
  and read-only totals; a ``Points Possible`` row (and, with manual posting,
  a ``Manual Posting`` row) under the header. The file written has the
  identity columns of the roster, one column per exported assignment under
  the roster's own header, the ``Points Possible`` row (Canvas's importer
  skips it) and a row per enrolled student: Grades > Import takes it as is.
- **Moodle** (Grades > Export > Plain text file): ``First name``, ``Last
  name``, ``ID number``, ``Institution``, ``Department``, ``Email address``,
  one column per grade item ``Assignment: Name (Real)``, ``Course total``.
  The file written has the user columns (``Email address``, ``ID number``,
  ``Username`` when the roster has them), one column per grade item under the
  roster's header and, with ``--feedback``, a ``... feedback`` column after
  each (the status and message of the grading). Grades > Import > CSV file:
  "Identify user by" email address (or ``--moodle-key``) and each column
  mapped to its grade item ("comments for" it for the feedback).

Who is who: Canvas's user id, from the submission names, is the roster's
``ID``. Moodle numbers participants per assignment and its gradebook export
does not show those numbers, so a Moodle submission is matched by the full
name in its name (first and last name of the roster, either order), or by the
participant id when the roster is the assignment's grading worksheet
(``Identifier`` = ``Participant 1002``). The ids come from ``grades.csv``'s
``lms``/``lms_id`` columns, else from the file names kept under
``GRADING_OUT/intake/``; names are the fallback. A graded student who is not
in the roster, or who matches several roster rows, is an error naming them
(nothing is written). Enrolled students with no submission get an empty cell
(both LMSs read it as "no grade": Canvas's missing-submission policy and
Moodle's "-" apply), or 0 with ``--missing zero``; they are listed as a warning.

Which column for an assignment: ``--column ASSIGNMENT=HEADER``, else the
roster column whose name holds every word of the assignment's name
(``03_measuring_error`` -> ``Notebook 3: Measuring the error (4567)``), else
every word but the number (``Assignment: Measuring the error (Real)``). The
values are the notebook's points out of its total (``grades.csv``); when
Canvas's points possible differ, ``--scale`` rescales them to it.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .lms_names import name_key, normalise_student_id, parse_lms_name
from .statuses import GradeStatus

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Integration ID", "Root Account", "Section")
CANVAS_REQUIRED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_ASSIGNMENT = re.compile(r"^(?P<name>.+?)\s*\((?P<id>\d+)\)$")
MOODLE_USER_COLUMNS = {"email": "Email address", "idnumber": "ID number", "username": "Username"}
MOODLE_ITEM = re.compile(r"^(?:(?P<module>[^:]+):\s*)?(?P<name>.+?)\s*\((?:Real|Percentage|Letter)\)$")
MOODLE_NOT_ITEMS = ("course total", "category total")


class LmsExportError(Exception):
    """The grades cannot be written for this roster; the message says who or what, and what to do."""


@dataclass
class Graded:
    """One student of grades.csv."""

    student: str
    name: str
    lms: str = ""
    lms_ids: list[str] = field(default_factory=list)
    points: dict[str, str] = field(default_factory=dict)  # assignment -> points ("" when not submitted)
    status: dict[str, str] = field(default_factory=dict)
    message: dict[str, str] = field(default_factory=dict)


@dataclass
class Roster:
    """The LMS's gradebook export: its rows, columns and the assignment columns."""

    lms: str
    header: list[str]
    rows: list[dict[str, str]]
    item_columns: list[str]  # columns that hold grades
    points_possible: dict[str, str] = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------------


def read_grades(out: Path) -> tuple[list[Graded], dict[str, float]]:
    """The students of ``out/grades.csv`` and each assignment's maximum (the notebook's total points)."""
    path = Path(out) / "grades.csv"
    if not path.is_file():
        raise LmsExportError(f"{path} does not exist: give the output folder of `grade`")
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        assignments = [c[: -len(" points")] for c in header if c.endswith(" points")]
        students, maxima = [], {}
        for row in reader:
            graded = Graded(row["student"], row.get("name") or row["student"], row.get("lms", ""),
                            (row.get("lms_id") or "").split())
            for a in assignments:
                graded.points[a] = row.get(f"{a} points", "")
                graded.status[a] = row.get(f"{a} status", "")
                graded.message[a] = row.get(f"{a} message", "")
                if row.get(f"{a} max"):
                    maxima[a] = max(maxima.get(a, 0.0), float(row[f"{a} max"]))
            students.append(graded)
    for a in assignments:
        maxima.setdefault(a, 0.0)
    return students, maxima


def ids_from_intake(out: Path) -> dict[str, tuple[str, set[str]]]:
    """student id -> (lms, its ids there), from the export's file names kept under ``out/intake/``.

    For a grading output written before ``grades.csv`` had the ``lms_id``
    column (a zip export is extracted there, names and all).
    """
    found: dict[str, tuple[str, set[str]]] = {}
    for path in sorted((Path(out) / "intake").glob("*/**/*")):
        if not path.is_file():
            continue
        parts = path.relative_to(Path(out) / "intake").parts[1:]
        # Canvas and Moodle name the file; Moodle's default export names the file's folder.
        named = [parse_lms_name(parts[-1])] + [parse_lms_name(p) for p in reversed(parts[:-1])]
        lms = next((n for i, n in enumerate(named) if n and n.lms_id and (i == 0 or n.scheme == "moodle")), None)
        if lms is None:
            continue
        student = normalise_student_id(lms.student)
        for key in (student, f"{student}_{normalise_student_id(lms.lms_id)}"):
            scheme, ids = found.setdefault(key, (lms.scheme, set()))
            ids.add(lms.lms_id)
    return found


def read_roster(path: Path, lms: str) -> Roster:
    """The gradebook CSV the LMS exported (see the module doc)."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        rows = [dict(zip(header, (c.strip() for c in line))) for line in reader if any(c.strip() for c in line)]
    if lms == "canvas":
        missing = [c for c in ("Student", "ID") if c not in header]
        if missing:
            raise LmsExportError(f"{path} is not a Canvas gradebook export: no {' or '.join(missing)} column "
                                 f"(its columns: {', '.join(header[:8])}...)")
        points = next((r for r in rows if r.get("Student", "").strip() == "Points Possible"), {})
        students = [r for r in rows if r.get("ID", "").isdigit()]  # drops Points Possible, Manual Posting
        items = [h for h in header if h not in CANVAS_IDENTITY and CANVAS_ASSIGNMENT.match(h)]
        return Roster(lms, header, students, items, {h: points.get(h, "") for h in items})
    if not ({"First name", "Last name"} <= set(header) or "Full name" in header):
        raise LmsExportError(f"{path} is not a Moodle grade export: no First name/Last name (or Full name) columns "
                             f"(its columns: {', '.join(header[:8])}...)")
    items = [h for h in header if (m := MOODLE_ITEM.match(h)) and not m["name"].lower().startswith(MOODLE_NOT_ITEMS)]
    return Roster(lms, header, rows, items)


# --- who is who ---------------------------------------------------------------------------------


def _compact(text: str) -> str:
    """``Smith, Jane`` -> ``smithjane``: Canvas's file-name form of a sortable name, and a name's key."""
    return re.sub(r"[^a-z0-9]", "", normalise_student_id(text))


def roster_keys(row: dict[str, str], lms: str) -> tuple[set[str], set[str]]:
    """(LMS ids, name keys) by which a roster row is recognised."""
    if lms == "canvas":
        last, _, first = row.get("Student", "").partition(",")
        return {row["ID"]}, {_compact(row.get("Student", "")), _compact(f"{first} {last}")}
    first, last = row.get("First name", ""), row.get("Last name", "")
    names = {_compact(f"{first} {last}"), _compact(f"{last} {first}"), _compact(row.get("Full name", ""))}
    participant = re.fullmatch(r"\D*(\d+)", row.get("Identifier", ""))
    return ({participant[1]} if participant else set()), names - {""}


def roster_label(row: dict[str, str], lms: str) -> str:
    if lms == "canvas":
        return f"{row.get('Student', '')} (ID {row.get('ID', '')})"
    name = row.get("Full name") or f"{row.get('First name', '')} {row.get('Last name', '')}".strip()
    return f"{name} <{row.get('Email address', '')}>" if row.get("Email address") else name


def match_students(students: list[Graded], roster: Roster) -> dict[str, int]:
    """student id -> index of its roster row; raises naming every student missing or ambiguous."""
    keys = [roster_keys(row, roster.lms) for row in roster.rows]
    matched, missing, ambiguous = {}, [], []
    for student in students:
        same_lms = not student.lms or roster.lms in student.lms.split()
        by_id = [i for i, (ids, _) in enumerate(keys) if same_lms and ids & set(student.lms_ids)]
        wanted = {_compact(student.name), _compact(student.student)}
        by_name = [i for i, (_, names) in enumerate(keys) if names & wanted]
        hits = by_id or by_name
        if len(hits) == 1:
            matched[student.student] = hits[0]
        elif hits:
            ambiguous.append(f"{student.student} ({student.name}): "
                             + "; ".join(roster_label(roster.rows[i], roster.lms) for i in hits))
        else:
            ids = f", {roster.lms} id {' '.join(student.lms_ids)}" if student.lms_ids else ""
            missing.append(f"{student.student} ({student.name}{ids})")
    problems = []
    if missing:
        problems.append(f"{len(missing)} graded student(s) not in the roster: {'; '.join(missing)}. "
                        "Export the roster again (a student who joined or changed name), or give the file a "
                        "name the roster knows in a --mapping CSV of `grade` and grade again")
    if ambiguous:
        problems.append(f"{len(ambiguous)} graded student(s) match several roster rows: {' | '.join(ambiguous)}. "
                        "Grade with a --mapping CSV naming them by their LMS id")
    if problems:
        raise LmsExportError("\n".join(problems))
    return matched


def merge_by_row(students: list[Graded], row_of: dict[str, int], roster: Roster) -> dict[int, Graded]:
    """roster row -> its graded student. Several graded ids on one row are merged when their notebooks differ.

    Moodle numbers a participant per assignment, so the intake can take one
    student's notebooks from two assignments' downloads for two students
    (``jane_smith_1002``, ``jane_smith_2417``); the roster row brings them
    together. Two graded notebooks of the same assignment on one row are an error.
    """
    by_row: dict[int, list[Graded]] = {}
    for student in students:
        by_row.setdefault(row_of[student.student], []).append(student)
    merged, clashes = {}, []
    for index, group in by_row.items():
        graded = [(a, s) for s in group for a, points in s.points.items() if points != ""]
        twice = sorted({a for a, _ in graded if sum(1 for b, _ in graded if b == a) > 1})
        if twice:
            clashes.append(f"{roster_label(roster.rows[index], roster.lms)}: {', '.join(s.student for s in group)} "
                           f"(each has {', '.join(twice)})")
            continue
        first = Graded(group[0].student, group[0].name, group[0].lms,
                       sorted({i for s in group for i in s.lms_ids}), dict(group[0].points),
                       dict(group[0].status), dict(group[0].message))
        for assignment, student in graded:
            first.points[assignment] = student.points[assignment]
            first.status[assignment] = student.status[assignment]
            first.message[assignment] = student.message[assignment]
        merged[index] = first
    if clashes:
        raise LmsExportError(f"roster rows claimed by several graded students: {' | '.join(clashes)}. "
                             "Grade with a --mapping CSV that tells them apart")
    return merged


# --- which column ---------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(name_key(text).split("_")) - {""}


def item_name(header: str, lms: str) -> str:
    """The assignment's name in an LMS column header (without Canvas's id, Moodle's module and type)."""
    match = (CANVAS_ASSIGNMENT if lms == "canvas" else MOODLE_ITEM).match(header)
    return match["name"] if match else header


def choose_columns(assignments: list[str], roster: Roster, explicit: dict[str, str]) -> dict[str, str]:
    """assignment -> roster column: ``explicit`` first, else the one column holding the assignment's words."""
    chosen, problems = {}, []
    for assignment in assignments:
        if assignment in explicit:
            chosen[assignment] = explicit[assignment]
            if explicit[assignment] not in roster.header:
                print(f"warning: the roster has no column {explicit[assignment]!r}: the {roster.lms} import will "
                      "make it a new assignment (Canvas) or offer it as a new grade item (Moodle)", file=sys.stderr)
            continue
        # Every word of the name, then its words without the number (Moodle items rarely number them).
        words = _words(assignment)
        hits = []
        for wanted in (words, {w for w in words if not w.isdigit()}):
            hits = hits or [h for h in roster.item_columns if wanted and wanted <= _words(item_name(h, roster.lms))]
        if len(hits) == 1:
            chosen[assignment] = hits[0]
        elif hits:
            problems.append(f"{assignment} matches several roster columns ({'; '.join(hits)}): "
                            f"choose one with --column {assignment}=\"...\"")
        else:
            problems.append(f"no roster column matches {assignment} (its columns: {'; '.join(roster.item_columns)}): "
                            f"name it with --column {assignment}=\"...\"")
    twice = {c for c in chosen.values() if list(chosen.values()).count(c) > 1}
    if twice:
        problems.append(f"several assignments go to the same column {sorted(twice)}")
    if problems:
        raise LmsExportError("\n".join(problems))
    return chosen


# --- writing ---------------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


def export_grades(out: Path, lms: str, roster_path: Path, target: Path, *, assignments: list[str] | None = None,
                  columns: dict[str, str] | None = None, missing: str = "blank", feedback: bool = False,
                  scale: bool = False, moodle_key: str = "email") -> dict:
    """Write the LMS's import file for the grades of ``out``; return a summary (rows, columns, warnings)."""
    students, maxima = read_grades(out)
    unknown = [a for a in assignments or [] if a not in maxima]
    if unknown:
        raise LmsExportError(f"{out / 'grades.csv'} has no assignment {', '.join(unknown)} "
                             f"(it has {', '.join(maxima) or 'none'})")
    assignments = assignments or list(maxima)
    if not any(s.lms_ids for s in students):  # a grades.csv without the lms_id column
        from_intake = ids_from_intake(out)
        for student in students:
            if student.student in from_intake:
                student.lms, ids = from_intake[student.student]
                student.lms_ids = sorted(ids)
    roster = read_roster(roster_path, lms)
    column = choose_columns(assignments, roster, columns or {})
    by_row = merge_by_row(students, match_students(students, roster), roster)
    warnings = []

    def value(student: Graded | None, assignment: str) -> str:
        points = student.points.get(assignment, "") if student else ""
        if points == "":
            return "0" if missing == "zero" else ""
        possible = roster.points_possible.get(column[assignment], "")
        if scale and possible and maxima[assignment]:
            return _number(float(points) * float(possible) / maxima[assignment])
        return points

    for assignment in assignments:
        possible = roster.points_possible.get(column[assignment], "")
        if possible and maxima[assignment] and float(possible) != maxima[assignment] and not scale:
            warnings.append(f"{column[assignment]!r} is out of {possible} points in Canvas, {assignment} out of "
                            f"{maxima[assignment]:g}: the points are written as graded (--scale rescales them)")
    absent = [roster_label(row, lms) for i, row in enumerate(roster.rows)
              if i not in by_row and row.get("Student") != "Student, Test"]
    if absent:
        warnings.append(f"{len(absent)} enrolled student(s) handed in nothing graded here and get "
                        f"{'0' if missing == 'zero' else 'an empty cell (no grade)'}: {'; '.join(absent)}")

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if lms == "canvas":
            identity = [c for c in CANVAS_IDENTITY if c in roster.header or c in CANVAS_REQUIRED]
            writer.writerow(identity + [column[a] for a in assignments])
            possible = [roster.points_possible.get(column[a], "") for a in assignments]
            points_row = [float(p) if scale and p else maxima[a] for a, p in zip(assignments, possible)]
            writer.writerow(["Points Possible"] + [""] * (len(identity) - 1) + [_number(p) for p in points_row])
            for index, row in enumerate(roster.rows):
                writer.writerow([row.get(c, "") for c in identity]
                                + [value(by_row.get(index), a) for a in assignments])
        else:
            key = MOODLE_USER_COLUMNS[moodle_key]
            if key not in roster.header:
                raise LmsExportError(f"the Moodle roster has no {key!r} column to identify users by "
                                     f"(--moodle-key {moodle_key}); its columns: {', '.join(roster.header[:8])}...")
            empty = [roster_label(roster.rows[i], lms) for i in by_row if not roster.rows[i].get(key)]
            if empty:
                raise LmsExportError(f"no {key} in the roster for {'; '.join(empty)}: choose another --moodle-key")
            people = [c for c in ("First name", "Last name", "Full name") if c in roster.header]
            users = [c for c in MOODLE_USER_COLUMNS.values() if c in roster.header]
            grade_columns = []
            for a in assignments:
                grade_columns += [column[a]] + ([f"{column[a]} feedback"] if feedback else [])
            writer.writerow(people + users + grade_columns)
            for index, row in enumerate(roster.rows):
                student = by_row.get(index)
                cells = []
                for a in assignments:
                    cells.append(value(student, a))
                    if feedback:
                        cells.append(_feedback(student, a, maxima[a]))
                writer.writerow([row.get(c, "") for c in people + users] + cells)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return {"rows": len(roster.rows), "graded": len(by_row), "columns": column, "warnings": warnings}


def _feedback(student: Graded | None, assignment: str, maximum: float) -> str:
    """The comment Moodle shows beside the grade: status, points and the grader's message."""
    if student is None or student.status.get(assignment) in ("", GradeStatus.NOT_SUBMITTED):
        return ""
    text = f"{student.status[assignment]}: {student.points[assignment]}/{maximum:g} points"
    return f"{text}. {student.message[assignment]}" if student.message.get(assignment) else text


# --- the command ---------------------------------------------------------------------------------


def _column_option(text: str) -> tuple[str, str]:
    assignment, sep, header = text.partition("=")
    if not sep or not assignment.strip() or not header.strip():
        raise argparse.ArgumentTypeError(f"--column takes ASSIGNMENT=HEADER, got {text!r}")
    return assignment.strip(), header.strip().strip('"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.lms_export", description=__doc__.split("\n\n")[0])
    parser.add_argument("grading_out", type=Path, help="the output folder of `grade` (with grades.csv)")
    parser.add_argument("--lms", choices=["canvas", "moodle"], required=True)
    parser.add_argument("--roster", type=Path, required=True, help="the gradebook CSV the LMS exported")
    parser.add_argument("--assignment", action="append", help="export only this assignment (repeatable)")
    parser.add_argument("--column", action="append", type=_column_option, default=[], metavar="ASSIGNMENT=HEADER",
                        help="the roster column of an assignment (repeatable); default: the one named like it")
    parser.add_argument("--missing", choices=["blank", "zero"], default="blank",
                        help="the cell of an enrolled student with no submission (default: blank, no grade)")
    parser.add_argument("--scale", action="store_true", help="rescale points to Canvas's points possible")
    parser.add_argument("--feedback", action="store_true", help="Moodle: a feedback column after each grade")
    parser.add_argument("--moodle-key", choices=sorted(MOODLE_USER_COLUMNS), default="email",
                        help="Moodle: the user field the import identifies users by (default: email)")
    parser.add_argument("--out", type=Path, help="the file to write (default: GRADING_OUT/<lms>-import.csv)")
    args = parser.parse_args(argv)
    target = args.out or args.grading_out / f"{args.lms}-import.csv"
    try:
        summary = export_grades(args.grading_out, args.lms, args.roster, target, assignments=args.assignment,
                                columns=dict(args.column), missing=args.missing, feedback=args.feedback,
                                scale=args.scale, moodle_key=args.moodle_key)
    except (LmsExportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for assignment, header in summary["columns"].items():
        print(f"{assignment} -> {header}")
    print(f"{target}: {summary['graded']} graded of {summary['rows']} enrolled students")
    return 0


if __name__ == "__main__":
    sys.exit(main())
