"""A class of synthetic students, built from the course's release and solution notebooks.

Used by ``tests/test_grade_series.py`` (the done-when test of the grader) and
``benchmarks/bench_grading.py``. :func:`build_corpus` writes one folder per
student (the layout ``grade`` reads) and returns what the grade sheet must
say for every student x notebook: the status and the exact points.

Where the cases come from (details in :mod:`.cases`):

- every assignment the course releases (``solutions/*/`` with a student
  version) gets, with nothing to write, ``s01`` = its reference solution
  (full marks) and ``s02`` = the untouched release (0 on every test cell);
- ``answers_NN.py`` (NN: the assignment's number), found by its name, holds
  that notebook's other cases: ``CASES``, other correct routes (dense or
  gather, NumPy or TensorFlow, Keras losses...: full marks) and wrong answers
  a careless student would plausibly write (each loses exactly the test cells
  it names), and ``PENDING_CASES``, which wait for a change named in
  :data:`PENDING` (switch them on there or with ``GRADING_CORPUS_PENDING``),
  and ``DRY_RUN_CASES``, more of the same that only the dry run checks;
- ``grader_cases.py``: broken files and hostile code on notebooks 1-7, and
  the rest of the class of 20 (correct notebooks, some missing).

Adding a notebook therefore costs the test two notebooks (reference and
untouched) plus the cases of its own module, about 10 s each with two jobs.
"""

from .cases import (
    ASSIGNMENTS, CELL_TIMEOUT, MEMORY_MB, NOTEBOOK_TIMEOUT, PENDING, Case, build_corpus, cases, expected_sheet,
    pending_switches, students,
)
from .notebooks import points, solved, to_bytes

__all__ = ["ASSIGNMENTS", "CELL_TIMEOUT", "MEMORY_MB", "NOTEBOOK_TIMEOUT", "PENDING", "Case", "build_corpus", "cases",
           "expected_sheet", "pending_switches", "points", "solved", "students", "to_bytes"]
