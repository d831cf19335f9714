"""Grading cost: CPU seconds per notebook on the default path, against the previous design, in one run.

    .venv/bin/python benchmarks/bench_grading.py [--students 1] [--jobs 1 2] [--assignments 01_x ...]

Grades the same correct notebooks (``--students`` students x every released
notebook, built from the release and the solutions; ``--corpus``: the class
of ``tests/grading_corpus/``) several times, each from scratch except for the
generated assignment templates (made once, timed apart):

- ``new, real data``: what an instructor gets by default (``grade`` with the
  course's ``data/``, MovieLens 100K): the worker pool and kernel zygote
  (``RECSYS_GRADER_WORKER=pool``, :mod:`grader.worker_pool`), notebooks run on
  the small synthetic data set (:func:`grader.grade_one.grading_data_dir`),
  with each ``--jobs`` value;
- ``new, synthetic data``: the same with ``--data`` a synthetic data folder;
- ``old, real data``: the previous design, measured in the same run: a new
  process per worker and per kernel (``RECSYS_GRADER_WORKER=process``), the
  notebooks run on the data given (``RECSYS_GRADER_FULL_DATA=1``);
  ``--old-synthetic`` adds it on the synthetic folder too.

CPU time is that of every process the grading starts (``getrusage`` of
children, with this process a child subreaper so that a kernel that outlives
its launcher is counted too, and the pool stopped after each run so that its
servers are counted: their imports are part of the cost). Prints and writes
(``artifacts/bench_grading.json``), per run: CPU seconds per notebook,
notebooks per minute per core (60 / that), notebooks per minute, the load
average, the median kernel and worker CPU seconds per notebook, and the
old/new ratio. The wall time depends on what else the machine runs; the CPU
time much less (but it grows under heavy load).

``--repo PATH`` benchmarks the grader of another checkout on the same submissions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def cpu_seconds() -> float:
    """CPU time of this process's finished children and their descendants (workers, nbgrader, kernels)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def build_submissions(folder: Path, students: int, corpus: bool, assignments: list[str] | None = None) -> int:
    import grading_corpus as corpus_module  # noqa: PLC0415 -- after sys.path is set

    if corpus:
        return len(corpus_module.build_corpus(folder))
    count = 0
    for index in range(students):
        student = folder / f"student{index + 1:02d}"
        student.mkdir(parents=True)
        for assignment in assignments or corpus_module.ASSIGNMENTS:
            (student / f"{assignment}.ipynb").write_bytes(corpus_module.to_bytes(corpus_module.solved(assignment)))
            count += 1
    return count


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphaned descendants (a kernel whose launcher was killed) become ours, so their CPU time is counted."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def reap_orphans() -> None:
    """Collect the orphans that have ended (none of our own subprocesses is running now)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def grade_run(label: str, submissions: Path, out: Path, warm: Path, *, jobs: int, worker: str, full_data: bool,
              data: Path | None, corpus_settings: dict, notebooks: int) -> dict:
    from grader import worker_pool  # noqa: PLC0415
    from grader.grade import grade_class  # noqa: PLC0415

    shutil.copytree(warm / ".templates", out / ".templates")
    os.environ["RECSYS_GRADER_WORKER"] = worker
    os.environ["RECSYS_GRADER_FULL_DATA"] = "1" if full_data else ""
    load_before = os.getloadavg()[0]
    started, cpu = time.monotonic(), cpu_seconds()
    results = grade_class(submissions, out, jobs=jobs, data_dir=data, **corpus_settings)
    seconds = time.monotonic() - started
    worker_pool.shutdown()  # the pool's servers: their CPU time counts
    time.sleep(0.5)
    reap_orphans()
    cpu = cpu_seconds() - cpu
    load_after = os.getloadavg()
    steps: dict[str, list[float]] = {}
    for result in results:
        for step, value in result.get("timings", {}).items():
            steps.setdefault(step, []).append(value)
    per_notebook = cpu / len(results)
    run = {
        "label": label, "worker": worker, "data": "synthetic" if data else "real (data/ml-100k)",
        "notebooks_ran_on": sorted({r.get("data", "").split(" (")[0] or "?" for r in results}),
        "jobs": jobs, "notebooks": len(results), "seconds": round(seconds, 1),
        "notebooks_per_minute": round(60 * len(results) / seconds, 2),
        "cpu_seconds_per_notebook": round(per_notebook, 2),
        "notebooks_per_minute_per_core": round(60 / per_notebook, 1),
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after[0], 2),
                              "5min_after": round(load_after[1], 2)},
        "median_step_seconds": {k: round(statistics.median(v), 2) for k, v in sorted(steps.items())},
        "statuses": {s: sum(r["status"] == s for r in results) for s in sorted({r["status"] for r in results})},
    }
    print(f"{label}, --jobs {jobs}: {run['notebooks']} notebooks in {run['seconds']} s = "
          f"{run['notebooks_per_minute']} notebooks/min; {run['cpu_seconds_per_notebook']} CPU s per notebook "
          f"= {run['notebooks_per_minute_per_core']} notebooks/min per core; load {run['load_average_1min']}; "
          f"statuses {run['statuses']}; median steps {run['median_step_seconds']}", flush=True)
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=1, help="students x every notebook, correct")
    parser.add_argument("--assignments", nargs="+", help="only these notebooks (default: every released one)")
    parser.add_argument("--corpus", action="store_true", help="grade tests/grading_corpus/'s class instead")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values of the new path")
    parser.add_argument("--old-jobs", type=int, default=2, help="--jobs of the old path's run")
    parser.add_argument("--no-old", action="store_true", help="skip the previous design's run (no ratio)")
    parser.add_argument("--old-synthetic", action="store_true", help="also the old path on the synthetic data")
    parser.add_argument("--repo", type=Path, default=HERE, help="checkout whose grader/ is benchmarked")
    parser.add_argument("--real-data", type=Path, default=HERE / "data", help="folder holding MovieLens 100K's ml-100k/")
    parser.add_argument("--out", type=Path, default=HERE / "artifacts" / "bench_grading.json")
    args = parser.parse_args(argv)

    repo = args.repo.resolve()
    sys.path[:0] = [str(repo), str(HERE / "tests")]
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.environ["RECSYS_COURSE_DATA"] = str(args.real_data.resolve())  # the default data of `grade`
    become_subreaper()
    from grader.grade import prepare_templates  # noqa: PLC0415

    report: dict = {"repo": str(repo), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        scratch = Path(scratch)
        from recsys_course.fetch import make_synthetic_movielens  # noqa: PLC0415

        synthetic = make_synthetic_movielens(scratch / "data").folder.parent
        submissions = scratch / "submissions"
        notebooks = build_submissions(submissions, args.students, args.corpus, args.assignments)
        import grading_corpus  # noqa: PLC0415

        assignments = args.assignments or list(grading_corpus.ASSIGNMENTS)
        started = time.monotonic()
        cpu = cpu_seconds()
        prepare_templates(assignments, scratch / "warm")
        report["templates"] = {"seconds": round(time.monotonic() - started, 1),
                               "cpu_seconds": round(cpu_seconds() - cpu, 1)}
        print(f"templates for {len(assignments)} assignments: {report['templates']['seconds']} s "
              f"({report['templates']['cpu_seconds']} s CPU), made once", flush=True)
        corpus_settings = {"cell_timeout": grading_corpus.CELL_TIMEOUT, "notebook_timeout": grading_corpus.NOTEBOOK_TIMEOUT,
                           "memory_mb": grading_corpus.MEMORY_MB} if args.corpus else {}
        plan = [("new, real data", "pool", False, None, jobs) for jobs in args.jobs]
        plan.append(("new, synthetic data", "pool", False, synthetic, max(args.jobs)))
        if not args.no_old:
            plan.append(("old, real data", "process", True, None, args.old_jobs))
            if args.old_synthetic:
                plan.append(("old, synthetic data", "process", True, synthetic, args.old_jobs))
        for index, (label, worker, full_data, data, jobs) in enumerate(plan):
            report["runs"].append(grade_run(label, submissions, scratch / f"out-{index}", scratch / "warm", jobs=jobs,
                                            worker=worker, full_data=full_data, data=data,
                                            corpus_settings=corpus_settings, notebooks=notebooks))
        report["submissions"] = notebooks
    new = [r for r in report["runs"] if r["label"] == "new, real data"]
    old = [r for r in report["runs"] if r["label"] == "old, real data"]
    if new and old:
        best_new = min(r["cpu_seconds_per_notebook"] for r in new)
        report["old_over_new_cpu"] = round(old[0]["cpu_seconds_per_notebook"] / best_new, 2)
        print(f"old/new CPU seconds per notebook on the default path: {old[0]['cpu_seconds_per_notebook']} / "
              f"{best_new} = {report['old_over_new_cpu']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
