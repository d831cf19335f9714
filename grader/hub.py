"""The course on nbgrader's own path (JupyterHub): exchange, collect, autograde, formgrader, feedback.

On a hub, students fetch and submit from the Assignments tab and the
instructor works with nbgrader's commands and its formgrader. Everything
there is plain nbgrader with the course's configuration, except one step:
autograding, which must run the students' code the way ``grade`` does. So
instead of ``nbgrader autograde`` the instructor runs::

    python -m grader.hub autograde ASSIGNMENT [--student ID ...]

which runs ``nbgrader autograde ASSIGNMENT --student ID --force`` once per
student, each in a process of its own, with what ``grade`` adds
(:mod:`grader.grade_one`): the submission is first repaired against the
release (:class:`RepairSubmission`: metadata Colab stripped, cells deleted,
duplicated or moved, tests edited), the kernel runs in the allow-list sandbox
with a memory cap (:mod:`grader.sandbox_kernel`: it sees its own folder, the
library and the data, not the course, the gradebook or other students), and
:class:`grader.execution.GuardedExecute` runs the cells (a deadline for the
whole notebook, a dead kernel that does not pass the tests after it, stderr
that cannot fail a test, a tamper guard). The scores land in the course's
gradebook, where the formgrader shows them, and a line per student says its
points, anything that went wrong, and answers copied from the library.

Feedback is nbgrader's ``generate_feedback``: the course's configuration adds
:class:`HideHiddenTestsInFeedback`, so students see each hidden test's verdict,
not its code (as in ``grade``'s feedback).

``python -m grader.hub config --exchange DIR [--to FILE]`` writes an
``nbgrader_config.py`` that loads ``grader/nbgrader_config.py`` and names the
exchange folder: at the course root (read by nbgrader's commands started
there) or, with ``--to ~/.jupyter/nbgrader_config.py``, where the
formgrader finds it whatever folder the instructor's server starts in.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .nbgrader_helpers import (
    CONFIG_FILE, REPO_ROOT, NbgraderError, course_root, load_course_config, nbgrader_env, run_nbgrader,
)
from .settings import GradingSettings

COURSE_ID = "recsys_movielens"  # c.CourseDirectory.course_id of grader/nbgrader_config.py
HUB_ENV = "RECSYS_GRADER_HUB"  # set by `python -m grader.hub autograde` for the nbgrader it runs


# --- Preprocessors the course configuration adds to nbgrader's steps -------------------------


def _course_notebook(preprocessor: Preprocessor, resources: dict, step_directory: str) -> Path:
    """``<root>/<step_directory>/<assignment>/<notebook>.ipynb`` of the notebook being processed."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=preprocessor.config)
    info = resources["nbgrader"]
    folder = coursedir.format_path(getattr(coursedir, step_directory), ".", info["assignment"])
    return Path(folder) / f"{info['notebook']}.ipynb"


class RepairSubmission(Preprocessor):
    """Autograde's first sanitizing step: the submission, repaired against the release.

    What ``grade`` does before nbgrader sees a notebook (:mod:`grader.repair`):
    answers transplanted into a fresh copy of the release, so stripped metadata,
    cells changed to markdown, deleted, duplicated or moved and edited tests do
    not cost points or abort the batch. A notebook that is not the assignment's
    stops its own autograde with the reason.
    """

    enabled = Bool(True).tag(config=True)  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        from .repair import Release, repair_submission

        release = _course_notebook(self, resources, "release_directory")
        student = resources["nbgrader"]["student"]
        repaired = repair_submission(nbformat.writes(nb), Release.load(release))
        if not repaired.gradable:
            raise ValueError(f"{student}: {repaired.status}: {repaired.message}")
        for message in repaired.describe():
            self.log.warning("%s: repaired: %s", student, message)
        return repaired.notebook, resources


class HideHiddenTestsInFeedback(Preprocessor):
    """generate_feedback: each hidden test cell shows its docstring and verdict, not its code.

    :func:`grader.feedback.hide_hidden_tests` with the assignment's source
    notebook (it knows which cells hold hidden tests). ``show_hidden_code``
    turns it off (``--HideHiddenTestsInFeedback.show_hidden_code=True``).
    """

    enabled = Bool(True).tag(config=True)
    show_hidden_code = Bool(False, help="Show hidden tests' code in feedback, as nbgrader does.").tag(config=True)

    def preprocess(self, nb, resources):
        from .feedback import hide_hidden_tests

        if not self.show_hidden_code:
            source = _course_notebook(self, resources, "source_directory")
            hide_hidden_tests(nb, nbformat.read(source, as_version=4))
        return nb, resources


