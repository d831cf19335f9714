"""Grading throughput: notebooks per minute with one job and with two.

    .venv/bin/python benchmarks/bench_grading.py [--students 2] [--corpus] [--jobs 1 2]

Grades the same submissions (by default ``--students`` students x every
released notebook, each a correct answer built from the release and the solutions;
``--corpus``: the class of ``tests/grading_corpus/`` with its
wrong, broken and hostile notebooks) once per ``--jobs`` value, each time from
scratch except for the generated assignment templates (made once, timed
apart). Prints, per run, notebooks per minute, the CPU seconds per notebook
(the grader's processes and the kernels, from ``getrusage``; the wall time
depends on what else the machine runs, the CPU time much less) and the load
average during the run, and the median seconds of each step inside a worker.
Writes ``artifacts/bench_grading.json``.

``--repo PATH`` benchmarks the grader of another checkout (e.g. an older
commit exported with ``git archive``) on the same submissions.
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


def build_submissions(folder: Path, students: int, corpus: bool) -> int:
    import grading_corpus as corpus_module  # noqa: PLC0415 -- after sys.path is set

    if corpus:
        return len(corpus_module.build_corpus(folder))
    count = 0
    for index in range(students):
        student = folder / f"student{index + 1:02d}"
        student.mkdir(parents=True)
        for assignment in corpus_module.ASSIGNMENTS:
            (student / f"{assignment}.ipynb").write_bytes(corpus_module.to_bytes(corpus_module.solved(assignment)))
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=2, help="students x every notebook, correct")
    parser.add_argument("--corpus", action="store_true", help="grade tests/grading_corpus/'s class instead")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repo", type=Path, default=HERE, help="checkout whose grader/ is benchmarked")
    parser.add_argument("--data", type=Path, help="data folder holding ml-100k/ (default: a synthetic one)")
    parser.add_argument("--out", type=Path, default=HERE / "artifacts" / "bench_grading.json")
    args = parser.parse_args(argv)

    repo = args.repo.resolve()
    sys.path[:0] = [str(repo), str(HERE / "tests")]
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    from grader.grade import grade_class, prepare_templates  # noqa: PLC0415

    report: dict = {"repo": str(repo), "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                    "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        scratch = Path(scratch)
        data = args.data
        if data is None:
            from recsys_course.fetch import make_synthetic_movielens  # noqa: PLC0415

            data = make_synthetic_movielens(scratch / "data").folder.parent
        submissions = scratch / "submissions"
        notebooks = build_submissions(submissions, args.students, args.corpus)
        import grading_corpus  # noqa: PLC0415

        started = time.monotonic()
        cpu = cpu_seconds()
        prepare_templates(list(grading_corpus.ASSIGNMENTS), scratch / "warm")
        report["templates"] = {"seconds": round(time.monotonic() - started, 1),
                               "cpu_seconds": round(cpu_seconds() - cpu, 1)}
        print(f"templates for {len(grading_corpus.ASSIGNMENTS)} assignments: {report['templates']['seconds']} s "
              f"({report['templates']['cpu_seconds']} s CPU), made once", flush=True)
        for jobs in args.jobs:
            out = scratch / f"out-jobs{jobs}"
            shutil.copytree(scratch / "warm" / ".templates", out / ".templates")
            load_before = os.getloadavg()[0]
            started, cpu = time.monotonic(), cpu_seconds()
            kwargs = {"cell_timeout": grading_corpus.CELL_TIMEOUT, "notebook_timeout": grading_corpus.NOTEBOOK_TIMEOUT,
                      "memory_mb": grading_corpus.MEMORY_MB} if args.corpus else {}
            results = grade_class(submissions, out, jobs=jobs, data_dir=data, **kwargs)
            seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu
            load_after = os.getloadavg()
            steps: dict[str, list[float]] = {}
            for result in results:
                for step, value in result.get("timings", {}).items():
                    steps.setdefault(step, []).append(value)
            run = {
                "jobs": jobs, "notebooks": len(results), "seconds": round(seconds, 1),
                "notebooks_per_minute": round(60 * len(results) / seconds, 2),
                "cpu_seconds_per_notebook": round(cpu / len(results), 2),
                "load_average_1min": {"before": round(load_before, 2), "after": round(load_after[0], 2),
                                      "5min_after": round(load_after[1], 2)},
                "median_step_seconds": {k: round(statistics.median(v), 2) for k, v in sorted(steps.items())},
                "statuses": {s: sum(r["status"] == s for r in results) for s in sorted({r["status"] for r in results})},
            }
            report["runs"].append(run)
            print(f"--jobs {jobs}: {run['notebooks']} notebooks in {run['seconds']} s = "
                  f"{run['notebooks_per_minute']} notebooks/min; {run['cpu_seconds_per_notebook']} s CPU per notebook; "
                  f"load {run['load_average_1min']}; median steps {run['median_step_seconds']}", flush=True)
        report["submissions"] = notebooks
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
