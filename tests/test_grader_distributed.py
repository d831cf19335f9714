"""``grade --scheduler``: the class graded on Dask workers, over TCP, by a ``LocalCluster`` of two
worker processes (one thread each), as on a real cluster.

- a small real class (3 students x 2 assignments of the grading corpus) gets the same sheet,
  results and feedback as a local run with two jobs;
- a worker killed while it grades a notebook loses no result: the scheduler grades it again
  on the restarted worker or the other one;
- a notebook whose grading kills every worker it runs on (a test-only worker plugin) ends,
  after distributed's three tries, with the status ``worker_lost``, the run completes, and the
  next run grades that notebook again (and nothing else).

The last two use a tiny assignment without TensorFlow (the course built in a temp folder,
as in ``tests/test_grader_grade_one.py``).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import cloudpickle
import nbformat
import pytest

distributed = pytest.importorskip("distributed")
from distributed import LocalCluster, WorkerPlugin  # noqa: E402

from grader.grade import grade_class  # noqa: E402
from grader.nbgrader_helpers import fill_in_solutions  # noqa: E402
from grader.release import generate  # noqa: E402

from grading_corpus import CELL_TIMEOUT, MEMORY_MB, NOTEBOOK_TIMEOUT, cases, expected_sheet  # noqa: E402

pytestmark = [pytest.mark.grader, pytest.mark.slow]

# Workers unpickle the plugins below by value: they need not import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

SMALL_CLASS = ("s01", "s02", "s03")
SMALL_ASSIGNMENTS = ("01_exploring_movielens", "02_sparse_rating_matrix")


class KillWorkers(WorkerPlugin):
    """Kills the worker process (SIGKILL, as the out-of-memory killer would) when it starts a
    notebook of ``student``: right away (``delay`` 0), or ``delay`` seconds later, while the
    notebook is graded. ``once``: only the first time in the whole cluster (a marker file says so).
    ``switch``: a file that must exist for the plugin to act (the test removes it to stop)."""

    def __init__(self, student: str, switch: str, delay: float = 0.0, once: bool = False):
        self.student, self.switch, self.delay, self.once = student, switch, delay, once
        self.name = f"kill-workers-{student}"

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or not str(key).startswith(f"grade-{self.student}-"):
            return
        if not os.path.exists(self.switch):
            return
        if self.once:
            try:
                os.close(os.open(self.switch + ".fired", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
        kill = lambda: os.kill(os.getpid(), signal.SIGKILL)  # noqa: E731
        if self.delay:
            threading.Timer(self.delay, kill).start()
        else:
            kill()


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes of one thread, over TCP on localhost (``grade`` submits one notebook per
    worker thread, so a dying worker holds only the notebook it grades)."""
    import dask

    with dask.config.set({"distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                         dashboard_address=None) as local, local.get_client() as client:
        yield {"address": local.scheduler_address, "client": client}


def read_sheet(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path, newline="")))


def same_page(path: Path) -> str:
    """A feedback page's text, without what differs from run to run anyway: each chart's random
    element id, and how the kernel's stream output happened to be cut into output areas."""
    text = re.sub(r"recsys-course-chart-[0-9a-f]{32}", "recsys-course-chart-ID", path.read_text())
    return "".join(re.sub(r"<[^>]*>", "", text).split())


def verdicts(results: list[dict]) -> dict:
    return {(r["student"], r["assignment"]): (r["status"], r["scores"], r["max_scores"], r.get("review"),
                                             r.get("written_answers"), r.get("message")) for r in results}


def test_a_class_graded_on_dask_gets_the_same_sheet_results_and_feedback(cluster, tmp_path, synthetic_dir):
    table = {key: case for key, case in cases().items() if key[0] in SMALL_CLASS and key[1] in SMALL_ASSIGNMENTS}
    folder = tmp_path / "class"
    for (student, assignment), case in table.items():
        (folder / student).mkdir(parents=True, exist_ok=True)
        (folder / student / (case.file_name or f"{assignment}.ipynb")).write_bytes(case.file_bytes())
    options = dict(assignments=list(SMALL_ASSIGNMENTS), data_dir=synthetic_dir.parent, cell_timeout=CELL_TIMEOUT,
                   notebook_timeout=NOTEBOOK_TIMEOUT, memory_mb=MEMORY_MB)
    started = time.monotonic()
    here = grade_class(folder, tmp_path / "here", jobs=2, **options)
    local_seconds = time.monotonic() - started
    node_templates = Path(tempfile.gettempdir()) / "recsys-grader-templates"
    for kept in node_templates.glob("*/cell-analysis"):  # an earlier run's: this run must write its own
        shutil.rmtree(kept, ignore_errors=True)
    started = time.monotonic()
    there = grade_class(folder, tmp_path / "there", scheduler=cluster["address"], **options)
    print(f"{len(there)} notebooks: {local_seconds:.0f} s with --jobs 2, {time.monotonic() - started:.0f} s on Dask")

    assert verdicts(there) == verdicts(here)
    assert read_sheet(tmp_path / "there" / "grades.csv") == read_sheet(tmp_path / "here" / "grades.csv")
    expected = {key: value for key, value in expected_sheet(table).items() if key[0] in SMALL_CLASS}
    got = {(r["student"], r["assignment"]): (r["status"], sum(r["scores"].values())) for r in there}
    assert {k: (s, pytest.approx(p)) for k, (s, p) in expected.items() if s != "not_submitted"} == got
    pages = {p.relative_to(tmp_path / "here" / "feedback") for p in (tmp_path / "here" / "feedback").rglob("*.html")}
    assert pages == {p.relative_to(tmp_path / "there" / "feedback")
                     for p in (tmp_path / "there" / "feedback").rglob("*.html")}
    assert len(pages) >= 5
    for page in pages:
        assert same_page(tmp_path / "there" / "feedback" / page) == same_page(tmp_path / "here" / "feedback" / page)
    # The cells' analysis is kept on the node beside its copy of each template, for its next notebooks.
    assert any(node_templates.glob("*/cell-analysis/*.pickle")), "no cell analysis kept on the workers' node"
    # A re-run on the cluster grades nothing again.
    again = grade_class(folder, tmp_path / "there", scheduler=cluster["address"], **options)
    assert {(r["student"], r["assignment"]): r["key"] for r in again} == {
        (r["student"], r["assignment"]): r["key"] for r in there}


