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
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def dry_run(assignment: str, switches: set[str]) -> int:
    from IPython.core.interactiveshell import InteractiveShell  # noqa: PLC0415
    from IPython.utils.capture import capture_output  # noqa: PLC0415

    from .cases import ASSIGNMENTS, answer_modules, own_cases, test_cells  # noqa: PLC0415
    from .notebooks import grade_id_of, points, read, solved, source_path  # noqa: PLC0415

    assert assignment in ASSIGNMENTS, f"{assignment} has no student version"
    shell = InteractiveShell.instance()

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
    print(f"{assignment}: reference notebook ran in {time.monotonic() - started:.0f} s"
          + (f"; cells that failed: {broken}" if broken else ""), flush=True)
    snapshot = dict(shell.user_ns)
    table = points(assignment)
    wrong = 0
    chosen = [c for c in own_cases(switches, dry_run=True) if c.assignment == assignment and isinstance(c.make, dict)]
    assert assignment in answer_modules() or not chosen
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
    print(f"{assignment}: {len(chosen)} cases, {wrong} differ ({time.monotonic() - started:.0f} s)", flush=True)
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("numbers", nargs="+", help="assignment numbers (06) or names")
    parser.add_argument("--pending", nargs="*", default=[], help="pending switches to include (or all)")
    args = parser.parse_args(argv)

    from .cases import ASSIGNMENTS, PENDING  # noqa: PLC0415

    switches = set(PENDING) if "all" in args.pending else set(args.pending)
    if not os.environ.get("RECSYS_COURSE_DATA"):
        from recsys_course.fetch import make_synthetic_movielens  # noqa: PLC0415

        data = Path(tempfile.mkdtemp(prefix="corpus-dry-run-"))
        os.environ["RECSYS_COURSE_DATA"] = str(make_synthetic_movielens(data / "data").folder.parent)
    wrong = 0
    for number in args.numbers:
        matches = [a for a in ASSIGNMENTS if a == number or a.split("_")[0] == number]
        assert len(matches) == 1, f"no released assignment {number}"
        wrong += dry_run(matches[0], switches)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))
    sys.exit(main())
