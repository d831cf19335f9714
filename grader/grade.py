"""Grade a whole class from an LMS export with one command.

    grade SUBMISSIONS [--assignment 03_measuring_error ...] [--jobs 2] [--out grading-output]
    grade SUBMISSIONS --scheduler tcp://HOST:PORT      # on the workers of a Dask cluster

SUBMISSIONS is a zip or a folder as Canvas, Moodle or Blackboard export it,
one folder per student, or anything with ``--mapping file.csv``
(:mod:`grader.submissions`). Each notebook is repaired against its release
(:mod:`grader.repair`) and autograded by real nbgrader with the source's
hidden tests, in a process and a sandboxed kernel of its own
(:mod:`grader.grade_one`), here (``--jobs``) or on Dask workers
(``--scheduler``, :mod:`grader.distributed`). The output folder gets:

- ``grades.csv``: one row per student: per notebook its points, maximum,
  status, message and review (answers copied from the library), and the
  points of each exercise; the total (:mod:`grader.sheet`);
- ``feedback/<student>/<assignment>.html``: feedback, hidden tests shown as
  verdicts only unless ``--show-hidden-code``;
- ``problems.csv``: every file of the export that could not be graded, and why;
- ``results/``: one JSON per graded notebook. A re-run grades only what is
  new or changed (the file, the source notebook or the settings).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from . import worker_pool
from .cells import graded_points
from .grade_one import GradeJob, GradeResult
from .nbgrader_helpers import (
    REPO_ROOT,
    ThrowawayCourse,
    course_root,
    list_assignments,
    release_notebook,
    source_notebook,
)
from .settings import GradingSettings
from .sheet import identities_of, write_problems, write_sheet
from .statuses import GradeStatus
from .submissions import collect_submissions


def file_digest(*paths: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


class Progress:
    """One line per finished notebook with the share done and an estimate of the time left."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.monotonic()

    def step(self, label: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done)
        print(f"[{self.done:>3}/{self.total}] {100 * self.done / self.total:5.1f}%  "
              f"ETA {int(left // 60)}m{int(left % 60):02d}s  {label}", flush=True)


def hidden_tests_digest(root: Path, assignment: str) -> str:
    """What an assignment's hidden tests are made of: its source and the helpers inlined at release.

    A change to ``grader/hidden_tests/`` changes the gradebook's test cells as
    surely as an edit of the source does: templates and results depend on both.
    """
    helpers = sorted((REPO_ROOT / "grader" / "hidden_tests").glob("*.py"))
    return file_digest(source_notebook(root, assignment), REPO_ROOT / "grader" / "inline_hidden_helpers.py", *helpers)


def prepare_templates(assignments: list[str], out: Path) -> dict[str, Path]:
    """A generated course per assignment: its source, release and gradebook (with the hidden tests).

    Regenerated only when the source notebook or the hidden-test helpers changed; the stale ones are
    generated together, in one nbgrader run (its start-up is paid once).
    """
    root = course_root()
    templates, stale = {}, {}
    for assignment in assignments:
        fingerprint = hidden_tests_digest(root, assignment)
        templates[assignment] = template = out / ".templates" / assignment
        stamp = template / ".source-sha256"
        if not (stamp.is_file() and stamp.read_text() == fingerprint):
            stale[assignment] = fingerprint
    if not stale:
        return templates
    (out / ".templates").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".generate-", dir=out / ".templates") as scratch:
        started = time.monotonic()
        print(f"generating the gradebook of {', '.join(sorted(stale))} with nbgrader "
              "(once per change of a source or of the hidden-test helpers) ...", end="", flush=True)
        course = ThrowawayCourse.create(Path(scratch) / "course", sorted(stale), source_root=root)
        course.generate("*")
        print(f" {time.monotonic() - started:.1f} s", flush=True)
        for assignment, fingerprint in stale.items():
            template = templates[assignment]
            if template.exists():
                shutil.rmtree(template)
            for part in ("solutions", "notebooks"):
                shutil.copytree(course.root / part / assignment, template / part / assignment)
            (template / "grading").mkdir()
            shutil.copyfile(course.grading_dir / "gradebook.db", template / "grading" / "gradebook.db")
            (template / ".source-sha256").write_text(fingerprint)
    return templates


