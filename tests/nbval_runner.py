"""Run files under nbval, each in a pytest process of its own, a few at a time.

A notebook's kernel keeps about one core busy (TensorFlow's small steps are
mostly Python and single-threaded), so two notebooks at a time use the CI
machine's two cores. The slowest files start first, so that the workers
finish together: ``measured`` gives each file's seconds (by file stem; a file
not listed counts as the slowest). Used by ``tests/test_solution_notebooks.py``
(the course's environment) and ``tests/test_colab_stack.py`` (Colab's).
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_with_nbval(python: Path, path: Path, env: dict[str, str], timeout: float) -> tuple[Path, str | None, float]:
    """``(path, None or pytest's report when it fails, seconds)`` of one file under nbval."""
    command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               "--nbval-lax", "--nbval-current-env", str(path)]
    started = time.monotonic()
    try:
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as stopped:
        output = (stopped.stdout or b"").decode(errors="replace")  # bytes, whatever text= says
        return path, f"timed out after {timeout:.0f} s:\n{output[-6000:]}", time.monotonic() - started
    failure = None if result.returncode == 0 else f"{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
    return path, failure, time.monotonic() - started


def run_all(python: Path, paths: list[Path], env: dict[str, str], *, workers: int, timeout: float,
            measured: dict[str, float]) -> list[tuple[Path, str | None, float]]:
    """:func:`run_with_nbval` for every path, ``workers`` at a time, the slowest first; sorted by path."""
    order = sorted(paths, key=lambda path: -measured.get(path.stem, float("inf")))
    with ThreadPoolExecutor(workers) as pool:
        return sorted(pool.map(lambda path: run_with_nbval(python, path, env, timeout), order))


def report(results: list[tuple[Path, str | None, float]], where: str) -> list[str]:
    """Print each file's seconds; return the failures, each with pytest's report."""
    print(f"seconds per file {where}:", ", ".join(f"{path.stem} {seconds:.0f}" for path, _, seconds in results),
          f"(total {sum(seconds for _, _, seconds in results):.0f})")
    return [f"{path.relative_to(REPO)} fails {where}:\n{failure}" for path, failure, _ in results if failure]
