"""Every status the grader writes, in one place.

Three stages each say what became of a file: the intake (is it a notebook,
whose, for which assignment: :class:`IntakeStatus`, in ``problems.csv``),
the repair (can nbgrader grade it: :class:`RepairStatus`) and the grading
(what the sheet says: :class:`GradeStatus`, in ``grades.csv``). Members are
strings (``GradeStatus.GRADED == "graded"``), print and serialise as their
value, so the CSV and JSON texts are the same as plain strings would give.
"""

from __future__ import annotations

from enum import Enum


class _Text(str, Enum):
    """A string-valued enum whose ``str()`` and f-string form is its value."""

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


class IntakeStatus(_Text):
    """What the intake decided about one file of an export (only ``ok`` files are graded)."""

    OK = "ok"
    UNMATCHED = "unmatched"  # a notebook, but for which assignment is unclear
    UNKNOWN_STUDENT = "unknown_student"  # a notebook, but whose is unclear
    DUPLICATE = "duplicate_submission"  # another notebook of the same student and assignment is graded
    SUPERSEDED = "superseded_attempt"  # an older Blackboard attempt
    NOT_A_NOTEBOOK = "not_a_notebook"
    IGNORED = "ignored"  # LMS receipts, __MACOSX, checkpoints, OS debris
    UNSAFE_PATH = "unsafe_path"  # zip slip, absolute path, symlink
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"  # an encrypted or corrupt zip entry
    MAPPING_UNUSED = "mapping_unused"  # a mapping row that names no file of the export


class RepairStatus(_Text):
    """What the repair made of a submitted file (see :mod:`grader.repair`)."""

    OK = "ok"  # well formed
    REPAIRED = "repaired"  # something had to be restored, each change listed
    UNREADABLE = "unreadable"  # not a notebook: not JSON, truncated, no cells
    WRONG_NOTEBOOK = "wrong_notebook"  # another assignment's or an unrelated notebook


class GradeStatus(_Text):
    """The status of one student x notebook in ``grades.csv``."""

    GRADED = "graded"
    REPAIRED = "repaired"
    UNREADABLE = "unreadable"
    WRONG_NOTEBOOK = "wrong_notebook"
    CELL_TIMEOUT = "cell_timeout"
    NOTEBOOK_TIMEOUT = "notebook_timeout"
    KERNEL_DIED = "kernel_died"
    MEMORY_LIMIT = "memory_limit"
    TAMPERING_DETECTED = "tampering_detected"
    ERROR = "error"
    # --scheduler only: every Dask worker that took this notebook died (KilledWorker); not cached
    WORKER_LOST = "worker_lost"
    NOT_SUBMITTED = "not_submitted"  # the sheet's word for a notebook nobody handed in


# Trouble seen in an executed notebook, most severe first: a notebook gets the
# first that applies. The text is what the error output's "name: value" contains.
EXECUTION_PROBLEMS: tuple[tuple[GradeStatus, str], ...] = (
    (GradeStatus.TAMPERING_DETECTED, "GraderIntegrityError"),
    (GradeStatus.MEMORY_LIMIT, "memory limit exceeded"),
    (GradeStatus.KERNEL_DIED, "DeadKernelError"),
    (GradeStatus.NOTEBOOK_TIMEOUT, "ran out of time"),
    (GradeStatus.CELL_TIMEOUT, "CellTimeoutError"),
)
