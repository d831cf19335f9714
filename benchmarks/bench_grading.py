"""Grading cost: CPU seconds per notebook on the default path, against the previous design, in one run.

    .venv/bin/python benchmarks/bench_grading.py [--students 2] [--jobs 1 2] [--assignments 01_x ...]

Grades the same correct notebooks (``--students`` students x every released
notebook, built from the release and the solutions; ``--corpus``: the class
of ``tests/grading_corpus/``) several times, each from scratch except for the
generated assignment templates (made once, timed apart):

- ``default``: what an instructor gets by default (``grade`` with the
  course's ``data/``, MovieLens 100K): the worker pool and kernel zygote
  (:mod:`grader.worker_pool`), the notebooks run on the small synthetic data
  set (:func:`grader.grade_one.grading_data_dir`), the cells no graded cell
  depends on left out (:mod:`grader.cell_dependencies`); with each ``--jobs``;
- ``default, synthetic data``: the same with ``--data`` a synthetic data folder;
- the candidates one at a time (``--no-candidates`` skips them): the pool and
  zygote alone (real data, every cell), then with the small data set (every
  cell); the default adds the left-out cells;
- ``old``: the previous design: a new process per worker and per kernel
  (``RECSYS_GRADER_WORKER=process``), real data, every cell;
- ``dask``: the default path through ``grade --scheduler`` on a Dask
  ``LocalCluster`` of two worker processes over TCP (``--no-dask`` skips it).

CPU time is that of every process the grading starts (``getrusage`` of
children, with this process a child subreaper so that a kernel that outlives
its launcher is counted too, and the pool stopped after each run so that its
servers are counted: their imports are part of the cost; the Dask cluster is
closed inside the run for the same reason). The pool's servers note their own
CPU time (``RECSYS_GRADER_POOL_STATS``): their start-up is paid once per run
(per Dask worker), so each run also says what a notebook costs apart from it,
which is what it costs in a class large enough to share the start-up out.
Prints and writes
(``artifacts/bench_grading.json``), per run: CPU seconds per notebook,
notebooks per minute per core (60 / that), notebooks per minute, the load
average, the median kernel and worker CPU seconds per notebook, the mean
kernel and worker CPU seconds of each assignment, and the old/default ratio.
The wall time depends on what else the machine runs; the CPU time much less
(but it grows under heavy load).

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
              data: Path | None, corpus_settings: dict, notebooks: int, every_cell: bool = False,
              dask: bool = False) -> dict:
    from grader import worker_pool  # noqa: PLC0415
    from grader.grade import grade_class  # noqa: PLC0415

    shutil.copytree(warm / ".templates", out / ".templates")
    os.environ["RECSYS_GRADER_WORKER"] = worker
    os.environ["RECSYS_GRADER_FULL_DATA"] = "1" if full_data else ""
    os.environ["RECSYS_GRADER_RUN_EVERY_CELL"] = "1" if every_cell else ""
    stats = out / ".pool-stats"  # each pool server notes its own CPU time there when it stops
    stats.mkdir(parents=True)
    os.environ["RECSYS_GRADER_POOL_STATS"] = str(stats)
    load_before = os.getloadavg()[0]
    started, cpu = time.monotonic(), cpu_seconds()
    if dask:
        from distributed import LocalCluster  # noqa: PLC0415

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp", host="127.0.0.1",
                          dashboard_address=None) as cluster:
            results = grade_class(submissions, out, scheduler=cluster.scheduler_address, data_dir=data,
                                  **corpus_settings)
    else:
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
    # The servers' own CPU time (their imports, and forking): paid once per run (per Dask worker), not
    # per notebook; what a notebook costs in a class of any size is the rest, shared out.
    start_up = sum(json.loads(f.read_text())["server_cpu_seconds"] for f in stats.glob("*.json"))
    run = {
        "label": label, "worker": worker, "data": "synthetic" if data else "real (data/ml-100k)",
        "notebooks_ran_on": sorted({r.get("data", "").split(" (")[0] or "?" for r in results}),
        "jobs": jobs, "notebooks": len(results), "seconds": round(seconds, 1),
        "notebooks_per_minute": round(60 * len(results) / seconds, 2),
        "cpu_seconds_per_notebook": round(per_notebook, 2),
        "notebooks_per_minute_per_core": round(60 / per_notebook, 1),
        "pool_start_up_cpu_seconds": round(start_up, 2),
        "cpu_seconds_per_notebook_start_up_apart": round((cpu - start_up) / len(results), 2),
        "load_average_1min": {"before": round(load_before, 2), "after": round(load_after[0], 2),
                              "5min_after": round(load_after[1], 2)},
        "median_step_seconds": {k: round(statistics.median(v), 2) for k, v in sorted(steps.items())},
        "statuses": {s: sum(r["status"] == s for r in results) for s in sorted({r["status"] for r in results})},
        "mean_cpu_seconds_by_assignment": _by_assignment(results),
    }
    print(f"{label}, --jobs {jobs}: {run['notebooks']} notebooks in {run['seconds']} s = "
          f"{run['notebooks_per_minute']} notebooks/min; {run['cpu_seconds_per_notebook']} CPU s per notebook "
          f"= {run['notebooks_per_minute_per_core']} notebooks/min per core; pool start-up "
          f"{run['pool_start_up_cpu_seconds']} CPU s, so {run['cpu_seconds_per_notebook_start_up_apart']} CPU s "
          f"per notebook apart from it; load {run['load_average_1min']}; "
          f"statuses {run['statuses']}; median steps {run['median_step_seconds']}", flush=True)
    return run


def _by_assignment(results: list[dict]) -> dict[str, dict[str, float]]:
    """Mean kernel and worker CPU seconds of each assignment's notebooks."""
    table: dict[str, dict[str, list[float]]] = {}
    for result in results:
        for step in ("kernel_cpu", "worker_cpu"):
            if step in result.get("timings", {}):
                table.setdefault(result["assignment"], {}).setdefault(step, []).append(result["timings"][step])
    return {a: {step: round(statistics.mean(v), 2) for step, v in steps.items()} for a, steps in sorted(table.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=2, help="students x every notebook, correct")
    parser.add_argument("--assignments", nargs="+", help="only these notebooks (default: every released one)")
    parser.add_argument("--corpus", action="store_true", help="grade tests/grading_corpus/'s class instead")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="--jobs values of the new path")
    parser.add_argument("--old-jobs", type=int, default=2, help="--jobs of the old path's run")
    parser.add_argument("--no-old", action="store_true", help="skip the previous design's run (no ratio)")
    parser.add_argument("--no-candidates", action="store_true", help="skip the runs of each candidate alone")
    parser.add_argument("--no-dask", action="store_true", help="skip the run on a local Dask cluster")
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
        # (label, worker, full data, data folder, jobs, every cell, dask)
        plan = [("default", "pool", False, None, jobs, False, False) for jobs in args.jobs]
        plan.append(("default, synthetic data", "pool", False, synthetic, max(args.jobs), False, False))
        if not args.no_candidates:
            plan.append(("pool + zygote, real data, every cell", "pool", True, None, max(args.jobs), True, False))
            plan.append(("pool + zygote, small data, every cell", "pool", False, None, max(args.jobs), True, False))
        if not args.no_old:
            plan.append(("old", "process", True, None, args.old_jobs, True, False))
            if args.old_synthetic:
                plan.append(("old, synthetic data", "process", True, synthetic, args.old_jobs, True, False))
        if not args.no_dask:
            plan.append(("dask, 2 local workers", "pool", False, None, 2, False, True))
        for index, (label, worker, full_data, data, jobs, every_cell, dask) in enumerate(plan):
            report["runs"].append(grade_run(label, submissions, scratch / f"out-{index}", scratch / "warm", jobs=jobs,
                                            worker=worker, full_data=full_data, data=data, every_cell=every_cell,
                                            dask=dask, corpus_settings=corpus_settings, notebooks=notebooks))
        report["submissions"] = notebooks
    new = [r for r in report["runs"] if r["label"] == "default"]
    old = [r for r in report["runs"] if r["label"] == "old"]
    if new and old:
        best_new = min(r["cpu_seconds_per_notebook"] for r in new)
        report["old_over_new_cpu"] = round(old[0]["cpu_seconds_per_notebook"] / best_new, 2)
        print(f"old/default CPU seconds per notebook: {old[0]['cpu_seconds_per_notebook']} / "
              f"{best_new} = {report['old_over_new_cpu']}")
    print("\nrun                                       jobs  CPU s/notebook  notebooks/min/core  notebooks/min"
          "  start-up CPU s  CPU s/notebook apart from it")
    for run in report["runs"]:
        print(f"{run['label']:42} {run['jobs']:>4}  {run['cpu_seconds_per_notebook']:>14}  "
              f"{run['notebooks_per_minute_per_core']:>18}  {run['notebooks_per_minute']:>13}  "
              f"{run['pool_start_up_cpu_seconds']:>14}  {run['cpu_seconds_per_notebook_start_up_apart']:>28}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
