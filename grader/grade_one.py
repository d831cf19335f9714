"""Grade one notebook of one student, in a process of its own.

``grader.grade`` runs ``python -m grader.grade_one JOB.json RESULT.json`` for
every submission, so that nothing one notebook does (a duplicated graded
cell, a crash, a runaway kernel) can stop or change the grading of another.
Steps: repair the submission against the release (:mod:`grader.repair`),
put it in a private copy of the assignment's graded course, autograde it with
real nbgrader in the sandbox kernel (:mod:`grader.sandbox_kernel`,
:mod:`grader.execution`), read the scores from that gradebook, and render
the feedback with hidden tests hidden (:mod:`grader.feedback`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from .execution import INTEGRITY_ERROR
from .feedback import hide_hidden_tests
from .nbgrader_helpers import REPO_ROOT, NbgraderError, ThrowawayCourse, run_nbgrader
from .repair import Release, repair_file
from .sandbox_kernel import SandboxPolicy, install_kernel_spec

# Most severe first: the status a notebook gets is the first that applies.
EXECUTION_STATUSES = (
    ("tampering_detected", INTEGRITY_ERROR),
    ("memory_limit", "memory limit exceeded"),
    ("kernel_died", "DeadKernelError"),
    ("notebook_timeout", "ran out of time"),
    ("cell_timeout", "CellTimeoutError"),
)


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
    hide: list[str] = field(default_factory=list)  # folders the kernel must not see
    cell_timeout: int = 120
    notebook_timeout: int = 600
    memory_mb: int = 4096
    show_hidden_code: bool = False


@dataclass
class GradeResult:
    student: str
    assignment: str
    status: str
    message: str = ""
    scores: dict[str, float] = field(default_factory=dict)  # grade_id -> points
    max_scores: dict[str, float] = field(default_factory=dict)
    repairs: list[str] = field(default_factory=list)
    isolation: str = ""


def execution_problems(notebook: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(status, message) for each kind of trouble the executed notebook shows."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                texts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
    found = []
    for status, needle in EXECUTION_STATUSES:
        hit = next((text for text in texts if needle in text), None)
        if hit:
            message = hit.splitlines()[0][:300]
            if message.rstrip().endswith(":"):  # nbgrader's timeout error has no text of its own
                message = message.rstrip() + " a cell ran longer than the per-cell timeout (--cell-timeout)"
            if all(message != seen for _, seen in found):
                found.append((status, message))
    return found


def kernel_environment(job: GradeJob, work: Path, report: Path) -> dict[str, str]:
    """Variables for nbgrader and, through it, the sandboxed kernel."""
    home = work / "home"
    home.mkdir(exist_ok=True)
    return {
        "JUPYTER_PATH": str(work / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "IPYTHONDIR": str(work / "ipython"),
        "MPLCONFIGDIR": str(work / "matplotlib"),
        "HOME": str(home),
        "PYTHONPATH": str(REPO_ROOT),  # nbgrader_config.py imports grader.execution
        "RECSYS_COURSE_DATA": job.data_dir,
        "RECSYS_GRADER_GUARDED": "1",
        "RECSYS_GRADER_SANDBOX_REPORT": str(report),
        "RECSYS_COURSE_CELL_TIMEOUT": str(job.cell_timeout),
        "RECSYS_GRADER_NOTEBOOK_TIMEOUT": str(job.notebook_timeout),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }


def grade(job: GradeJob) -> GradeResult:
    result = GradeResult(job.student, job.assignment, status="error")
    release = Release.load(Path(job.release))
    repaired = repair_file(Path(job.submitted), release)
    result.repairs = repaired.describe()
    if not repaired.gradable:
        result.status, result.message = repaired.status, repaired.message
        return result

    with tempfile.TemporaryDirectory(prefix=f"grade-{job.student}-") as scratch:
        work = Path(scratch)
        course = ThrowawayCourse(root=work / "course")
        shutil.copytree(job.template, course.root)
        course.submit(job.assignment, job.student, repaired.notebook)
        autograded = course.autograded_notebook(job.assignment, job.student)
        report = work / "sandbox-report.json"
        policy = SandboxPolicy(
            hide=[*job.hide, str(course.root), str(Path.home())],
            keep_read_only=sorted({sys.prefix, os.path.realpath(sys.base_prefix), job.data_dir,
                                   str(REPO_ROOT / "recsys_course")}),
            keep_writable=[str(autograded.parent)],
            memory_mb=job.memory_mb, report_file=str(report))
        install_kernel_spec(work / "jupyter", policy)
        course.kernel_env = kernel_environment(job, work, report)
        try:
            course.autograde(job.assignment, job.student, timeout=job.notebook_timeout + 180)
        except subprocess.TimeoutExpired:
            result.status = "notebook_timeout"
            result.message = f"grading took longer than {job.notebook_timeout + 180} s and was stopped"
            return result
        except NbgraderError as error:
            errors = [line for line in str(error).splitlines() if "ERROR" in line or "Error" in line]
            result.message = " | ".join(errors[-3:])[:500] or str(error)[-500:]
            return result
        for grade_id, score in course.scores(job.assignment, job.student).items():
            result.scores[grade_id] = float(score.auto_score or 0)
            result.max_scores[grade_id] = float(score.max_score)
        executed = nbformat.read(autograded, as_version=4)
        problems = execution_problems(executed)
        sandbox = json.loads(report.read_text()) if report.exists() else {}
        result.isolation = sandbox.get("isolation", "")
        if problems:
            result.status = problems[0][0]
            result.message = "; ".join(message for _, message in problems)
        else:
            result.status = "repaired" if repaired.status == "repaired" else "graded"
            result.message = "; ".join(repaired.describe()[:5]) if repaired.status == "repaired" else ""
        write_feedback(course, job, executed, autograded)
    return result


def write_feedback(course: ThrowawayCourse, job: GradeJob, executed, autograded: Path) -> None:
    """Render nbgrader's feedback HTML, hidden tests reduced to their verdicts by default."""
    if not job.show_hidden_code:
        hide_hidden_tests(executed, nbformat.read(job.source, as_version=4))
        nbformat.write(executed, autograded)
    run_nbgrader(["generate_feedback", f"--assignment={job.assignment}", f"--student={job.student}",
                  "--force"], course.env)
    html = course.root / course.config.CourseDirectory.feedback_directory / job.student / job.assignment
    rendered = next(html.glob("*.html"), None)
    if rendered is not None:
        Path(job.feedback_html).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rendered, job.feedback_html)


def main(argv: list[str]) -> int:
    job = GradeJob(**json.loads(Path(argv[0]).read_text()))
    try:
        result = grade(job)
    except Exception as error:  # noqa: BLE001 -- one notebook's failure is its own status
        result = GradeResult(job.student, job.assignment, "error", f"{type(error).__name__}: {error}"[:500])
    Path(argv[1]).write_text(json.dumps(asdict(result), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
