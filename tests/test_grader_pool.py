"""The default grading path (grader.worker_pool, grader.kernel_zygote) keeps every promise of the old one.

Workers forked from a warm template, kernels forked from a zygote that has
imported the course's stack: a tiny assignment without TensorFlow is graded
end to end for a few students (about a minute, most of it the zygote's
imports), and each notebook's cells check from inside the kernel what it must
not see: another notebook's module attributes, builtins or files, the
course's folders, the network, other processes. Killed kernels, memory caps
and timeouts keep their statuses; a worker that is timed out leaves no kernel
behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import fork_server, worker_pool
from grader.cells import HIDDEN_BEGIN, HIDDEN_END
from grader.grade import grade_class
from grader.nbgrader_helpers import fill_in_solutions
from grader.release import generate
from grader.sandbox_kernel import platform_features
from grader.settings import GradingSettings

pytestmark = [pytest.mark.slow, pytest.mark.grader,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the pool forks: Linux only")]

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_fresh"
NAMESPACES = "namespaces" in platform_features()


def _meta(grade_id, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _test(grade_id: str, doc: str, body: str) -> nbformat.NotebookNode:
    return new_code_cell(f'"""{doc}"""\n{HIDDEN_BEGIN}\n{body}\n{HIDDEN_END}',
                         metadata=_meta(grade_id, grade=True, locked=True, points=1))


def source_notebook() -> nbformat.NotebookNode:
    fresh = """\
import builtins, numpy
assert not hasattr(numpy, "LEFT_BY_ANOTHER_NOTEBOOK") and not hasattr(builtins, "LEFT_BY_ANOTHER_NOTEBOOK")
assert not os.path.exists("/tmp/left-by-another-notebook") and "LEFT" not in os.environ
numpy.LEFT_BY_ANOTHER_NOTEBOOK = builtins.LEFT_BY_ANOTHER_NOTEBOOK = True
os.environ["LEFT"] = "1"
open("/tmp/left-by-another-notebook", "w").write("x")"""
    hidden = f"""\
assert not os.path.exists({str(REPO / 'grader')!r}) and not os.path.exists({str(Path.home())!r} + "/.bashrc")
assert not os.path.exists("../../../gradebook.db")  # the private course's gradebook, next to the autograded folder"""
    network = """\
import socket
interfaces = [line.split(":")[0].strip() for line in open("/proc/net/dev").read().splitlines()[2:]]
assert interfaces == ["lo"], interfaces
probe = socket.socket()
probe.settimeout(2)
try:
    probe.connect(("192.0.2.1", 80))
    reached = True
except OSError:
    reached = False
assert not reached"""
    processes = """\
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
assert pids[0] == 1 and len(pids) < 10, pids
assert os.getuid() != 0"""
    cells = [
        new_markdown_cell("# Fresh kernels", metadata=_meta("title", locked=True)),
        new_code_cell("import os, numpy", metadata=_meta("setup", locked=True)),
        new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                      metadata=_meta("add_solution", solution=True)),
        # A cell the grader runs only because a graded cell reads what it makes (grader.cell_dependencies).
        new_code_cell("draw = numpy.random.randint(2**31)\nprint('draw', draw)", metadata=_meta("draw", locked=True)),
        _test("add_hidden_values", "add adds.", "assert add(2, 3) == 5 and draw >= 0"),
        _test("add_hidden_fresh", "Nothing another notebook did is here.", fresh),
        _test("add_hidden_sees_only_its_own", "The course, home and gradebook are not there.", hidden),
        _test("add_hidden_no_network", "Only loopback.", network),
        _test("add_hidden_own_processes", "Its own PID namespace, not root.", processes),
    ]
    return new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                              "language": "python"}})


