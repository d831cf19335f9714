"""nbgrader's Execute step, hardened for running untrusted notebooks.

:class:`GuardedExecute` replaces ``Execute`` in ``Autograde.autograde_preprocessors``
(``grader/nbgrader_config.py`` does it when ``RECSYS_GRADER_GUARDED`` is set)
and adds what nbgrader leaves out:

- **a deadline for the whole notebook** besides the per-cell timeout: once
  it passes, the cells left are marked as not run;
- **a dead kernel is not the end**: when student code kills the kernel
  (``os._exit``, a segfault, the sandbox's memory cap), the cells that ran
  keep their results and every later cell gets an error output saying why,
  so no test cell can pass by not running (nbgrader gives full points to a
  test cell without error output);
- **stderr is not a failure**: nbgrader scores a test cell 0 if anything
  reached stderr, and libraries warn there; stderr becomes stdout marked
  ``[stderr]``, so only an exception fails a test;
- **Unix sockets, not TCP**: with ``kernel_ipc_dir`` set (the grader
  sets ``RECSYS_GRADER_KERNEL_IPC_DIR``), the kernel's channels are Unix
  sockets in that folder, so a kernel in a network namespace of its own
  (:mod:`grader.sandbox_kernel`) still talks to the grader;
- **only what grading needs runs**: a cell that no graded cell depends
  on (a demonstration that trains or draws, found by reading the code:
  :mod:`grader.cell_dependencies`) is not run; its output says so. With
  ``skip_unneeded_cells`` off (``grade --run-every-cell``) every cell runs;
- **tampering fails closed**: a first cell, run before any student code,
  records the functions tests rely on (numpy's comparisons and testing,
  ``math.isclose``, the builtins, ``tf.debugging``); every graded test cell
  first checks that none was replaced and raises ``GraderIntegrityError``
  otherwise. The guard's name is random for each run, so a submission cannot
  prepare for it. (The guard cell and lines are removed before the notebook
  is saved.)
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode, default

from .cell_dependencies import plan
from .cells import is_graded_test

GUARD_MARK = "recsys_grader_guard"
LEFT_OUT_MARK = "recsys_grader_left_out"
LEFT_OUT_NOTE = ("[not run when graded: no graded cell depends on this cell, so the grader left it out; "
                 "it runs as usual in your own notebook]\n")
INTEGRITY_ERROR = "GraderIntegrityError"
NOT_RUN_ERROR = "NotRunError"

# Runs first, in the student's kernel. It must not print, import slowly or
# leave names behind: everything lives in a module named by the token.
_GUARD_PROLOGUE = '''\
def _install(token):
    import builtins, math, sys, types
    import numpy, numpy.testing

    watched = {"math.isclose": (math, "isclose")}
    for name in ("allclose", "isclose", "array_equal", "array_equiv", "asarray", "array",
                 "abs", "max", "min", "all", "any", "sum", "isfinite", "float64", "ndarray"):
        watched["numpy." + name] = (numpy, name)
    for name in dir(numpy.testing):
        if name.startswith("assert"):
            watched["numpy.testing." + name] = (numpy.testing, name)
    # The builtins tests compute and compare with (not input/print: ipykernel
    # rebinds those for every cell).
    for name in ("abs", "all", "any", "bool", "dict", "float", "getattr", "hasattr", "int",
                 "isinstance", "issubclass", "len", "list", "max", "min", "range", "repr",
                 "round", "set", "sorted", "str", "sum", "tuple", "type", "zip"):
        watched["builtins." + name] = (builtins, name)
    snapshot = {label: getattr(owner, name) for label, (owner, name) in watched.items()}
    guard = types.ModuleType(token)
    error = type("GraderIntegrityError", (AssertionError,), {})

    def check():
        changed = [label for label, (owner, name) in watched.items()
                   if getattr(owner, name, None) is not snapshot[label]]
        tf = sys.modules.get("tensorflow")
        debugging = getattr(tf, "debugging", None)
        for name in dir(debugging) if debugging is not None else ():
            module = getattr(getattr(debugging, name), "__module__", "") or ""
            if name.startswith("assert") and not module.startswith(("tensorflow", "keras")):
                changed.append("tf.debugging." + name)
        if changed:
            raise error("the grader found replaced functions that tests rely on ("
                        + ", ".join(sorted(changed)[:5]) + "); this test fails closed. "
                        "Remove any code that reassigns library functions and submit again.")

    guard.check = check
    sys.modules[token] = guard

_install(%TOKEN%)
del _install
'''
_GUARD_CALL = "__import__('sys').modules[{token!r}].check()  # grader integrity check\n"


def _error_output(ename: str, message: str) -> NotebookNode:
    return new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


class GuardedExecute(Execute):
    """Execute with a notebook deadline, dead-kernel recovery, stderr relief and a tamper guard."""

    notebook_timeout = Integer(
        600, help="Seconds the whole notebook may run; the cells left after it are marked as not run."
    ).tag(config=True)
    sandbox_report = Unicode(
        "", help="JSON file where the sandbox kernel notes why it killed the kernel, if it did."
    ).tag(config=True)

    skip_unneeded_cells = Bool(
        True, help="Leave out the cells no graded cell depends on (grader.cell_dependencies)."
    ).tag(config=True)

    cell_analysis_cache = Unicode(
        help="Folder where the reading of each cell is kept for the next notebooks (empty: none)."
    ).tag(config=True)

    @default("cell_analysis_cache")
    def _default_cell_analysis_cache(self) -> str:
        return os.environ.get("RECSYS_GRADER_CELL_ANALYSIS_CACHE", "")

    kernel_ipc_dir = Unicode(
        help="Folder for the kernel's Unix sockets (ipc transport); empty: TCP on 127.0.0.1."
    ).tag(config=True)

    @default("kernel_ipc_dir")
    def _default_kernel_ipc_dir(self) -> str:
        return os.environ.get("RECSYS_GRADER_KERNEL_IPC_DIR", "")

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self.kernel_ipc_dir:
            # The connection file too: by default it goes to the system's temp folder,
            # which a sandboxed kernel does not see.
            km.connection_file = os.path.join(self.kernel_ipc_dir, f"kernel-{secrets.token_hex(4)}.json")
            km.transport = "ipc"
            km.ip = os.path.join(self.kernel_ipc_dir, "kernel")
        return km

    def preprocess(self, nb, resources=None, km=None):
        if self.skip_unneeded_cells:
            self._mark_unneeded_cells(nb)
        token = "_" + secrets.token_hex(8)
        call = _GUARD_CALL.format(token=token)
        guard = new_code_cell(_GUARD_PROLOGUE.replace("%TOKEN%", repr(token)), metadata={GUARD_MARK: True})
        nb.cells.insert(0, guard)
        for cell in nb.cells:
            if is_graded_test(cell):
                cell.source = call + cell.source
        self._deadline = time.monotonic() + self.notebook_timeout
        self._stopped: str | None = None
        try:
            nb, resources = super().preprocess(nb, resources, km)
        except DeadKernelError as error:  # died outside a cell (e.g. at start-up)
            self._stop_everything(nb, f"the kernel died before the notebook could run ({error})")
        finally:
            nb.cells = [cell for cell in nb.cells if not cell.metadata.get(GUARD_MARK)]
            for cell in nb.cells:
                cell.metadata.pop(LEFT_OUT_MARK, None)
            for cell in nb.cells:
                if is_graded_test(cell) and cell.source.startswith(call):
                    cell.source = cell.source[len(call):]
                    for output in cell.get("outputs", []):
                        if "traceback" in output:  # tracebacks quote the guard line
                            output["traceback"] = [line for line in output["traceback"] if token not in line]
        for cell in nb.cells:
            _stderr_to_stdout(cell)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and time.monotonic() >= self._deadline:
            self._stopped = f"the notebook ran out of time ({self.notebook_timeout} s for the whole notebook)"
            self._interrupt_quietly()
        if self._stopped is not None:
            cell.outputs = [_error_output(NOT_RUN_ERROR, f"not run: {self._stopped}")]
            return cell, resources
        if cell.metadata.get(LEFT_OUT_MARK):
            cell.outputs = [new_output("stream", name="stdout", text=LEFT_OUT_NOTE)]
            cell.execution_count = None
            return cell, resources
        saved_timeout = self.timeout
        self.timeout = max(1, min(self.timeout or self.notebook_timeout, int(self._deadline - time.monotonic()) + 1))
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = self._death_reason()
            self._stopped = f"the kernel died in an earlier cell ({reason})"
            cell.outputs.append(_error_output("DeadKernelError", f"the kernel died while this cell ran: {reason}"))
            return cell, resources
        except CellTimeoutError:
            # The cell ran out of time and did not stop when interrupted: the
            # kernel is stuck, so nothing after it can run.
            self._stopped = "an earlier cell went over the per-cell time limit and could not be interrupted"
            cell.outputs.append(_error_output("CellTimeoutError", f"this cell ran longer than {self.timeout} s"))
            return cell, resources
        finally:
            self.timeout = saved_timeout

    def _mark_unneeded_cells(self, nb: NotebookNode) -> None:
        """Mark the cells to leave out; on any doubt (the analysis fails), every cell runs."""
        try:
            decisions = plan(nb.cells, cache_folder=Path(self.cell_analysis_cache) if self.cell_analysis_cache else None)
        except Exception as error:  # noqa: BLE001 -- never lose a grade to the optimisation
            self.log.warning("every cell runs: the cell dependency analysis failed (%s)", error)
            return
        for decision in decisions:
            if not decision.run:
                nb.cells[decision.index].metadata[LEFT_OUT_MARK] = decision.reason

    def _death_reason(self) -> str:
        try:
            report = json.loads(Path(self.sandbox_report).read_text()) if self.sandbox_report else {}
        except (OSError, ValueError):
            report = {}
        return report.get("killed") or "the code exited the process or crashed it"

    def _interrupt_quietly(self) -> None:
        try:
            if self.km is not None:
                # nbgrader's kernel manager is asynchronous: its interrupt is a coroutine to run.
                run_sync(ensure_async)(self.km.interrupt_kernel())
        except Exception:  # noqa: BLE001 -- the kernel may be gone already
            pass

    def _stop_everything(self, nb: NotebookNode, reason: str) -> None:
        for cell in nb.cells:
            if cell.cell_type == "code" and not cell.get("outputs"):
                cell.outputs = [_error_output(NOT_RUN_ERROR, f"not run: {reason}")]


def _stderr_to_stdout(cell: NotebookNode) -> None:
    """Turn stderr stream outputs into marked stdout: a warning is not a failed test."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            output["name"] = "stdout"
            output["text"] = "".join(f"[stderr] {line}" for line in output["text"].splitlines(True))

