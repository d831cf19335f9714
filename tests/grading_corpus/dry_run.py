"""Check a notebook's corpus cases in seconds, in one Python process, before the real test.

    .venv/bin/python -m grading_corpus.dry_run 06 [07 ...] [--pending NAME|all ...]   (run from tests/)

For each assignment: runs the reference notebook once on synthetic data in
an IPython shell, then, for each case of its ``answers_NN.py`` that replaces
answer cells (``CASES``, ``DRY_RUN_CASES``, and the pending ones whose switch is given), puts
back the namespace the reference left, runs the case's answer cells and
every test cell, and compares the cells that fail with the cells the case
says it loses. It is not the grader (no sandbox, no nbgrader, stderr does not
fail a cell, the answer's later cells are not re-run), so a case it passes can
still fail the real test; but a wrong expectation or a broken answer shows
here in seconds instead of in a 12-minute run.

Several jobs run at once (``--jobs``, default 2: processes, an IPython shell
apiece), the longest first; an assignment whose cases take long is cut into
parts, each run after its own run of the reference notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


# Measured seconds of each assignment's reference run and of all its cases (CI, 2 cores): only
# the schedule depends on them. The slowest jobs start first, and cases that take much longer
# than the reference run are cut into parts. An assignment not listed counts as slow.
MEASURED_SECONDS = {
    "01_exploring_movielens": (1, 6), "02_sparse_rating_matrix": (1, 2), "03_measuring_error": (1, 6),
    "04_matrix_factorization": (1, 9), "05_inspecting_embeddings": (1, 4), "06_regularization": (3, 12),
    "07_softmax_model": (4, 107), "08_evaluating_recommenders": (6, 32), "09_keras_matrix_factorization": (21, 43),
    "10_two_towers": (8, 18), "11_neighbourhoods_and_spark": (30, 18),
}
UNMEASURED_SECONDS = (60, 60)
MAX_PARTS = 4


def parts_of(assignment: str) -> int:
    """Into how many parts (processes) the cases of ``assignment`` are cut."""
    reference, cases = MEASURED_SECONDS.get(assignment, UNMEASURED_SECONDS)
    return max(1, min(MAX_PARTS, int(cases // (reference + 20))))


def dry_run(assignment: str, switches: set[str], part: int = 0, parts: int = 1) -> int:
    """Check the cases of ``assignment`` (every ``parts``-th one, from the ``part``-th): how many differ."""
    from IPython.core.interactiveshell import InteractiveShell  # noqa: PLC0415
    from IPython.utils.capture import capture_output  # noqa: PLC0415

    from .cases import ASSIGNMENTS, answer_modules, own_cases, test_cells  # noqa: PLC0415
    from .notebooks import grade_id_of, points, read, solved, source_path  # noqa: PLC0415

    assert assignment in ASSIGNMENTS, f"{assignment} has no student version"
    shell = InteractiveShell.instance()
    name = assignment if parts == 1 else f"{assignment} (part {part + 1} of {parts})"

    def run(source: str) -> bool:
        with capture_output():
            return shell.run_cell(source, store_history=False).success

    started = time.monotonic()
    notebook = solved(assignment)
    # the source's test cells: the release has no hidden tests (autograde puts them back)
    tests = [(grade_id_of(c), c.source) for c in read(source_path(assignment)).cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata.nbgrader.get("solution")]
    broken = [grade_id_of(c) or f"cell {i}" for i, c in enumerate(notebook.cells)
              if c.cell_type == "code" and not run(c.source)]
    print(f"{name}: reference notebook ran in {time.monotonic() - started:.0f} s"
          + (f"; cells that failed: {broken}" if broken else ""), flush=True)
    snapshot = dict(shell.user_ns)
    table = points(assignment)
    wrong = 0
    chosen = [c for c in own_cases(switches, dry_run=True) if c.assignment == assignment and isinstance(c.make, dict)]
    assert assignment in answer_modules() or not chosen
    chosen = chosen[part::parts]
    for case in chosen:
        shell.user_ns.clear()
        shell.user_ns.update(snapshot)
        answers_ran = all(run(source) for source in case.make.values())
        failed = {grade_id for grade_id, source in tests if not run(source)}
        expected = (set(table) - test_cells(assignment, case.kept) if case.kept is not None
                    else test_cells(assignment, case.lost))
        ok = failed == expected
        wrong += not ok
        detail = "" if ok else (f"\n      lost but not expected: {sorted(failed - expected)}"
                                f"\n      expected but kept: {sorted(expected - failed)}")
        note = "" if answers_ran else " (an answer cell raised)"
        print(f"  {'ok   ' if ok else 'WRONG'} {case.pending or '':<24} {case.what}{note}{detail}", flush=True)
    print(f"{name}: {len(chosen)} cases, {wrong} differ ({time.monotonic() - started:.0f} s)", flush=True)
    return wrong


def _dry_run_captured(assignment: str, switches: set[str], part: int, parts: int) -> tuple[int, str]:
    """:func:`dry_run` in a worker process: its result and what it printed (printed whole, in one go)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        wrong = dry_run(assignment, switches, part, parts)
    return wrong, printed.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="+", help="assignment numbers (06) or names")
    parser.add_argument("--pending", nargs="*", default=[], help="pending switches to include (or all)")
    parser.add_argument("--jobs", type=int, default=2, help="processes at once (1: all in this one)")
    args = parser.parse_args(argv)

    from .cases import PENDING  # noqa: PLC0415

    switches = set(PENDING) if "all" in args.pending else set(args.pending)
    with _synthetic_data_unless_given():
        return _run(args, switches)