ANSWERS = {
    "alice": "def add(a, b):\n    return a + b",
    "bob": "def add(a, b):\n    return a + b",
    "carol": "import os\nos._exit(3)\ndef add(a, b):\n    return a + b",  # kills its kernel
    "dave": "import numpy\nhog = numpy.ones(400_000_000)\ndef add(a, b):\n    return a + b",  # 3.2 GB
    "erin": "import time\ntime.sleep(600)\ndef add(a, b):\n    return a + b",  # past the cell timeout
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    folder = course / "solutions" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(source_notebook(), folder / f"{ASSIGNMENT}.ipynb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_COURSE_ROOT", str(course))
        patch.setenv(worker_pool.WORKER_ENV, "pool")
        generate(course, [ASSIGNMENT])
        release = nbformat.read(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        submissions = tmp_path_factory.mktemp("submissions")
        for student, answer in ANSWERS.items():
            notebook = fill_in_solutions(release, source_notebook())
            notebook.cells[2].source = answer
            (submissions / student).mkdir()
            nbformat.write(notebook, submissions / student / f"{ASSIGNMENT}.ipynb")
        out = tmp_path_factory.mktemp("out")
        # Every cell here takes well under a second but erin's sleep, which the run waits out: 15 s.
        results = grade_class(submissions, out, settings=GradingSettings(jobs=2, cell_timeout=15,
                                                                         notebook_timeout=150, memory_mb=1000))
    return {"results": {r["student"]: r for r in results}, "out": out, "submissions": submissions}


def test_kernels_are_forked_from_the_zygote_and_isolated(graded):
    alice = graded["results"]["alice"]
    assert alice["kernel"] == "zygote"
    assert alice["isolation"] == ("namespaces" if NAMESPACES else "none")


def test_each_notebook_starts_fresh_and_sandboxed(graded):
    for student in ("alice", "bob"):
        result = graded["results"][student]
        assert result["status"] == "graded", result["message"]
        expected = {"add_hidden_values": 1.0, "add_hidden_fresh": 1.0}
        if NAMESPACES:  # what only the namespaces give
            expected.update(add_hidden_sees_only_its_own=1.0, add_hidden_no_network=1.0, add_hidden_own_processes=1.0)
        assert {k: v for k, v in result["scores"].items() if k in expected} == expected


def test_each_kernel_draws_its_own_random_numbers(graded):
    draws = [re.findall(r"draw (\d+)", (graded["out"] / "feedback" / s / f"{ASSIGNMENT}.html").read_text())
             for s in ("alice", "bob")]
    assert draws[0] and draws[1] and draws[0] != draws[1]


def test_a_killed_kernel_a_memory_hog_and_a_slow_cell_keep_their_statuses(graded):
    results = graded["results"]
    assert results["carol"]["status"] == "kernel_died"
    assert results["dave"]["status"] == "memory_limit", results["dave"]["message"]
    assert results["erin"]["status"] in ("cell_timeout", "notebook_timeout")
    for student in ("carol", "dave"):  # nothing after the kernel's death ran
        assert sum(results[student]["scores"].values()) == 0
    assert results["erin"]["scores"]["add_hidden_values"] == 0  # interrupted, the kernel went on


def test_feedback_says_the_notebook_ran_on_the_small_data_set(graded):
    page = (graded["out"] / "feedback" / "alice" / f"{ASSIGNMENT}.html").read_text()
    assert "Graded on a small data set" in page
    assert graded["results"]["alice"]["data"].startswith("small synthetic")


# Long enough for the kernel to start and reach the sleeping cell: forked from the zygote in about a
# second; a process of its own imports TensorFlow first (10 to 15 s on a slow 2-core machine).
WORKER_TIMEOUT = {"pool": 12, "process": 30}


@pytest.mark.parametrize("mode", ["pool", "process"])
def test_a_timed_out_worker_leaves_no_kernel_behind(tmp_path, graded, mode):
    """run_grade_one stops the worker of a notebook that sleeps: its kernel and launcher end too."""
    from grader.grade_one import GradeJob

    submission = graded["submissions"] / "erin" / f"{ASSIGNMENT}.ipynb"
    template = graded["out"] / ".templates" / ASSIGNMENT
    courses = tmp_path / "courses"
    job = GradeJob(student="erin", assignment=ASSIGNMENT, submitted=str(submission), template=str(template),
                   release=str(template / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
                   source=str(template / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
                   data_dir=str(tmp_path), feedback_html=str(tmp_path / "feedback.html"),
                   cell_timeout=600, notebook_timeout=600, courses_dir=str(courses))
    (tmp_path / "job.json").write_text(json.dumps(asdict(job)))
    seen = []
    watching = threading.Event()

    def watch():
        while not watching.wait(0.3):
            seen.append(len(_working_in(courses)))

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            worker_pool.run_grade_one(tmp_path / "job.json", tmp_path / "result.json",
                                      env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=WORKER_TIMEOUT[mode],
                                      cwd=tmp_path, mode=mode)
    finally:
        watching.set()
        watcher.join()
    assert max(seen, default=0) > 0, "the kernel never started: nothing was tested"
    deadline = time.monotonic() + 10
    while _working_in(courses) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _working_in(courses), "a kernel or its launcher outlived the worker"


def _working_in(folder: Path) -> list[int]:
    """Processes whose working folder is inside ``folder`` (a kernel works in its submission's folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd").startswith(str(folder)):
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_the_fork_server_kills_the_child_of_a_client_that_hangs_up(tmp_path):
    """A request whose client goes away ends its child: nothing runs for no one."""
    script = (f"import sys, time; sys.path.insert(0, {str(REPO)!r}); from grader import fork_server\n"
              "def child(conn):\n    fork_server.read_request(conn)\n    fork_server.answer(conn, pid=__import__('os').getpid())\n"
              "    time.sleep(600)\n    return 0\n"
              f"fork_server.serve(__import__('pathlib').Path({str(tmp_path / 's.sock')!r}), child)\n")
    server = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert server.stdout.readline().strip() == b"ready"
        request = fork_server.Request(tmp_path / "s.sock", {"hello": 1})
        child = request.wait_pid(timeout=30)
        assert _parent(child) == server.pid
        request.close()
        deadline = time.monotonic() + 10
        while _parent(child) == server.pid and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _parent(child) != server.pid, "the child outlived its client"
    finally:
        server.stdin.close()
        server.wait(timeout=30)


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0