# --- python -m grader.hub autograde -------------------------------------------------------------


def submitted_students(root: Path, env: dict[str, str], assignment: str) -> list[str]:
    """Students with a collected submission of ``assignment`` (``submitted/<student>/<assignment>/``)."""
    config = load_course_config(env).CourseDirectory
    submitted = root / config.submitted_directory
    if not submitted.is_dir():
        return []
    return sorted(folder.name for folder in submitted.iterdir() if (folder / assignment).is_dir())


def autograde_student(root: Path, env: dict[str, str], assignment: str, student: str,
                      settings: GradingSettings) -> dict[str, object]:
    """``nbgrader autograde`` of one student's submission, sandboxed as ``grade`` does; its result."""
    from types import SimpleNamespace

    from .grade_one import execution_problems, grading_data_dir, kernel_environment, library_copies, sandbox_policy
    from .sandbox_kernel import install_kernel_spec

    config = load_course_config(env).CourseDirectory
    autograded = root / config.autograded_directory / student / assignment
    # The data `grade` gives the notebooks: its small synthetic set, or with
    # RECSYS_GRADER_FULL_DATA=1 the data folder (--data, else the course's).
    data_dir, _ = grading_data_dir(SimpleNamespace(
        full_data=os.environ.get("RECSYS_GRADER_FULL_DATA") == "1", data_dir=settings.resolved_data_dir(),
        courses_dir="", small_data_dir=""))
    job = SimpleNamespace(data_dir=data_dir, memory_mb=settings.memory_mb,
                          cell_timeout=settings.cell_timeout, notebook_timeout=settings.notebook_timeout,
                          run_every_cell=settings.run_every_cell, courses_dir="", cell_analysis_cache="")
    with tempfile.TemporaryDirectory(prefix=f"hub-{student}-") as scratch:
        work = Path(scratch)
        report = work / "sandbox-report.json"
        install_kernel_spec(work / "jupyter", sandbox_policy(job, autograded, work, report))
        student_env = {**env, **kernel_environment(job, work, report), HUB_ENV: "1"}
        student_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        done = run_nbgrader(["autograde", f"--assignment={assignment}", f"--student={student}", "--force"],
                            student_env, timeout=settings.notebook_timeout + 300)
    marker = f"{student}: repaired: "
    repairs = [line.split(marker, 1)[1] for line in (done.stdout + done.stderr).splitlines() if marker in line]
    notebooks = sorted(autograded.glob("*.ipynb"))
    problems, review = [], []
    for path in notebooks:
        executed = nbformat.read(path, as_version=4)
        problems += [message for _, message in execution_problems(executed)]
        review += library_copies(executed)
    return {"student": student, "repairs": repairs, "problems": problems, "review": review}


def gradebook_scores(env: dict[str, str], assignment: str, student: str) -> tuple[float, float]:
    """(points, maximum) of a student's autograded submission, from the course's gradebook."""
    from nbgrader.api import Gradebook

    config = load_course_config(env).CourseDirectory
    with Gradebook(config.db_url, config.course_id) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return float(submission.score), float(submission.max_score)


def autograde(assignment: str, students: list[str] | None = None,
              settings: GradingSettings | None = None) -> list[dict[str, object]]:
    """Autograde the collected submissions of ``assignment`` (all, or ``students``); print one line each."""
    settings = settings or GradingSettings()
    root = course_root()
    grading = os.environ.get("RECSYS_COURSE_GRADING_DIR")
    env = nbgrader_env(root, Path(grading) if grading else None)
    students = students or submitted_students(root, env, assignment)
    if not students:
        raise SystemExit(f"no collected submissions of {assignment}: run `nbgrader collect {assignment}` first")
    results = []
    for number, student in enumerate(students, 1):
        try:
            result = autograde_student(root, env, assignment, student, settings)
        except (NbgraderError, subprocess.TimeoutExpired) as error:
            # One student's notebook (unreadable, not this assignment's) stops only their own grading.
            errors = [line for line in str(error).splitlines() if "ERROR" in line or "Error" in line]
            message = " | ".join(errors[-3:])[:500] or str(error)[-500:]
            print(f"[{number}/{len(students)}] {student} {assignment}: not graded: {message}", flush=True)
            results.append({"student": student, "error": message})
            continue
        points, maximum = gradebook_scores(env, assignment, student)
        result.update(points=points, max_points=maximum)
        notes = "; ".join([*(f"repaired: {r}" for r in result["repairs"][:3]), *result["problems"], *result["review"]])
        print(f"[{number}/{len(students)}] {student} {assignment}: {points:g}/{maximum:g}"
              + (f"  ({notes})" if notes else ""), flush=True)
        results.append(result)
    return results