def grade_job(job: GradeJob, timeout: float) -> dict:
    """Grade one notebook in a worker process of its own and return its result (a plain dict).

    Touches no results folder: the worker writes only the feedback page, to
    ``job.feedback_html``. Local runs (``--jobs``) call it in a thread, the
    distributed mode (:mod:`grader.distributed`) on a Dask worker.
    """
    with tempfile.TemporaryDirectory(prefix="job-") as scratch:
        job_file, result_file = Path(scratch) / "job.json", Path(scratch) / "result.json"
        job_file.write_text(json.dumps(asdict(job)))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        started = time.monotonic()
        try:
            worker_pool.run_grade_one(job_file, result_file, env=env, timeout=timeout, cwd=scratch)
            result = json.loads(result_file.read_text())
        except subprocess.TimeoutExpired:
            result = _nothing_graded(job, GradeStatus.NOTEBOOK_TIMEOUT, f"grading was stopped after {timeout:.0f} s")
        except (OSError, ValueError) as error:
            result = _nothing_graded(job, GradeStatus.ERROR, f"the grading process failed: {error}")
    # The worker's own steps are in its timings; "process" adds its start-up and exit.
    result.setdefault("timings", {})["process"] = round(time.monotonic() - started, 3)
    return result


def save_result(result: dict, key: str, results_dir: Path) -> dict:
    """Keep a result with its cache key, atomically: a crash never leaves half a result behind."""
    result["key"] = key
    target = results_dir / result["student"] / f"{result['assignment']}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.part")
    partial.write_text(json.dumps(result, indent=1))
    os.replace(partial, target)
    return result


def run_job(job: GradeJob, key: str, results_dir: Path, timeout: float) -> dict:
    """Grade one notebook locally and save its result."""
    return save_result(grade_job(job, timeout), key, results_dir)


def grade_here(queue: list[tuple[GradeJob, str]], results_dir: Path, timeout: float, jobs: int):
    """Grade ``queue`` (jobs and cache keys) on this machine, ``jobs`` at a time; yield each saved result."""
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_job, job, key, results_dir, timeout) for job, key in queue]
        for future in as_completed(futures):
            yield future.result()


def _nothing_graded(job: GradeJob, status: GradeStatus, message: str) -> dict:
    """The result of a worker that gave none: 0 on every graded cell, out of the notebook's maximum."""
    try:
        maximum = graded_points(json.loads(Path(job.source).read_text()))
    except (OSError, ValueError):
        maximum = {}
    return asdict(GradeResult(job.student, job.assignment, status, message,
                              scores=dict.fromkeys(maximum, 0.0), max_scores=maximum))


