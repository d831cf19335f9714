"""Grade a whole class from an LMS export with one command.

    grade SUBMISSIONS [--assignment 03_measuring_error ...] [--jobs 2] [--out grading-output]

SUBMISSIONS is a zip or a folder as Canvas, Moodle or Blackboard export it,
one folder per student, or anything with ``--mapping file.csv``
(:mod:`grader.submissions`). Each notebook is repaired against its release
(:mod:`grader.repair`) and autograded by real nbgrader with the source's
hidden tests, in a process and a sandboxed kernel of its own
(:mod:`grader.grade_one`). The output folder gets:

- ``grades.csv``: one row per student: per notebook its points, maximum,
  status and message, and the points of each exercise; the total;
- ``feedback/<student>/<assignment>.html``: feedback, hidden tests shown as
  verdicts only unless ``--show-hidden-code``;
- ``problems.csv``: every file of the export that could not be graded, and why;
- ``results/``: one JSON per graded notebook. A re-run grades only what is
  new or changed (the file, the source notebook or the settings).
"""

from __future__ import annotations

import argparse
import csv
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

from .grade_one import GradeJob
from .nbgrader_helpers import (
    REPO_ROOT, ThrowawayCourse, course_root, list_assignments, release_notebook, source_notebook,
)
from .submissions import collect_submissions


def exercise_of(grade_id: str) -> str:
    """The exercise a graded cell belongs to: ``split_dataframe_hidden_seed`` -> ``split_dataframe``."""
    for marker in ("_visible", "_hidden", "_solution"):
        if marker in grade_id:
            return grade_id.split(marker)[0]
    return grade_id


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


def prepare_templates(assignments: list[str], out: Path) -> dict[str, Path]:
    """A generated course per assignment: its source, release and gradebook (with the hidden tests).

    Regenerated only when the source notebook changed; the stale ones are
    generated together, in one nbgrader run (its start-up is paid once).
    """
    root = course_root()
    templates, stale = {}, {}
    for assignment in assignments:
        fingerprint = file_digest(source_notebook(root, assignment))
        templates[assignment] = template = out / ".templates" / assignment
        stamp = template / ".source-sha256"
        if not (stamp.is_file() and stamp.read_text() == fingerprint):
            stale[assignment] = fingerprint
    if not stale:
        return templates
    (out / ".templates").mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".generate-", dir=out / ".templates") as scratch:
        course = ThrowawayCourse.create(Path(scratch) / "course", sorted(stale), source_root=root)
        course.generate("*")
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


def run_job(job: GradeJob, key: str, results_dir: Path, timeout: float) -> dict:
    """Run one worker process; its result, with the cache key, is saved atomically."""
    target = results_dir / job.student / f"{job.assignment}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="job-") as scratch:
        job_file, result_file = Path(scratch) / "job.json", Path(scratch) / "result.json"
        job_file.write_text(json.dumps(asdict(job)))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        started = time.monotonic()
        try:
            subprocess.run([sys.executable, "-m", "grader.grade_one", str(job_file), str(result_file)],
                           env=env, timeout=timeout, capture_output=True, text=True, cwd=scratch)
            result = json.loads(result_file.read_text())
        except subprocess.TimeoutExpired:
            result = {"student": job.student, "assignment": job.assignment, "status": "notebook_timeout",
                      "message": f"grading was stopped after {timeout:.0f} s", "scores": {}, "max_scores": {}}
        except (OSError, ValueError) as error:
            result = {"student": job.student, "assignment": job.assignment, "status": "error",
                      "message": f"the grading process failed: {error}", "scores": {}, "max_scores": {}}
    # The worker's own steps are in its timings; "process" adds its start-up and exit.
    result.setdefault("timings", {})["process"] = round(time.monotonic() - started, 3)
    result["key"] = key
    partial = target.with_suffix(".json.part")
    partial.write_text(json.dumps(result, indent=1))
    os.replace(partial, target)  # a crash never leaves half a result behind
    return result


