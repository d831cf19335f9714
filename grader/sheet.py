"""The grade sheet and the problem list an instructor reads.

- ``grades.csv``: a row per student; per notebook its points, maximum,
  status, message and ``review`` (answers to look at, e.g. copied from the
  library's source), then the points of each exercise; the total and maximum.
- ``problems.csv``: every file of the export that could not be graded, and why.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from .cells import exercise_of
from .statuses import GradeStatus


def identities_of(records: Iterable) -> dict[str, dict[str, str]]:
    """student id -> ``{"lms": ..., "lms_id": ...}`` from the intake's records (:class:`grader.submissions.Submission`).

    Moodle numbers a participant per assignment, so one student can bring
    several ids: they are kept, space-separated, in the order first seen.
    """
    found: dict[str, dict[str, list[str]]] = {}
    for record in records:
        if not record.student_id:
            continue
        entry = found.setdefault(record.student_id, {"lms": [], "lms_id": []})
        if record.scheme in ("canvas", "moodle", "blackboard") and record.scheme not in entry["lms"]:
            entry["lms"].append(record.scheme)
        if record.lms_id and record.lms_id not in entry["lms_id"]:
            entry["lms_id"].append(record.lms_id)
    return {student: {key: " ".join(values) for key, values in entry.items()} for student, entry in found.items()}


def write_sheet(results: list[dict], names: dict[str, str], assignments: list[str], path: Path,
                identities: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """grades.csv: a row per student, columns per notebook and per exercise.

    ``identities``: :func:`identities_of` the graded records; the ``lms`` and
    ``lms_id`` columns stay empty without it.
    """
    exercises = {a: sorted({exercise_of(g) for r in results if r["assignment"] == a for g in r["max_scores"]})
                 for a in assignments}
    header = ["student", "name"]
    for a in assignments:
        header += [f"{a} points", f"{a} max", f"{a} status", f"{a} message", f"{a} review"]
        header += [f"{a} | {exercise}" for exercise in exercises[a]]
    header += ["total", "max", "lms", "lms_id"]
    by_student: dict[str, dict[str, dict]] = {}
    for result in results:
        by_student.setdefault(result["student"], {})[result["assignment"]] = result
    rows = []
    for student in sorted(by_student):
        row = {"student": student, "name": names.get(student, student)}
        total = maximum = 0.0
        for a in assignments:
            result = by_student[student].get(a)
            if result is None:
                row[f"{a} status"] = GradeStatus.NOT_SUBMITTED
                continue
            points = sum(result["scores"].values())
            top = sum(result["max_scores"].values())
            total, maximum = total + points, maximum + top
            row.update({f"{a} points": f"{points:g}", f"{a} max": f"{top:g}",
                        f"{a} status": result["status"], f"{a} message": result.get("message", ""),
                        f"{a} review": "; ".join(result.get("review", []))})
            for exercise in exercises[a]:
                row[f"{a} | {exercise}"] = f"{sum(v for g, v in result['scores'].items() if exercise_of(g) == exercise):g}"
        identity = (identities or {}).get(student, {})
        row.update({"total": f"{total:g}", "max": f"{maximum:g}",
                    "lms": identity.get("lms", ""), "lms_id": identity.get("lms_id", "")})
        rows.append(row)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def write_problems(records: Iterable, path: Path) -> None:
    """problems.csv: one row per file of the export the intake could not place (see grader.submissions)."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "status", "student", "assignment", "message"])
        for record in records:
            writer.writerow([record.relpath, record.status, record.student_id or "", record.assignment or "",
                             record.message])