@contextlib.contextmanager
def _synthetic_data_unless_given():
    """Without ``RECSYS_COURSE_DATA``, a synthetic data set for this run (removed after it, the variable restored)."""
    if os.environ.get("RECSYS_COURSE_DATA"):
        yield
        return
    from recsys_course.fetch import make_synthetic_movielens  # noqa: PLC0415

    given = os.environ.get("RECSYS_COURSE_DATA")  # unset, or set to "": put back as it was
    with tempfile.TemporaryDirectory(prefix="corpus-dry-run-") as data:
        os.environ["RECSYS_COURSE_DATA"] = str(make_synthetic_movielens(Path(data) / "data").folder.parent)
        try:
            yield
        finally:
            if given is None:
                del os.environ["RECSYS_COURSE_DATA"]
            else:
                os.environ["RECSYS_COURSE_DATA"] = given


def _run(args: argparse.Namespace, switches: set[str]) -> int:
    from .cases import ASSIGNMENTS  # noqa: PLC0415

    assignments = []
    for number in args.numbers:
        matches = [a for a in ASSIGNMENTS if a == number or a.split("_")[0] == number]
        assert len(matches) == 1, f"no released assignment {number}"
        assignments.append(matches[0])
    jobs = [(assignment, part, parts_of(assignment)) for assignment in assignments
            for part in range(parts_of(assignment))]
    if args.jobs <= 1 or len(jobs) == 1:  # here, in this process
        return 1 if sum(dry_run(assignment, switches) for assignment in assignments) else 0

    def seconds(job: tuple[str, int, int]) -> float:
        reference, cases = MEASURED_SECONDS.get(job[0], UNMEASURED_SECONDS)
        return reference + cases / job[2]

    jobs.sort(key=seconds, reverse=True)  # the longest first: the processes finish together
    # spawn, not fork: the parent may have TensorFlow loaded, whose threads a fork would not copy
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_dry_run_captured, assignment, switches, part, parts)
                   for assignment, part, parts in jobs]
        wrong = 0
        for future in as_completed(futures):
            differ, printed = future.result()
            wrong += differ
            print(printed, end="", flush=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.exit(main())
