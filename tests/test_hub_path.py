"""The course on nbgrader's own path, as on a JupyterHub, with a local exchange folder.

Everything runs with nbgrader's commands, as the README tells instructors
and as the Assignments tab runs them for students:

1. the instructor writes the course root's ``nbgrader_config.py``
   (``python -m grader.hub config --exchange DIR``), then generates
   (``python -m grader.release``: ``nbgrader generate_assignment``, its
   output normalized) and ``nbgrader release_assignment`` two cheap
   assignments (01 and 03);
2. each student, with a home of their own whose nbgrader configuration names
   only the exchange and the course (a hub's global config), runs ``nbgrader
   fetch_assignment``, writes an answer and runs ``nbgrader submit``: alice
   the reference, bob the untouched release (01) and a sum instead of a mean
   (03), carol the reference saved by Colab (every cell's metadata gone);
3. the instructor runs ``nbgrader collect`` and ``python -m grader.hub
   autograde`` (nbgrader autograde per student, sandboxed and repaired as
   ``grade`` does); the per-cell scores in the gradebook equal those ``grade``
   gives for the same files;
4. the formgrader (``jupyter server`` with nbgrader's extension) lists the
   assignments, the submissions and their scores over HTTP, and shows a
   submission;
5. ``nbgrader generate_feedback`` and ``release_feedback``; each student's
   ``nbgrader fetch_feedback`` gets the HTML, whose hidden tests show their
   verdicts, not their code.

The kernels read the synthetic data set.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from grading_corpus.answers_03 import MSE_SUM
from grading_corpus.answers_03 import SOLUTION as MSE_SOLUTION
from grading_corpus.notebooks import read, release_path, solved, strip_metadata, with_answers

from grader.cells import HIDDEN_BEGIN
from grader.grade import grade_class
from grader.nbgrader_helpers import REPO_ROOT, copy_assignment_source, load_course_config, nbgrader_env

pytestmark = [pytest.mark.grader, pytest.mark.slow]

COURSE_ID = "recsys_movielens"
FIRST, THIRD = "01_exploring_movielens", "03_measuring_error"
BIN = Path(sys.executable).parent


def answers() -> dict[str, dict[str, nbformat.NotebookNode]]:
    """student -> assignment -> the notebook they hand in."""
    return {
        "alice": {FIRST: solved(FIRST), THIRD: solved(THIRD)},
        "bob": {FIRST: read(release_path(FIRST)), THIRD: with_answers(solved(THIRD), {MSE_SOLUTION: MSE_SUM})},
        "carol": {FIRST: strip_metadata(solved(FIRST))},
    }


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    """A command as the instructor or a student types it; its output, or a failure with its log."""
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} failed ({done.returncode}):\n{log[-5000:]}"
    assert "[ERROR]" not in log and "| ERROR]" not in log, f"{' '.join(args)} logged an error:\n{log[-5000:]}"
    return log


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Hub:
    """An instructor's course folder, an exchange and the students' homes, in a temp folder."""

    def __init__(self, base: Path, data_dir: Path):
        self.base, self.data_dir = base, data_dir
        self.course, self.exchange = base / "course", base / "exchange"
        self.exchange.mkdir()
        for assignment in (FIRST, THIRD):
            copy_assignment_source(REPO_ROOT, self.course, assignment)
        empty = base / "no-jupyter-config"
        empty.mkdir()
        # The course's nbgrader works on this copy (RECSYS_COURSE_ROOT); no machine-wide config applies.
        self.instructor_env = {**nbgrader_env(self.course), "JUPYTER_CONFIG_DIR": str(empty),
                               "RECSYS_COURSE_DATA": str(data_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
        self.instructor_env.pop("JUPYTER_NO_CONFIG")  # the formgrader's extension is enabled in the venv's config

    def instructor(self, *args: str, timeout: float = 900) -> str:
        command = [str(BIN / args[0]), *args[1:]] if (BIN / args[0]).exists() else list(args)
        return run(command, self.course, self.instructor_env, timeout)

    def home(self, student: str) -> Path:
        return self.base / "home" / student

    def student(self, student: str, *args: str) -> str:
        """``nbgrader <args>`` in the student's home, with a hub's global nbgrader config (exchange, course)."""
        home = self.home(student)
        config = home / ".jupyter"
        if not config.is_dir():
            config.mkdir(parents=True)
            (config / "nbgrader_config.py").write_text(
                f"c = get_config()\nc.Exchange.root = {str(self.exchange)!r}\n"
                f"c.CourseDirectory.course_id = {COURSE_ID!r}\n")
        env = {"PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), "HOME": str(home),
               "JUPYTER_CONFIG_DIR": str(config), "LANG": "C.UTF-8"}
        return run([str(BIN / "nbgrader"), *args, f"--student={student}"], home, env)

    def gradebook_scores(self, assignment: str, student: str) -> dict[str, float]:
        from nbgrader.api import Gradebook

        config = load_course_config(self.instructor_env).CourseDirectory
        with Gradebook(config.db_url, config.course_id) as gradebook:
            submission = gradebook.find_submission_notebook(assignment, assignment, student)
            return {grade.name: float(grade.auto_score or 0) for grade in submission.grades}


def each_student(steps) -> None:
    """``steps(student, notebooks)`` for every student, two students at a time (each works in a home of
    their own, as on a hub; an nbgrader command is mostly one core's start-up)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(steps, student, notebooks) for student, notebooks in answers().items()]:
            done.result()  # a student's failure fails the test


@pytest.fixture(scope="module")
def hub(tmp_path_factory, synthetic_dir):
    started, cpu = time.monotonic(), children_cpu()
    timings = {}
    hub = Hub(tmp_path_factory.mktemp("hub"), synthetic_dir.parent)
    lap = time.monotonic()

    def clock(step):
        nonlocal lap
        timings[step] = round(time.monotonic() - lap, 1)
        lap = time.monotonic()

    # Instructor: the root config, then generate and release.
    hub.instructor("python", "-m", "grader.hub", "config", "--exchange", str(hub.exchange))
    for assignment in (FIRST, THIRD):
        hub.instructor("python", "-m", "grader.release", assignment)  # nbgrader generate_assignment, normalized
        hub.instructor("nbgrader", "release_assignment", assignment)
    clock("generate and release")

    # Students: fetch, answer, submit.
    handed_in = hub.base / "handed-in"  # the same files, for `grade`

    def hand_in(student, notebooks):
        for assignment, notebook in notebooks.items():
            hub.student(student, "fetch_assignment", assignment)
            fetched = hub.home(student) / assignment / f"{assignment}.ipynb"
            assert fetched.is_file(), f"{student} did not get {fetched}"
            nbformat.write(notebook, fetched)
            hub.student(student, "submit", assignment)
            (handed_in / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, handed_in / student / f"{assignment}.ipynb")

    each_student(hand_in)
    clock("fetch and submit")

    # Instructor: collect and autograde.
    autograde_log = {}
    for assignment in (FIRST, THIRD):
        hub.instructor("nbgrader", "collect", assignment)
        autograde_log[assignment] = hub.instructor("python", "-m", "grader.hub", "autograde", assignment,
                                                   "--data", str(hub.data_dir))
    clock("collect and autograde")
    scores = {(student, assignment): hub.gradebook_scores(assignment, student)
              for student, notebooks in answers().items() for assignment in notebooks}
    timings["total"] = round(time.monotonic() - started, 1)
    print(f"\nhub path timings (s): {timings}; {children_cpu() - cpu:.0f} CPU s, load {os.getloadavg()[0]:.1f}")
    return {"hub": hub, "scores": scores, "autograde_log": autograde_log, "handed_in": handed_in,
            "timings": timings}


@pytest.fixture(scope="module")
def graded_by_grade(hub, tmp_path_factory, monkeypatch_module):
    """What ``grade`` gives for the same files (same course copy, same data)."""
    monkeypatch_module.setenv("RECSYS_COURSE_ROOT", str(hub["hub"].course))
    started, cpu = time.monotonic(), children_cpu()
    results = grade_class(hub["handed_in"], tmp_path_factory.mktemp("grade-out"), jobs=2,
                          data_dir=hub["hub"].data_dir)
    print(f"\ngrade on the same files: {time.monotonic() - started:.1f} s, {children_cpu() - cpu:.0f} CPU s")
    return {(r["student"], r["assignment"]): r for r in results}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_each_submission_is_autograded_with_the_hidden_tests(hub):
    scores = hub["scores"]
    full = {key: sum(cells.values()) for key, cells in scores.items()}
    for assignment in (FIRST, THIRD):
        maximum = sum(float(p) for p in _points(assignment).values())
        assert full["alice", assignment] == maximum, scores["alice", assignment]
    assert full["carol", FIRST] == full["alice", FIRST], "the Colab copy was not repaired before grading"
    assert full["bob", FIRST] == 0, scores["bob", FIRST]
    lost = {cell for cell, points in scores["bob", THIRD].items() if points == 0}
    assert "sparse_mean_square_error_hidden_values" in lost  # a hidden test: it ran
    assert 0 < full["bob", THIRD] < full["alice", THIRD]
    carol = next(line for line in hub["autograde_log"][FIRST].splitlines() if " carol " in line)
    assert "repaired" in carol, hub["autograde_log"][FIRST]


def test_the_same_scores_as_grade(hub, graded_by_grade):
    for key, cells in hub["scores"].items():
        result = graded_by_grade[key]
        assert result["status"] in ("graded", "repaired"), result
        assert cells == result["scores"], f"{key}: hub {cells} != grade {result['scores']}"


def test_the_formgrader_serves_the_submissions(hub):
    course = hub["hub"]
    port, token = free_port(), "hub-path-test-token"
    server = subprocess.Popen(
        [str(BIN / "jupyter"), "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={course.course}", "--ServerApp.allow_root=True"],
        cwd=course.course, env={**course.instructor_env, "JUPYTER_RUNTIME_DIR": str(course.base / "runtime")},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        get = _client(port, token, server)
        assignments = {a["name"]: a for a in json.loads(get("/formgrader/api/assignments"))}
        assert {FIRST, THIRD} <= set(assignments), assignments
        assert assignments[FIRST]["num_submissions"] == 3 and assignments[THIRD]["num_submissions"] == 2
        for assignment in (FIRST, THIRD):
            listed = {s["student"]: s for s in json.loads(get(f"/formgrader/api/submissions/{assignment}"))}
            for student in listed:
                assert listed[student]["autograded"], listed[student]
                expected = sum(hub["scores"][student, assignment].values())
                assert listed[student]["score"] == pytest.approx(expected), (student, assignment, listed[student])
        bob = json.loads(get(f"/formgrader/api/submitted_notebooks/{THIRD}/{THIRD}"))
        bob = next(n for n in bob if n["student"] == "bob")
        page = get(f"/formgrader/submissions/{bob['id']}/")  # the autograded notebook, to review and grade
        assert "bob" in page and "sparse_mean_square_error_hidden_values" in page
        assert HIDDEN_BEGIN in page  # the instructor sees the hidden tests
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _client(port: int, token: str, server: subprocess.Popen):
    def get(path: str) -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    deadline = time.monotonic() + 60
    while True:
        try:
            get("/api/status")
            return get
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                output = server.stdout.read() if server.poll() is not None else "(still running)"
                raise AssertionError(f"the Jupyter server did not answer on port {port}:\n{output[-3000:]}") from None
            time.sleep(0.5)


def test_students_fetch_their_feedback(hub):
    course = hub["hub"]
    for assignment in (FIRST, THIRD):
        course.instructor("nbgrader", "generate_feedback", assignment, "--force")
        course.instructor("nbgrader", "release_feedback", assignment)

    def fetch_feedback(student, notebooks):
        for assignment in notebooks:
            course.student(student, "fetch_feedback", assignment)
            pages = sorted((course.home(student) / assignment / "feedback").glob(f"*/{assignment}.html"))
            assert len(pages) == 1, f"{student} got {pages} for {assignment}"
            html = pages[0].read_text()
            assert "Hidden tests: their code is not shown" in html
            shown = [line for line in hidden_lines(assignment) if line in html]
            assert HIDDEN_BEGIN not in html and not shown, f"the feedback shows hidden tests' code: {shown[:3]}"

    each_student(fetch_feedback)
    bob = next((course.home("bob") / THIRD / "feedback").glob(f"*/{THIRD}.html")).read_text()
    assert "Hidden test failed" in bob


def hidden_lines(assignment: str) -> set[str]:
    """Lines of the source's hidden blocks that HTML shows as they are (no quotes, brackets or ampersands)."""
    from grader.cells import HIDDEN_END

    lines = set()
    for cell in read(REPO_ROOT / "solutions" / assignment / f"{assignment}.ipynb").cells:
        inside = False
        for line in cell.source.splitlines():
            inside = (inside or HIDDEN_BEGIN in line) and HIDDEN_END not in line
            text = line.strip()
            if inside and len(text) > 25 and not set(text) & set("<>&'\"") and not text.startswith("#"):
                lines.add(text)
    return lines


def _points(assignment: str) -> dict[str, float]:
    from grading_corpus.notebooks import points

    return points(assignment)
