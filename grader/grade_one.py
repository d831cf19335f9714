"""Grade one notebook of one student, in a process of its own.

``grader.grade`` runs :func:`main` (``python -m grader.grade_one JOB.json
RESULT.json``) for every submission in a process of its own, forked from a
warm template by default (:mod:`grader.worker_pool`), so that nothing one
notebook does (a duplicated graded cell, a crash, a runaway kernel) can stop
or change the grading of another.
Steps: repair the submission against the release (:mod:`grader.repair`),
put it in a private copy of the assignment's graded course, autograde it with
real nbgrader in the sandbox kernel (:mod:`grader.sandbox_kernel`,
:mod:`grader.execution`), read the scores from that gradebook, and render
the feedback with hidden tests hidden (:mod:`grader.feedback`).
"""

from __future__ import annotations

import sys
import time

if __name__ == "__main__":
    # jsonschema (imported by nbformat) imports rfc3987_syntax when it is
    # installed, only to check the "iri" string format, which notebooks never
    # use; building its grammar costs ~1.7 s of CPU in every worker. A worker
    # is a process of its own: doing without it changes nothing else.
    sys.modules.setdefault("rfc3987_syntax", None)

import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import nbformat

from .cells import SOLUTION, exercise_of, graded_points, nbgrader_meta, role
from .feedback import hide_hidden_tests
from .library_versions import copied_from
from .nbgrader_helpers import REPO_ROOT, NbgraderError, ThrowawayCourse, check_cell_metadata_cheaply, load_course_config
from .repair import Release, repair_file
from .sandbox_kernel import SandboxPolicy, install_kernel_spec, interpreter_paths, process_tree
from .settings import GradingSettings
from .statuses import EXECUTION_PROBLEMS, GradeStatus, RepairStatus

_DEFAULTS = GradingSettings()


@dataclass
class GradeJob:
    """Everything a worker needs; written as JSON by the orchestrator."""

    student: str
    assignment: str
    submitted: str  # the file as handed in
    template: str  # a generated throwaway course of the assignment (with its gradebook)
    release: str  # the release notebook
    source: str  # the source notebook (for hiding hidden tests in feedback)
    data_dir: str  # RECSYS_COURSE_DATA for the kernel
    feedback_html: str  # where the feedback goes
    cell_timeout: int = _DEFAULTS.cell_timeout
    notebook_timeout: int = _DEFAULTS.notebook_timeout
    memory_mb: int = _DEFAULTS.memory_mb
    show_hidden_code: bool = _DEFAULTS.show_hidden_code
    # Where the private copy of the course (gradebook, sources) goes; the kernel
    # sees only its own submission folder in it. Empty: the system's temp folder.
    courses_dir: str = ""
    # False (the default): the notebook runs on the small synthetic data set
    # (grading_data_dir), not on data_dir's MovieLens; the feedback says so.
    # RECSYS_GRADER_FULL_DATA=1 when the job is made: data_dir as it is.
    full_data: bool = field(default_factory=lambda: os.environ.get("RECSYS_GRADER_FULL_DATA") == "1")
    # False (the default): the cells no graded cell depends on are not run (grader.cell_dependencies).
    run_every_cell: bool = field(default_factory=lambda: os.environ.get("RECSYS_GRADER_RUN_EVERY_CELL") == "1")
    # Where each cell's reading (grader.cell_dependencies) is kept for the run's other notebooks.
    # Empty: courses_dir/.cell-analysis (a Dask task, whose courses_dir is its own, names its node's).
    cell_analysis_cache: str = ""
    # Where the small data set is made once for the run's notebooks (grading_data_dir). Empty:
    # courses_dir/.small-data (a Dask task, whose courses_dir is its own, names its node's).
    small_data_dir: str = ""


@dataclass
class GradeResult:
    student: str
    assignment: str
    status: GradeStatus
    message: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # grade_id -> points
    max_scores: dict[str, float] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    isolation: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step (benchmarks/bench_grading.py)
    # Graded cells that are written answers, not tests: grade_id -> flagged for a human to grade.
    written_answers: dict[str, bool] = field(default_factory=dict)
    # For the instructor to look at, not scored: answers copied from the library's source.
    review: list[str] = field(default_factory=list)
    # What the sandbox could not provide on this platform (grader.sandbox_kernel.MISSING).
    isolation_missing: list[str] = field(default_factory=list)
    # How the kernel started: "zygote" (forked, grader.kernel_zygote) or "process" (a Python of its own).
    kernel: str = ""
    # The data the notebook ran on: "small synthetic (...)" or "full (<folder>)".
    data: str = ""


