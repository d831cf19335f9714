"""What a student sees when they check a notebook with nbgrader's own validation.

For every assignment, ``nbgrader validate`` (the Validate button of the
Assignments tab runs the same :class:`nbgrader.validator.Validator`) is run
the way a student runs it: from their work folder, with the students'
``nbgrader_config.py`` (:func:`grader.hub.student_config`: nbgrader's 30 s
per cell and 4 s wait for a cell's last output are too short for training
cells on a busy machine) and not the course's, on the data the student has
(here the synthetic data set, to keep it fast):

- on the release with the reference solutions filled in, it says "Success!"
  and warns about nothing in the notebook (a hidden-test cell reduced to its
  docstring used to warn once per cell: its string read as partial credit);
- on the untouched release, it says the validation failed and names every
  visible test cell (its docstring opens the cell it prints) with the stub's
  ``NotImplementedError``.

nbgrader validate exits 0 even when the notebook fails, so its report is read.

Speed: a validation's CPU is mostly fixed costs, about 4 s to import nbgrader
(2.3 of them in ``rfc3987_syntax``, which builds a Lark grammar at import) and
about 8 s for the kernel to import TensorFlow. So nbgrader is not started once
per notebook: one worker process per core (2 to 4,
tests/nbgrader_validate_worker.py) imports it once and runs nbgrader's command
line application for one notebook after another, as the Validate button runs
the Validator inside the long-lived notebook server; each notebook still gets
a fresh kernel, and what it, its kernel and their children print is still
read to its end for that notebook alone. The later notebooks cost more
(notebook 11 starts Spark in both versions): they go first, so that the
workers finish together. Measured back to back on 2 cores shared with other
jobs (load 4): 218 s (176 CPU s) with one ``nbgrader validate`` process per
notebook, 145 s (140 CPU s) with 2 worker processes.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from grading_corpus.notebooks import grade_id_of, read, release_path, released_assignments, solved

from grader.hub import student_config

pytestmark = [pytest.mark.grader, pytest.mark.slow]

ASSIGNMENTS = released_assignments()
SUCCESS = "Success! Your notebook passes all the tests."
FAILED = "VALIDATION FAILED ON"
# A notice about the set-up, not about the notebook: ipykernel 7 says its
# default TCP transport is unencrypted (not shown under the Validate button).
ENVIRONMENT_NOTICES = ("Kernel is running over TCP without encryption",)
# Validations running at a time, each in its own worker process (a kernel at a time per worker):
# one per core, from 2 to 4 (a kernel that imports TensorFlow takes about 1 GB).
WORKERS = max(2, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2))
WORKER = Path(__file__).with_name("nbgrader_validate_worker.py")
NOTEBOOK_TIMEOUT = 900  # seconds for one validation (nbgrader allows a cell 300, students' config)
# Correct notebooks that still print a warning, and why (remove an entry once fixed).
KNOWN_WARNINGS: dict[str, str] = {}


def _run_worker(jobs: queue.Queue, results: dict, env: dict[str, str], log: Path) -> None:
    """One worker process: validates the notebooks it takes from ``jobs`` one after another."""
    with open(log, "w") as errors:
        worker = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=errors, env=env, text=True)
        try:
            while worker.poll() is None:
                try:
                    key, notebook = jobs.get_nowait()
                except queue.Empty:
                    break
                watchdog = threading.Timer(NOTEBOOK_TIMEOUT, worker.kill)  # a hung validation fails, not the run
                watchdog.start()
                try:
                    worker.stdin.write(json.dumps({"notebook": str(notebook)}) + "\n")
                    worker.stdin.flush()
                    answer = worker.stdout.readline()
                except OSError:
                    answer = ""
                finally:
                    watchdog.cancel()
                results[key] = json.loads(answer) if answer else {
                    "stdout": "", "stderr": f"the worker died (or took over {NOTEBOOK_TIMEOUT} s): "
                                            f"{log.read_text()[-3000:]}", "returncode": None, "seconds": 0.0}
        finally:
            if worker.poll() is None:
                worker.stdin.close()
                worker.wait(timeout=NOTEBOOK_TIMEOUT)


@pytest.fixture(scope="module")
def validated(tmp_path_factory, synthetic_dir) -> dict[tuple[str, str], dict]:
    """(assignment, "correct" | "untouched") -> what ``nbgrader validate`` printed."""
    work = tmp_path_factory.mktemp("validate")
    for kind in ("correct", "untouched"):
        (work / kind).mkdir()
        (work / kind / "nbgrader_config.py").write_text(student_config())
    notebooks = {}
    for assignment in ASSIGNMENTS:
        for kind, notebook in (("correct", solved(assignment)), ("untouched", read(release_path(assignment)))):
            folder = work / kind / assignment
            folder.mkdir()
            path = folder / f"{assignment}.ipynb"
            nbformat.write(notebook, path)
            notebooks[assignment, kind] = path
    config_dir = work / "jupyter-config"  # an empty one: no machine-wide nbgrader or Jupyter config applies
    config_dir.mkdir()
    env = {**os.environ, "RECSYS_COURSE_DATA": str(synthetic_dir.parent), "JUPYTER_CONFIG_DIR": str(config_dir),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    env.pop("PYTHONPATH", None)  # a student's kernel cannot import the grader
    started, cpu = time.monotonic(), _children_cpu()
    # The costly ones first (the later notebooks; 11 starts Spark), so that the workers finish together.
    jobs: queue.Queue = queue.Queue()
    for key in sorted(notebooks, key=lambda key: (-ASSIGNMENTS.index(key[0]), key[1])):
        jobs.put((key, notebooks[key]))
    results: dict[tuple[str, str], dict] = {}
    threads = [threading.Thread(target=_run_worker, args=(jobs, results, env, work / f"worker-{i}.log"))
               for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = set(notebooks) - set(results)
    assert not missing, f"not validated: {sorted(missing)}"
    seconds = {f"{a} {k}": round(r["seconds"], 1) for (a, k), r in results.items()}
    print(f"\nnbgrader validate, {len(results)} notebooks with {WORKERS} workers: "
          f"{time.monotonic() - started:.0f} s, {_children_cpu() - cpu:.0f} CPU s, load {os.getloadavg()[0]:.1f}; "
          f"each: {seconds}")
    return results


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _warnings(result: dict) -> list[str]:
    lines = (result["stdout"] + result["stderr"]).splitlines()
    return [line for line in lines if "warning" in line.lower()
            and not any(notice in line for notice in ENVIRONMENT_NOTICES)]


def _visible_tests(assignment: str) -> list[nbformat.NotebookNode]:
    return [cell for cell in read(release_path(assignment)).cells
            if cell.cell_type == "code" and "_visible_" in (grade_id_of(cell) or "")]


@pytest.mark.parametrize("assignment", [
    pytest.param(a, marks=pytest.mark.xfail(reason=KNOWN_WARNINGS[a], strict=False)) if a in KNOWN_WARNINGS else a
    for a in ASSIGNMENTS])
def test_a_correct_notebook_validates_cleanly(validated, assignment):
    result = validated[assignment, "correct"]
    report = result["stdout"] + result["stderr"]
    assert result["returncode"] == 0, report[-3000:]
    assert SUCCESS in result["stdout"], report[-3000:]
    assert FAILED not in report
    assert not _warnings(result), "\n".join(_warnings(result))[:3000]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_an_untouched_notebook_names_each_failing_visible_test(validated, assignment):
    result = validated[assignment, "untouched"]
    report = result["stdout"]
    assert FAILED in report and SUCCESS not in report, (report + result["stderr"])[-3000:]
    assert "NotImplementedError" in report
    visible = _visible_tests(assignment)
    assert visible, f"{assignment} has no visible test cells"
    # The report prints each failing cell's source, lines cut to the terminal's
    # width: the opening of the docstring is what names the test.
    failed_cells = report.split("The following cell failed:")[1:]
    assert len(failed_cells) == len(visible), f"{len(failed_cells)} cells failed, {len(visible)} visible tests"
    for cell in visible:
        opening = cell.source.splitlines()[0][:60]
        assert opening in report, f"{grade_id_of(cell)} ({opening!r}) is not named in:\n{report[:3000]}"
