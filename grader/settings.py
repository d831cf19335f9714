"""The grader's settings, in one object with the defaults written once.

``grade`` (the command) builds a :class:`GradingSettings` from its options,
:func:`grader.grade.grade_class` takes one, and every notebook's worker gets
the values it needs through its :class:`grader.grade_one.GradeJob`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .nbgrader_helpers import REPO_ROOT


@dataclass(frozen=True)
class GradingSettings:
    """How a class is graded. Changing one of the values in :meth:`fingerprint` grades everything again."""

    cell_timeout: int = 120  # seconds a cell may run
    notebook_timeout: int = 600  # seconds the whole notebook may run
    memory_mb: int = 4096  # memory cap of a notebook's kernel (its process tree)
    jobs: int = 1  # notebooks graded at the same time
    data_dir: Path | None = None  # the kernels' RECSYS_COURSE_DATA (default: the course's data/)
    show_hidden_code: bool = False  # feedback shows hidden tests' code (default: verdicts only)
    scheduler: str | None = None  # a Dask scheduler's address: grade on its workers instead of ``jobs`` here
    # Run the notebooks on the data folder itself; by default on a small synthetic set (the
    # hidden tests need no real data, the demonstrations then train in a fraction of the time).
    full_data: bool = field(default_factory=lambda: os.environ.get("RECSYS_GRADER_FULL_DATA") == "1")
    # Run every cell; by default the cells no graded cell depends on are left out (grader.cell_dependencies).
    run_every_cell: bool = field(default_factory=lambda: os.environ.get("RECSYS_GRADER_RUN_EVERY_CELL") == "1")

    def with_(self, **changes) -> GradingSettings:
        """A copy with some values changed (None values are ignored: "not given")."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def resolved_data_dir(self) -> str:
        """The data folder the kernels read: this setting, else $RECSYS_COURSE_DATA, else data/."""
        return str(Path(self.data_dir or os.environ.get("RECSYS_COURSE_DATA") or REPO_ROOT / "data").resolve())

    def fingerprint(self) -> str:
        """The settings a grade depends on (part of each result's cache key); ``jobs`` and ``scheduler`` are not."""
        return json.dumps([self.cell_timeout, self.notebook_timeout, self.memory_mb, self.show_hidden_code,
                           self.full_data, self.resolved_data_dir(), self.run_every_cell])