def execution_problems(notebook: nbformat.NotebookNode) -> list[tuple[GradeStatus, str]]:
    """(status, message) for each kind of trouble the executed notebook shows."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                texts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
    found = []
    for status, needle in EXECUTION_PROBLEMS:
        hit = next((text for text in texts if needle in text), None)
        if hit:
            message = hit.splitlines()[0][:300]
            if message.rstrip().endswith(":"):  # nbgrader's timeout error has no text of its own
                message = message.rstrip() + " a cell ran longer than the per-cell timeout (--cell-timeout)"
            if all(message != seen for _, seen in found):
                found.append((status, message))
    return found


def kernel_environment(job: GradeJob, work: Path, report: Path) -> dict[str, str]:
    """Variables for nbgrader and, through it, the sandboxed kernel.

    The kernel's home, IPython and matplotlib folders, its connection file and
    its Unix sockets are in ``work/kernel`` (:func:`kernel_folder`), the one
    folder of ``work`` the sandbox shows it; the kernel spec, its policy and
    the sandbox report stay in ``work``, out of its sight.
    """
    kernel = kernel_folder(work)
    return {
        "JUPYTER_PATH": str(work / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(kernel / "runtime"),
        "RECSYS_GRADER_KERNEL_IPC_DIR": str(kernel / "runtime"),
        "IPYTHONDIR": str(kernel / "ipython"),
        "MPLCONFIGDIR": str(kernel / "matplotlib"),
        "HOME": str(kernel / "home"),
        "PYTHONPATH": str(REPO_ROOT),  # nbgrader_config.py imports grader.execution
        "RECSYS_COURSE_DATA": job.data_dir,
        "RECSYS_GRADER_GUARDED": "1",
        "RECSYS_GRADER_SANDBOX_REPORT": str(report),
        "RECSYS_COURSE_CELL_TIMEOUT": str(job.cell_timeout),
        "RECSYS_GRADER_NOTEBOOK_TIMEOUT": str(job.notebook_timeout),
        # Each cell's reading (grader.cell_dependencies), shared by the notebooks of this run.
        "RECSYS_GRADER_CELL_ANALYSIS_CACHE": job.cell_analysis_cache or (
            str(Path(job.courses_dir) / ".cell-analysis") if job.courses_dir else ""),
        "RECSYS_GRADER_RUN_EVERY_CELL": "1" if job.run_every_cell else "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def kernel_folder(work: Path) -> Path:
    """The kernel's private, writable folder inside a worker's scratch folder (created)."""
    kernel = work / "kernel"
    for part in ("home", "runtime", "ipython", "matplotlib"):
        (kernel / part).mkdir(parents=True, exist_ok=True)
    return kernel


def sandbox_policy(job: GradeJob, submission_folder: Path, work: Path, report: Path) -> SandboxPolicy:
    """What the kernel may see: Python and its packages, the library and the data (read-only),
    the submission's folder and its private folder (writable). Nothing else exists for it."""
    return SandboxPolicy(
        read_only=sorted({*interpreter_paths(), job.data_dir, *library_paths()}),
        writable=[str(submission_folder), str(kernel_folder(work))],
        memory_mb=job.memory_mb, report_file=str(report))


def library_paths() -> list[str]:
    """Folders of the course's helper library (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("recsys_course")
    if spec is None or not spec.submodule_search_locations:
        return [str(REPO_ROOT / "recsys_course")]
    return [os.path.realpath(folder) for folder in spec.submodule_search_locations]


def library_copies(notebook: nbformat.NotebookNode) -> list[str]:
    """``copied from recsys_course.x.f (f_solution)`` for each answer cell that copies the library."""
    found = []
    for cell in notebook.cells:
        grade_id = nbgrader_meta(cell).get("grade_id", "")
        if cell.cell_type == "code" and role(cell) == SOLUTION:
            source = copied_from(cell.source, exercise_of(grade_id))
            if source:
                found.append(f"copied from {source} ({grade_id})")
    return found


class _Clock:
    """Seconds spent in each step, recorded into ``timings``."""

    def __init__(self, timings: dict[str, float]):
        self.timings, self.last = timings, time.monotonic()

    def lap(self, step: str) -> None:
        now = time.monotonic()
        self.timings[step] = round(now - self.last, 3)
        self.last = now


class _LogCapture(logging.Handler):
    """Keeps what nbgrader logs at warning level and above, for the error message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"[{record.levelname}] {record.getMessage()}")