def grade_class(submissions: Path, out: Path, *, assignments: list[str] | None = None,
                mapping: Path | None = None, settings: GradingSettings | None = None,
                **overrides) -> list[dict]:
    """Grade every notebook of an export; write grades.csv, problems.csv and feedback into ``out``.

    ``settings`` (default :class:`GradingSettings`), with any of its fields
    given as keywords overriding it: ``grade_class(folder, out, jobs=2, memory_mb=2500)``.
    """
    unknown = set(overrides) - GradingSettings.field_names()
    if unknown:
        raise TypeError(f"grade_class() got unexpected keyword arguments {sorted(unknown)}")
    settings = (settings or GradingSettings()).with_(**overrides)
    root = course_root()
    assignments = assignments or [a for a in list_assignments(root) if release_notebook(root, a).is_file()]
    missing = [a for a in assignments if not release_notebook(root, a).is_file()]
    if missing:
        raise SystemExit(f"error: no release notebook for {', '.join(missing)}: run `python -m grader.release` first")
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    releases = {a: release_notebook(root, a) for a in assignments}
    intake_dir = out / "intake" / hashlib.sha256(str(submissions.resolve()).encode()).hexdigest()[:12]
    if intake_dir.exists():
        shutil.rmtree(intake_dir)
    started = time.monotonic()
    print(f"reading {submissions} ...", end="", flush=True)
    intake = collect_submissions(submissions, releases, mapping=mapping, workdir=intake_dir)
    print(f" {len(intake.records)} files, {time.monotonic() - started:.1f} s", flush=True)
    write_problems(intake.problems(), out / "problems.csv")
    todo = [s for s in intake.submissions if s.assignment in assignments]
    templates = prepare_templates(sorted({s.assignment for s in todo}), out)
    data_dir = settings.resolved_data_dir()
    fingerprint = settings.fingerprint()
    results_dir, feedback_dir = out / "results", out / "feedback"
    names = {s.student_id: s.display_name or s.student_id for s in todo}

    results, queue = [], []
    for record in todo:
        source = source_notebook(root, record.assignment)
        key = file_digest(record.path, extra=fingerprint + hidden_tests_digest(root, record.assignment))
        cached = results_dir / record.student_id / f"{record.assignment}.json"
        if cached.is_file():
            previous = json.loads(cached.read_text())
            if previous.get("key") == key:
                results.append(previous)
                continue
        job = GradeJob(
            student=record.student_id, assignment=record.assignment, submitted=str(record.path),
            template=str(templates[record.assignment]), release=str(releases[record.assignment]),
            source=str(source), data_dir=data_dir,
            feedback_html=str(feedback_dir / record.student_id / f"{record.assignment}.html"),
            cell_timeout=settings.cell_timeout, notebook_timeout=settings.notebook_timeout,
            memory_mb=settings.memory_mb, show_hidden_code=settings.show_hidden_code,
            full_data=settings.full_data, run_every_cell=settings.run_every_cell, courses_dir=str(out / ".courses"))
        queue.append((job, key))

    print(f"{len(todo)} notebooks from {len({s.student_id for s in todo})} students; "
          f"{len(todo) - len(queue)} unchanged since the last run, {len(queue)} to grade; "
          f"{len(intake.problems())} files not gradable (see problems.csv)", flush=True)
    progress = Progress(len(queue))
    timeout = settings.notebook_timeout + 300
    if settings.scheduler:
        from .distributed import grade_on_cluster  # distributed is imported only when asked for

        finished = grade_on_cluster(settings.scheduler, queue, timeout,
                                    lambda result, key: save_result(result, key, results_dir))
    else:
        finished = grade_here(queue, results_dir, timeout, settings.jobs)
    for result in finished:
        results.append(result)
        points, top = sum(result["scores"].values()), sum(result["max_scores"].values())
        progress.step(f"{result['student']} {result['assignment']}: {points:g}/{top:g} {result['status']}")
    results.sort(key=lambda r: (r["student"], r["assignment"]))
    write_sheet(results, names, assignments, out / "grades.csv", identities=identities_of(todo))
    print(f"grade sheet: {out / 'grades.csv'}\nfeedback: {feedback_dir}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a zip or folder of submitted notebooks")
    parser.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("grading-output"), help="output folder")
    defaults = GradingSettings()
    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="notebooks graded at the same time")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="grade on the workers of this Dask scheduler instead of --jobs here")
    parser.add_argument("--mapping", type=Path, help="CSV with columns file,student[,assignment]")
    parser.add_argument("--full-data", action="store_true", default=None,
                        help="run the notebooks on the data folder itself (default: a small synthetic set)")
    parser.add_argument("--data", type=Path, help="the data folder with --full-data (default: the course's)")
    parser.add_argument("--run-every-cell", action="store_true", default=None,
                        help="run every cell (default: leave out the cells no graded cell depends on)")
    parser.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=int, default=defaults.notebook_timeout,
                        help="seconds per notebook")
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_mb, help="memory cap per notebook")
    parser.add_argument("--show-hidden-code", action="store_true", help="show hidden tests' code in feedback")
    args = parser.parse_args(argv)
    if not args.submissions.exists():
        parser.error(f"{args.submissions} does not exist")
    settings = GradingSettings(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                               memory_mb=args.memory_mb, jobs=args.jobs, data_dir=args.data,
                               show_hidden_code=args.show_hidden_code, scheduler=args.scheduler)
    # unset: the defaults (RECSYS_GRADER_FULL_DATA, RECSYS_GRADER_RUN_EVERY_CELL)
    settings = settings.with_(full_data=args.full_data, run_every_cell=args.run_every_cell)
    grade_class(args.submissions, args.out, assignments=args.assignment, mapping=args.mapping, settings=settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
