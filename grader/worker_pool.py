"""Run a notebook's grading worker: forked from a warm template (default) or as a fresh process.

``grader.grade`` grades each notebook with :func:`run_grade_one`, which does
what ``python -m grader.grade_one JOB.json RESULT.json`` does, in one of two
ways chosen by ``RECSYS_GRADER_WORKER``:

- ``pool`` (the default on Linux): the first call starts, for this process,
  two servers (:mod:`grader.fork_server`): a *worker template* that has
  imported nbgrader, nbconvert and the grader (about 2 CPU seconds, once), and
  the *kernel zygote* (:mod:`grader.kernel_zygote`) that has imported the
  course's stack (about 4 CPU seconds, once). Each notebook's worker is a
  child forked from the template, in a session of its own; it exits when its
  notebook is done, so nothing of one notebook stays for the next. Its kernel
  is forked from the zygote and sandboxed per notebook.
- ``process``: a new Python process per notebook, which starts its kernel
  itself (the previous design, kept as a fallback and for the benchmark's
  old/new ratio). Also used where ``fork`` is not the platform's way (not Linux).

Both give the same result file and the same timeout behaviour: past
``timeout`` the worker's whole process group and its kernel are killed and
``subprocess.TimeoutExpired`` is raised. The pool is per process (Dask
worker processes each get theirs) and stops with it (:func:`shutdown`,
registered with ``atexit``); if it cannot start or dies, the notebook is
graded the ``process`` way.

Run as ``python -m grader.worker_pool SOCKET`` (the worker template).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # the worker template: as grader.grade_one, before nbformat is imported
    sys.modules.setdefault("rfc3987_syntax", None)

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from . import fork_server
from .kernel_zygote import ZYGOTE_ENV
from .nbgrader_helpers import REPO_ROOT

WORKER_ENV = "RECSYS_GRADER_WORKER"
MODES = ("pool", "process")


def default_mode() -> str:
    """``RECSYS_GRADER_WORKER`` if set, else ``pool`` on Linux and ``process`` elsewhere."""
    mode = os.environ.get(WORKER_ENV) or ("pool" if sys.platform.startswith("linux") else "process")
    if mode not in MODES:
        raise ValueError(f"{WORKER_ENV} must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def run_grade_one(job_file: Path, result_file: Path, *, env: dict[str, str], timeout: float,
                  cwd: str | Path, mode: str | None = None) -> None:
    """Grade the job in ``job_file`` into ``result_file``; raise ``subprocess.TimeoutExpired`` after ``timeout``."""
    mode = mode or default_mode()
    if mode == "pool":
        try:
            return _pool().run(job_file, result_file, env=env, timeout=timeout, cwd=cwd)
        except OSError:
            pass  # no pool here: a process of its own, as before
    command = [sys.executable, "-m", "grader.grade_one", str(job_file), str(result_file)]
    process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # The worker's group; its kernel (a session of its own) sees its parent gone and ends too.
        fork_server._kill_group(process.pid)
        process.wait()
        raise


class Pool:
    """The worker template and the kernel zygote of this process (see the module doc)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="recsys-grader-pool-"))  # private to the user (0700)
        self.worker_socket = self.folder / "worker.sock"
        self.zygote_socket = self.folder / "zygote.sock"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        self.servers = []
        for module, path in (("grader.kernel_zygote", self.zygote_socket), ("grader.worker_pool", self.worker_socket)):
            self.servers.append(subprocess.Popen(
                [sys.executable, "-m", module, str(path)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, cwd=self.folder, env=env))
        deadline = time.monotonic() + 60
        while not (self.worker_socket.exists() and self.zygote_socket.exists()):
            if time.monotonic() > deadline or any(server.poll() is not None for server in self.servers):
                self.close()
                raise OSError("the grading pool did not start")
            time.sleep(0.02)

    def alive(self) -> bool:
        return all(server.poll() is None for server in self.servers)

    def run(self, job_file: Path, result_file: Path, *, env: dict[str, str], timeout: float,
            cwd: str | Path) -> None:
        payload = {"argv": [str(job_file), str(result_file)], "env": {**env, ZYGOTE_ENV: str(self.zygote_socket)},
                   "cwd": str(cwd)}
        request = fork_server.Request(self.worker_socket, payload, connect_timeout=60)
        deadline = time.monotonic() + timeout
        try:
            request.wait_pid(timeout=timeout)
            code = request.wait_exit(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            request.kill()
            raise subprocess.TimeoutExpired(["grader.worker_pool", str(job_file)], timeout) from None
        finally:
            request.close()
        if code is None:
            raise OSError("the grading worker template went away")

    def close(self) -> None:
        for server in self.servers:
            if server.stdin:
                server.stdin.close()  # a server stops when its standard input closes
        for server in self.servers:
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_lock = threading.Lock()
_pools: dict[int, Pool] = {}  # pid -> this process's pool (a forked copy never uses its parent's)


def _pool() -> Pool:
    with _lock:
        pool = _pools.get(os.getpid())
        if pool is not None and not pool.alive():
            pool.close()
            pool = None
        if pool is None:
            pool = _pools[os.getpid()] = Pool()
        return pool


def shutdown() -> None:
    """Stop this process's pool (its servers' CPU time then counts in ``getrusage`` of children)."""
    with _lock:
        pool = _pools.pop(os.getpid(), None)
    if pool is not None:
        pool.close()


atexit.register(shutdown)


# --- the worker template ----------------------------------------------------------------

def preload() -> None:
    """What every grading worker imports, once."""
    import nbclient  # noqa: F401
    import nbconvert.exporters  # noqa: F401
    import nbgrader.api  # noqa: F401
    import nbgrader.converters  # noqa: F401
    import nbgrader.coursedir  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401

    from . import execution, feedback, grade_one, inline_hidden_helpers  # noqa: F401
    from . import course_links  # noqa: F401
    from .feedback_exporter import compile_templates
    from .nbgrader_helpers import check_cell_metadata_cheaply

    # What every notebook's worker would otherwise do again, done once here before it forks.
    check_cell_metadata_cheaply()
    compile_templates()


def grading_child(conn) -> int:
    """A forked child of the template: grade one notebook as ``python -m grader.grade_one`` would."""
    request, _ = fork_server.read_request(conn)
    fork_server.answer(conn, pid=os.getpid())
    conn.close()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    fork_server.close_inherited_fds()
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    from .grade_one import main

    return main(request["argv"])


def main(argv: list[str]) -> int:
    code = fork_server.serve(Path(argv[0]), grading_child, preload)
    os._exit(code)  # no interpreter teardown: nothing to save, and unloading this stack costs seconds


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