def run_converter(step: str, course: ThrowawayCourse, assignment: str, student: str) -> None:
    """Run nbgrader's ``autograde`` or ``generate_feedback`` step in this process.

    What ``nbgrader <step> --assignment=A --student=S --force`` does with the
    course configuration, without a Python start-up, an nbgrader import and a
    configuration load per step: the same converter class, the same config
    (``grader/nbgrader_config.py`` read with the course's environment), the
    same gradebook. The worker is a process of its own per notebook, so
    changing its environment and working folder is private to it; the kernel
    inherits that environment (the sandbox, the data folder, the timeouts).
    Raises :class:`NbgraderError` with nbgrader's logged errors on failure.
    """
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    check_cell_metadata_cheaply()

    env = course.env
    os.environ.update(env)
    os.chdir(course.root)
    config = load_course_config(env)
    config.BaseConverter.force = True
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id, coursedir.student_id = assignment, student
    capture = _LogCapture()
    log = logging.getLogger(f"recsys-grader.{step}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers = [capture]
    converter_class = {"autograde": Autograde, "generate_feedback": GenerateFeedback}[step]
    converter = converter_class(coursedir=coursedir, config=config, log=log)
    try:
        converter.start()
    except (NbGraderException, SystemExit) as error:
        log_text = "\n".join(capture.lines) or str(error)
        raise NbgraderError(f"nbgrader {step} failed:\n{log_text[-6000:]}") from None


def start_watchdog(job: GradeJob, result_file: Path | None) -> threading.Timer | None:
    """Stop this worker and everything it started once the notebook's time is long over.

    nbgrader runs in this process, so no subprocess timeout stops it: when
    ``notebook_timeout + 180`` s have passed, the kernel (in a session of its
    own, so a process-group kill would miss it) and every other descendant are
    killed, the result says ``notebook_timeout``, and the worker exits.
    """
    if result_file is None:
        return None
    limit = job.notebook_timeout + 180

    def fire() -> None:
        result = GradeResult(job.student, job.assignment, GradeStatus.NOTEBOOK_TIMEOUT,
                             f"grading took longer than {limit} s and was stopped")
        result_file.write_text(json.dumps(asdict(result), indent=1))
        me = os.getpid()
        for pid in process_tree(me):
            if pid != me:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        os._exit(0)

    timer = threading.Timer(limit, fire)
    timer.daemon = True
    timer.start()
    return timer


def copy_template(template: Path, root: Path, assignment: str) -> None:
    """The assignment's part of the generated course: its source, release and gradebook."""
    for part in ("solutions", "notebooks"):
        if (template / part / assignment).is_dir():
            shutil.copytree(template / part / assignment, root / part / assignment)
    (root / "grading").mkdir(parents=True)
    shutil.copyfile(template / "grading" / "gradebook.db", root / "grading" / "gradebook.db")


def grade(job: GradeJob) -> GradeResult:
    """Repair, autograde, score and give feedback on one notebook (nbgrader runs in this process)."""
    cwd = os.getcwd()
    try:
        return _grade(job)
    finally:
        os.chdir(cwd)  # run_converter works inside the course, which is deleted by now


SMALL_DATA = {"num_users": 50, "num_movies": 80, "num_ratings": 1200}  # recsys_course.synthetic's defaults
SMALL_DATA_NOTE = (
    "**Graded on a small data set.** The grader ran this notebook on a synthetic data set in "
    "MovieLens 100K's format ({num_users} users, {num_movies} movies, {num_ratings:,} ratings), not on "
    "MovieLens itself: the tests give your functions inputs of their own and do not need the real data, "
    "and the demonstrations then take a fraction of a second. Numbers, charts and training curves below "
    "therefore differ from the ones you saw; your points do not depend on them.")
LEFT_OUT_CELLS_NOTE = (
    "**Cells left out.** The grader did not run the cells that no graded cell depends on (demonstrations: "
    "charts, timings, models trained to show something); each of them says so below. Which cells these are "
    "was read from the code: a cell runs whenever a later graded cell uses anything it makes or changes.")


def grading_data_dir(job: GradeJob) -> tuple[str, str]:
    """The data folder the kernel reads, and how the result names it.

    By default a small synthetic data set (made once, next to the private
    courses, or in ``job.small_data_dir``): the hidden tests draw inputs of their own, so only
    the demonstrations see the data, and on MovieLens they train models for
    seconds to minutes in every graded copy. ``full_data``: ``job.data_dir``.
    """
    if job.full_data:
        return job.data_dir, f"full ({job.data_dir})"
    from recsys_course.fetch import make_synthetic_movielens

    base = Path(job.courses_dir) if job.courses_dir else Path(tempfile.gettempdir()) / f"recsys-grader-{os.getuid()}"
    target = Path(job.small_data_dir) if job.small_data_dir else base / ".small-data"
    # One worker makes it, the others reuse it: make_synthetic_movielens installs under a lock of its own.
    folder = make_synthetic_movielens(target, **SMALL_DATA).folder.parent
    return str(folder), "small synthetic ({num_users} users, {num_movies} movies, {num_ratings} ratings)".format(
        **SMALL_DATA)


def _grade(job: GradeJob) -> GradeResult:
    result = GradeResult(job.student, job.assignment, status=GradeStatus.ERROR)
    clock = _Clock(result.timings)
    data_dir, result.data = grading_data_dir(job)
    job = replace(job, data_dir=data_dir)
    release = Release.load(Path(job.release))
    repaired = repair_file(Path(job.submitted), release)
    clock.lap("repair")
    result.repairs = repaired.describe()
    if not repaired.gradable:
        # Nothing ran: every graded cell scores 0, out of the notebook's maximum.
        result.status, result.message = GradeStatus(repaired.status.value), repaired.message
        result.max_scores = graded_points(nbformat.read(job.source, as_version=4))
        result.scores = dict.fromkeys(result.max_scores, 0.0)
        return result
    result.review = library_copies(repaired.notebook)

    if job.courses_dir:
        Path(job.courses_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"grade-{job.student}-") as scratch, \
            tempfile.TemporaryDirectory(prefix=f"{job.student}-", dir=job.courses_dir or None) as private:
        work = Path(scratch)
        course = ThrowawayCourse(root=Path(private) / "course")
        copy_template(Path(job.template), course.root, job.assignment)
        course.submit(job.assignment, job.student, repaired.notebook)
        autograded = course.autograded_notebook(job.assignment, job.student)
        report = work / "sandbox-report.json"
        install_kernel_spec(work / "jupyter", sandbox_policy(job, autograded.parent, work, report))
        course.kernel_env = kernel_environment(job, work, report)
        clock.lap("prepare")
        try:
            run_converter("autograde", course, job.assignment, job.student)
            clock.lap("autograde")
        except NbgraderError as error:
            errors = [line for line in str(error).splitlines() if "ERROR" in line or "Error" in line]
            result.message = " | ".join(errors[-3:])[:500] or str(error)[-500:]
            return result
        for grade_id, score in course.scores(job.assignment, job.student).items():
            result.scores[grade_id] = float(score.auto_score or 0)
            result.max_scores[grade_id] = float(score.max_score)
            if not score.is_test:
                result.written_answers[grade_id] = bool(score.needs_manual_grade)
        executed = nbformat.read(autograded, as_version=4)
        clock.lap("scores")
        problems = execution_problems(executed)
        sandbox = json.loads(report.read_text()) if report.exists() else {}
        result.isolation = sandbox.get("isolation", "")
        result.isolation_missing = sandbox.get("missing", [])
        result.kernel = sandbox.get("kernel", "")
        if "kernel_cpu_seconds" in sandbox:  # known for kernels forked from the zygote
            result.timings["kernel_cpu"] = sandbox["kernel_cpu_seconds"]
        if problems:
            result.status = problems[0][0]
            result.message = "; ".join(message for _, message in problems)
        else:
            result.status = GradeStatus.REPAIRED if repaired.status == RepairStatus.REPAIRED else GradeStatus.GRADED
            result.message = "; ".join(repaired.describe()[:5]) if repaired.status == RepairStatus.REPAIRED else ""
        write_feedback(course, job, executed, autograded)
        clock.lap("feedback")
    return result


def write_feedback(course: ThrowawayCourse, job: GradeJob, executed, autograded: Path) -> None:
    """Render nbgrader's feedback HTML, hidden tests reduced to their verdicts by default."""
    if not job.show_hidden_code:
        hide_hidden_tests(executed, nbformat.read(job.source, as_version=4))
    notes = [] if job.full_data else [SMALL_DATA_NOTE.format(**SMALL_DATA)]
    notes += [] if job.run_every_cell else [LEFT_OUT_CELLS_NOTE]
    if notes:
        executed.cells.insert(0, nbformat.v4.new_markdown_cell("\n\n".join(notes)))
    if not job.show_hidden_code or notes:
        nbformat.write(executed, autograded)
    run_converter("generate_feedback", course, job.assignment, job.student)
    html = course.root / course.config.CourseDirectory.feedback_directory / job.student / job.assignment
    rendered = next(html.glob("*.html"), None)
    if rendered is not None:
        Path(job.feedback_html).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rendered, job.feedback_html)


def main(argv: list[str]) -> int:
    job = GradeJob(**json.loads(Path(argv[0]).read_text()))
    result_file = Path(argv[1]).resolve()
    start_watchdog(job, result_file)
    try:
        result = grade(job)
    except Exception as error:  # noqa: BLE001 -- one notebook's failure is its own status
        result = GradeResult(job.student, job.assignment, GradeStatus.ERROR, f"{type(error).__name__}: {error}"[:500])
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    result.timings["worker_cpu"] = round(own.ru_utime + own.ru_stime, 3)  # this process, not its kernel
    result_file.write_text(json.dumps(asdict(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