# --- python -m grader.hub config ------------------------------------------------------------------

ROOT_CONFIG = '''\
"""nbgrader configuration of the course on a hub (written by `python -m grader.hub config`).

The course's own configuration, and the exchange folder students fetch from and submit to.
"""

c = get_config()  # noqa: F821
load_subconfig({config!r})  # noqa: F821
c.Exchange.root = {exchange!r}
'''


STUDENT_CONFIG = '''\
"""nbgrader configuration for students (written by `python -m grader.hub student-config`).

On a hub: the system-wide /etc/jupyter/nbgrader_config.py of the students' servers.
"""

c = get_config()  # noqa: F821
{exchange}\
# Validation (`nbgrader validate`, the Validate button) runs the whole notebook.
# nbgrader's defaults give a cell 30 s, and stop validating with a fatal error
# when a cell's output arrives more than 4 s after the cell finished: training
# cells redraw their progress line many times, and on a busy machine that output
# lags. The course's grader allows the same (grader/nbgrader_config.py).
c.Execute.timeout = 300
c.Execute.iopub_timeout = 60
'''


def student_config(exchange: Path | None = None) -> str:
    """The students' nbgrader configuration: the exchange and the course (on a hub), validation's limits."""
    names = (f"c.Exchange.root = {str(exchange)!r}\nc.CourseDirectory.course_id = {COURSE_ID!r}\n"
             if exchange is not None else "")
    return STUDENT_CONFIG.format(exchange=names)


def write_config(path: Path, exchange: Path) -> Path:
    """An ``nbgrader_config.py`` at ``path`` that loads the course configuration and names the exchange."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ROOT_CONFIG.format(config=str(CONFIG_FILE), exchange=str(exchange)))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.hub", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("autograde", help="autograde collected submissions as `grade` does")
    grade.add_argument("assignment")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    defaults = GradingSettings()
    grade.add_argument("--data", type=Path, help="data folder for the kernels with RECSYS_GRADER_FULL_DATA=1 "
                                                 "(default: the course's); otherwise grade's small synthetic set")
    grade.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="seconds per cell")
    grade.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout,
                       help="seconds per notebook")
    grade.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="memory cap per notebook")
    config = commands.add_parser("config", help="write nbgrader_config.py at the course root")
    config.add_argument("--exchange", type=Path, default=Path("/srv/nbgrader/exchange"),
                        help="nbgrader's exchange folder (default: /srv/nbgrader/exchange)")
    config.add_argument("--to", type=Path, help="where to write it (default: <course root>/nbgrader_config.py; "
                                               "~/.jupyter/nbgrader_config.py serves every folder)")
    students = commands.add_parser("student-config", help="write the students' nbgrader_config.py")
    students.add_argument("--exchange", type=Path, default=Path("/srv/nbgrader/exchange"),
                          help="nbgrader's exchange folder (default: /srv/nbgrader/exchange)")
    students.add_argument("--to", type=Path, default=Path("nbgrader_config.py"),
                          help="where to write it (on a hub: /etc/jupyter/nbgrader_config.py)")
    args = parser.parse_args(argv)
    if args.command == "student-config":
        target = args.to.expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(student_config(args.exchange.resolve()))
        print(f"wrote {target}")
        return 0
    if args.command == "config":
        target = args.to.expanduser() if args.to else course_root() / "nbgrader_config.py"
        print(f"wrote {write_config(target, args.exchange.resolve())}")
        return 0
    settings = GradingSettings(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                               memory_mb=args.memory_mb, data_dir=args.data)
    results = autograde(args.assignment, args.student, settings)
    return 1 if any("error" in result for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
