"""All the course's benchmarks in one summary (what `make bench` prints last).

    .venv/bin/python benchmarks/bench.py            # summarize the artifacts the scripts wrote
    .venv/bin/python benchmarks/bench.py --run      # run the scripts first, then summarize

Reads what the benchmark scripts write to artifacts/ (each is a script of
its own, run by a Makefile target):

- bench_trainer.json  (benchmarks/bench_trainer.py): notebook 4's training,
  CFModel against the straightforward loop in the same run;
- bench_quality.json  (benchmarks/bench_quality.py): test RMSE and fit time
  of the baselines and models on the course's split;
- bench_series.json   (benchmarks/bench_series.py): the solution notebooks
  executed end to end;
- bench_grading.json  (benchmarks/bench_grading.py, when present): grading
  throughput;

prints each figure against its goal, and writes everything, with the
machine and the load, to artifacts/bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"
SCRIPTS = ("bench_trainer", "bench_quality", "bench_series")
TRAINER_GOAL_S, TRAINER_GOAL_SPEEDUP = 3.0, 5.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load(name: str, folder: Path = ARTIFACTS) -> dict | None:
    path = folder / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        print(f"{path.name}: unreadable ({error})")
        return None


def yes(flag: bool) -> str:
    return "met" if flag else "NOT met"


def summarize_trainer(data: dict) -> dict:
    print(f"\n== Trainer: notebook 4's model, {data['steps']} full-batch steps, d={data['dim']}, "
          f"{data['repeats']} repeats (load average {data['load_average_before']:.1f} before, "
          f"{data['load_average_after']:.1f} after)")
    print(f"  {'':32s}{'min s':>8s}{'median s':>10s}{'CPU s':>8s}{'speed-up':>10s}{'(CPU)':>8s}")
    for name, r in data["results"].items():
        speedup = r.get("speedup_vs_straightforward")
        cpu_speedup = r.get("cpu_speedup_vs_straightforward")
        print(f"  {name:32s}{r['min']:8.2f}{r['median']:10.2f}{r['cpu_median']:8.2f}"
              f"{speedup or 0:9.1f}x{cpu_speedup or 0:7.1f}x")
    fast = data["results"].get("CFModel + observed_mse")
    goals = {}
    if fast:
        goals = {"seconds": fast["median"], "seconds_met": fast["median"] <= TRAINER_GOAL_S,
                 "speedup": fast.get("speedup_vs_straightforward"),
                 "speedup_met": (fast.get("speedup_vs_straightforward") or 0) >= TRAINER_GOAL_SPEEDUP}
        print(f"  goal <= {TRAINER_GOAL_S:.0f} s: {fast['median']:.2f} s median (min {fast['min']:.2f} s), "
              f"{yes(goals['seconds_met'])}; goal >= {TRAINER_GOAL_SPEEDUP:.0f}x: "
              f"{goals['speedup'] or 0:.1f}x, {yes(goals['speedup_met'])}")
        phases = data.get("cfmodel_phases_seconds")
        if phases:
            print("  where CFModel.train's time goes: " + ", ".join(
                f"{name} {value:.3f}{' ms' if name == 'ms per step' else ' s'}"
                for name, value in phases.items()))
    return goals


def summarize_quality(data: dict) -> dict:
    print(f"\n== Quality on the course's split ({data['train_ratings']:,} train / "
          f"{data['test_ratings']:,} test ratings; load average {data['load_average_before']:.1f})")
    print(f"  {'':32s}{'test RMSE':>10s}{'clipped':>9s}{'train':>8s}{'fit s':>8s}{'CPU s':>8s}")
    for name, r in data["models"].items():
        print(f"  {name:32s}{r['test_rmse']:10.4f}{r['test_rmse_clipped']:9.4f}{r['train_rmse']:8.4f}"
              f"{r['fit_median']:8.1f}{r['fit_cpu_median']:8.1f}")
    if data.get("best"):
        print(f"  best: {data['best']} at {data['best_test_rmse']:.4f}; goal <= {data['rmse_goal']}: "
              f"{yes(data['goal_met'])}")
    return {"best": data.get("best"), "best_test_rmse": data.get("best_test_rmse"),
            "met": data.get("goal_met")}


def summarize_series(data: dict) -> dict:
    print(f"\n== Series: solution notebooks run end to end (load average "
          f"{data['load_average_before']:.1f} before, {data['load_average_after']:.1f} after)")
    for r in data["notebooks"]:
        cells = sorted((c for c in r["cells"] if c["seconds"] is not None), key=lambda c: -c["seconds"])
        slowest = f"slowest cell {cells[0]['seconds']:.1f} s ({cells[0]['label'][:50]})" if cells else ""
        cpu = r.get("kernel_cpu_seconds")
        print(f"  {Path(r['notebook']).parent.name:28s}{r['seconds']:7.1f} s"
              f"{f' (CPU {cpu:5.1f} s)' if cpu is not None else '':15s}  {slowest}"
              f"{'  FAILED' if r['error'] else ''}")
    print(f"  total {data['total_seconds']:.1f} s: goal <= {data['goal_total_seconds']:.0f} s "
          f"{yes(data['total_met'])}; every notebook <= {data['goal_notebook_seconds']:.0f} s "
          f"{yes(data['notebooks_met'])}")
    return {"total_seconds": data["total_seconds"], "total_met": data["total_met"],
            "notebooks_met": data["notebooks_met"], "failed": data["failed"]}


def summarize_grading(data: dict) -> dict:
    print("\n== Grading cost (benchmarks/bench_grading.py)")
    runs = data.get("runs") if isinstance(data.get("runs"), list) else [data]
    rates, cpu = {}, {}
    for run in runs:
        rate = run.get("notebooks_per_minute")
        if not isinstance(rate, (int, float)):
            continue
        label = f"{run.get('label', 'grading')}, {run.get('jobs', '?')} job(s)"
        rates[label] = rate
        if isinstance(run.get("cpu_seconds_per_notebook"), (int, float)):
            cpu[label] = run["cpu_seconds_per_notebook"]
        load_average = run.get("load_average_1min", {})
        before = load_average.get("before") if isinstance(load_average, dict) else None
        details = [f"{run[k]} {unit}" for k, unit in (("notebooks", "notebooks"), ("seconds", "s"),
                   ("cpu_seconds_per_notebook", "CPU s per notebook"),
                   ("notebooks_per_minute_per_core", "notebooks/min per core")) if k in run]
        print(f"  {label}: {rate:.2f} notebooks per minute ({', '.join(details)}"
              f"{f'; load average {before:.1f} before' if isinstance(before, (int, float)) else ''})")
    if "old_over_new_cpu" in data:
        print(f"  old design / default path, CPU seconds per notebook (same run): {data['old_over_new_cpu']}")
    if not rates:
        print("  (no notebooks_per_minute in bench_grading.json)")
    return {"notebooks_per_minute": rates, "cpu_seconds_per_notebook": cpu,
            "old_over_new_cpu": data.get("old_over_new_cpu")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run the benchmark scripts first")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS,
                        help="where the scripts' JSON files are (default: artifacts/)")
    parser.add_argument("--output", type=Path, default=ARTIFACTS / "bench.json")
    args = parser.parse_args()
    if args.run:
        for script in SCRIPTS:
            subprocess.run([sys.executable, str(REPO / "benchmarks" / f"{script}.py")], check=False)
    machine = {"cpu": cpu_model(), "cpus": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(), "load_average_now": os.getloadavg()[0]}
    print(f"Machine: {machine['cpus']} x {machine['cpu']}, {machine['platform']}")
    report: dict = {"machine": machine, "goals": {}}
    for name, summarize in (("bench_trainer", summarize_trainer), ("bench_quality", summarize_quality),
                            ("bench_series", summarize_series), ("bench_grading", summarize_grading)):
        data = load(name, args.artifacts)
        report[name.removeprefix("bench_")] = data
        if data is None:
            print(f"\n== {name}: no artifacts/{name}.json (run benchmarks/{name}.py)")
            continue
        try:
            report["goals"][name.removeprefix("bench_")] = summarize(data)
        except (KeyError, TypeError) as error:  # an older or foreign format: keep it, say so
            print(f"  (could not summarize {name}.json: {type(error).__name__}: {error})")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")


if __name__ == "__main__":
    main()