def write_sheet(results: list[dict], names: dict[str, str], assignments: list[str], path: Path) -> None:
    """grades.csv: a row per student, columns per notebook and per exercise."""
    exercises = {a: sorted({exercise_of(g) for r in results if r["assignment"] == a for g in r["max_scores"]})
                 for a in assignments}
    header = ["student", "name"]
    for a in assignments:
        header += [f"{a} points", f"{a} max", f"{a} status", f"{a} message"]
        header += [f"{a} | {exercise}" for exercise in exercises[a]]
    header += ["total", "max"]
    by_student: dict[str, dict[str, dict]] = {}
    for result in results:
        by_student.setdefault(result["student"], {})[result["assignment"]] = result
    rows = []
    for student in sorted(by_student):
        row = {"student": student, "name": names.get(student, student)}
        total = maximum = 0.0
        for a in assignments:
            result = by_student[student].get(a)
            if result is None:
                row[f"{a} status"] = "not_submitted"
                continue
            points = sum(result["scores"].values())
            top = sum(result["max_scores"].values())
            total, maximum = total + points, maximum + top
            row.update({f"{a} points": f"{points:g}", f"{a} max": f"{top:g}",
                        f"{a} status": result["status"], f"{a} message": result.get("message", "")})
            for exercise in exercises[a]:
                row[f"{a} | {exercise}"] = f"{sum(v for g, v in result['scores'].items() if exercise_of(g) == exercise):g}"
        row.update({"total": f"{total:g}", "max": f"{maximum:g}"})
        rows.append(row)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def grade_class(submissions: Path, out: Path, assignments: list[str] | None = None, jobs: int = 1,
                mapping: Path | None = None, data_dir: Path | None = None, cell_timeout: int = 120,
                notebook_timeout: int = 600, memory_mb: int = 4096, show_hidden_code: bool = False) -> list[dict]:
    """Grade every notebook of an export; write grades.csv, problems.csv and feedback into ``out``."""
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
    intake = collect_submissions(submissions, releases, mapping=mapping, workdir=intake_dir)
    with open(out / "problems.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "status", "student", "assignment", "message"])
        for record in intake.problems():
            writer.writerow([record.relpath, record.status, record.student_id or "", record.assignment or "",
                             record.message])
    todo = [s for s in intake.submissions if s.assignment in assignments]
    templates = prepare_templates(sorted({s.assignment for s in todo}), out)
    data_dir = str((data_dir or Path(os.environ.get("RECSYS_COURSE_DATA") or REPO_ROOT / "data")).resolve())
    settings = json.dumps([cell_timeout, notebook_timeout, memory_mb, show_hidden_code, data_dir])
    results_dir, feedback_dir = out / "results", out / "feedback"
    names = {s.student_id: s.display_name or s.student_id for s in todo}

    results, queue = [], []
    for record in todo:
        source = source_notebook(root, record.assignment)
        key = file_digest(record.path, source, extra=settings)
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
            hide=sorted({str(root), str(REPO_ROOT), str(out)} | ({str(submissions.resolve())} if submissions.is_dir() else set())),
            cell_timeout=cell_timeout, notebook_timeout=notebook_timeout, memory_mb=memory_mb,
            show_hidden_code=show_hidden_code, courses_dir=str(out / ".courses"))
        queue.append((job, key))

    print(f"{len(todo)} notebooks from {len({s.student_id for s in todo})} students; "
          f"{len(todo) - len(queue)} unchanged since the last run, {len(queue)} to grade; "
          f"{len(intake.problems())} files not gradable (see problems.csv)", flush=True)
    progress = Progress(len(queue))
    timeout = notebook_timeout + 300
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_job, job, key, results_dir, timeout) for job, key in queue]
        for future in as_completed(futures):
            result = future.result()
            results.append(result)
            points, top = sum(result["scores"].values()), sum(result["max_scores"].values())
            progress.step(f"{result['student']} {result['assignment']}: {points:g}/{top:g} {result['status']}")
    results.sort(key=lambda r: (r["student"], r["assignment"]))
    write_sheet(results, names, assignments, out / "grades.csv")
    print(f"grade sheet: {out / 'grades.csv'}\nfeedback: {feedback_dir}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path, help="a zip or folder of submitted notebooks")
    parser.add_argument("--assignment", action="append", help="grade only this assignment (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("grading-output"), help="output folder")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks graded at the same time")
    parser.add_argument("--mapping", type=Path, help="CSV with columns file,student[,assignment]")
    parser.add_argument("--data", type=Path, help="data folder for the kernels (default: the course's)")
    parser.add_argument("--cell-timeout", type=int, default=120, help="seconds per cell")
    parser.add_argument("--notebook-timeout", type=int, default=600, help="seconds per notebook")
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory cap per notebook")
    parser.add_argument("--show-hidden-code", action="store_true", help="show hidden tests' code in feedback")
    args = parser.parse_args(argv)
    if not args.submissions.exists():
        parser.error(f"{args.submissions} does not exist")
    grade_class(args.submissions, args.out, args.assignment, args.jobs, args.mapping, args.data,
                args.cell_timeout, args.notebook_timeout, args.memory_mb, args.show_hidden_code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
