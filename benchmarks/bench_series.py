"""How long does the notebook series take to run? (a script, not a test)

    .venv/bin/python benchmarks/bench_series.py [--only 04 05] [--slowest 3]

Executes each solution notebook (solutions/*/*.ipynb) top to bottom with
nbclient on the real data, as a student's "Run all" would, each in a fresh
kernel and a temporary copy of its folder (the repository is not written).
Times each notebook (wall and the kernel's CPU seconds, kernel start
included) and each cell (nbclient's execution timestamps), prints the slowest
cells, and writes artifacts/bench_series.json. Goals: the whole series in
5 minutes or less, no notebook over 90 s.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
SERIES_GOAL_S, NOTEBOOK_GOAL_S = 300.0, 90.0

# Run in the kernel after the notebook: its process's CPU seconds (all threads).
CPU_PROBE = "import resource as _r; _u = _r.getrusage(_r.RUSAGE_SELF); print(_u.ru_utime + _u.ru_stime)"


def _seconds(cell) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not start or not end:
        return None
    parse = lambda text: datetime.fromisoformat(text.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def _label(cell) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"{grade_id or cell.get('id', '?')}: {first[:70]}"


def run_notebook(path: Path, timeout: int) -> dict:
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="bench-series-") as folder:
        for item in path.parent.iterdir():  # the assignment's files, next to the notebook
            if item.is_file():
                shutil.copy(item, folder)
        client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": folder}}, record_timing=True)
        start = time.perf_counter()
        error, cpu = None, None
        with client.setup_kernel():
            try:
                for index, cell in enumerate(notebook.cells):
                    client.execute_cell(cell, index)
            except CellExecutionError as exc:
                error = str(exc).strip().splitlines()[-1][:300]
            wall = time.perf_counter() - start
            probe = nbformat.v4.new_code_cell(CPU_PROBE)
            notebook.cells.append(probe)  # nbclient stores outputs by index
            try:
                client.execute_cell(probe, len(notebook.cells) - 1)
                cpu = float(probe.outputs[0]["text"].strip())
            except Exception:  # the kernel died: no CPU figure
                pass
            notebook.cells.pop()
    cells = [{"index": i, "label": _label(c), "seconds": _seconds(c)}
             for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    return {"notebook": str(path.relative_to(REPO)), "seconds": wall, "kernel_cpu_seconds": cpu,
            "error": error, "cells": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="notebooks whose path contains one of these")
    parser.add_argument("--slowest", type=int, default=3, help="slowest cells shown per notebook")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--output", type=Path, default=REPO / "artifacts" / "bench_series.json")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    paths = sorted((REPO / "solutions").glob("*/*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(part in str(p) for part in args.only)]
    load_before = os.getloadavg()[0]
    results = []
    for path in paths:
        result = run_notebook(path, args.timeout)
        results.append(result)
        cpu = result["kernel_cpu_seconds"]
        flag = "" if result["seconds"] <= NOTEBOOK_GOAL_S else f"  over {NOTEBOOK_GOAL_S:.0f} s"
        print(f"{path.parent.name:28s} {result['seconds']:6.1f} s"
              f" (kernel CPU {cpu:6.1f} s){flag}" if cpu is not None else
              f"{path.parent.name:28s} {result['seconds']:6.1f} s{flag}", flush=True)
        if result["error"]:
            print(f"    FAILED: {result['error']}")
        timed = sorted((c for c in result["cells"] if c["seconds"] is not None),
                       key=lambda c: -c["seconds"])
        for cell in timed[:args.slowest]:
            print(f"    {cell['seconds']:6.1f} s  cell {cell['index']:2d}  {cell['label']}")
    total = sum(r["seconds"] for r in results)
    slowest = max(results, key=lambda r: r["seconds"]) if results else None
    summary = {
        "total_seconds": total, "goal_total_seconds": SERIES_GOAL_S,
        "goal_notebook_seconds": NOTEBOOK_GOAL_S,
        "total_met": total <= SERIES_GOAL_S,
        "notebooks_met": all(r["seconds"] <= NOTEBOOK_GOAL_S for r in results),
        "failed": [r["notebook"] for r in results if r["error"]],
        "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
        "notebooks": results,
    }
    print(f"series: {total:.1f} s for {len(results)} notebooks (goal {SERIES_GOAL_S:.0f} s; "
          f"slowest {slowest['notebook'] if slowest else '-'} "
          f"{slowest['seconds'] if slowest else 0:.1f} s, goal {NOTEBOOK_GOAL_S:.0f} s); "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")
    sys.exit(1 if summary["failed"] else 0)


if __name__ == "__main__":
    main()