# ---------------------------------------------------------------------------------------------
# Lost workers, on a tiny assignment without TensorFlow.

ASSIGNMENT = "01_tiny"


def tiny_class(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny course of tests/test_grader_grade_one.py and its class: right, wrong, slow (8 s) and killer."""
    from test_grader_grade_one import source_notebook

    course = tmp_path / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source_notebook(), course / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    generate(course, [ASSIGNMENT])
    release = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    answers = {
        "alice": "def add(a, b):\n    return a + b",
        "bob": "def add(a, b):\n    return float(a - b)",
        "slow": "import time\ntime.sleep(8)\ndef add(a, b):\n    return a + b",
        "killer": "def add(a, b):\n    return a + b",
    }
    submissions = tmp_path / "submissions"
    for student, answer in answers.items():
        notebook = fill_in_solutions(release, source_notebook())
        notebook.cells[2].source = answer
        (submissions / student).mkdir(parents=True)
        nbformat.write(notebook, submissions / student / f"{ASSIGNMENT}.ipynb")
    return course, submissions


def test_lost_workers_lose_no_result_and_a_worker_killing_notebook_gets_a_clear_status(cluster, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setenv("RECSYS_COURSE_ROOT", str(tmp_path / "course"))
    course, submissions = tiny_class(tmp_path)
    client = cluster["client"]
    slow_switch, killer_switch = tmp_path / "kill-slow", tmp_path / "kill-killer"
    slow_switch.touch()
    killer_switch.touch()
    client.register_plugin(KillWorkers("slow", str(slow_switch), delay=4.0, once=True))
    client.register_plugin(KillWorkers("killer", str(killer_switch)))
    out = tmp_path / "out"
    options = dict(scheduler=cluster["address"], cell_timeout=30, notebook_timeout=120, memory_mb=1500)
    try:
        started = time.monotonic()
        results = {r["student"]: r for r in grade_class(submissions, out, **options)}
        print(f"graded with lost workers in {time.monotonic() - started:.0f} s")
        assert (tmp_path / "kill-slow.fired").exists(), "the slow notebook's worker was never killed"
        points = {student: (r["status"], sum(r["scores"].values())) for student, r in results.items()}
        assert points == {"alice": ("graded", 3.0), "bob": ("graded", 0.0), "slow": ("graded", 3.0),
                          "killer": ("worker_lost", 0.0)}, points
        assert "KilledWorker" in results["killer"]["message"] and "run grade again" in results["killer"]["message"]
        assert results["killer"]["max_scores"] == {"add_visible_format": 1.0, "add_hidden_values": 2.0}
        sheet = {row["student"]: row for row in read_sheet(out / "grades.csv")}
        assert sheet["killer"][f"{ASSIGNMENT} status"] == "worker_lost"
        assert sheet["slow"][f"{ASSIGNMENT} points"] == "3"
        assert (out / "feedback" / "slow" / f"{ASSIGNMENT}.html").is_file()

        # The next run (workers healthy again) grades the lost notebook, and only it.
        killer_switch.unlink()
        started = time.monotonic()
        again = {r["student"]: r for r in grade_class(submissions, out, **options)}
        assert again["killer"]["status"] == "graded" and sum(again["killer"]["scores"].values()) == 3.0
        assert {s: again[s]["key"] for s in ("alice", "bob", "slow")} == {
            s: results[s]["key"] for s in ("alice", "bob", "slow")}
        assert {s: again[s]["timings"] for s in ("alice", "bob", "slow")} == {
            s: results[s]["timings"] for s in ("alice", "bob", "slow")}, "an unchanged notebook was graded again"
    finally:
        for name in ("kill-workers-slow", "kill-workers-killer"):
            client.unregister_worker_plugin(name)
