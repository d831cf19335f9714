"""grader.execution.GuardedExecute on tiny notebooks with a plain Python kernel (a second or two each).

What it adds to nbgrader's Execute: stderr that cannot fail a test, a tamper
guard that fails every later test closed, per-cell and per-notebook time
limits, a dead kernel that does not leave later tests passing, and Unix
sockets instead of TCP when asked.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from grader.execution import (
    GUARD_MARK, INTEGRITY_ERROR, LEFT_OUT_MARK, LEFT_OUT_NOTE, NOT_RUN_ERROR, GuardedExecute,
)
from grader.statuses import GradeStatus


def _test_cell(source: str, grade_id: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": 1,
                                                        "solution": False, "locked": True, "schema_version": 3}})


def _answer_cell(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"nbgrader": {"grade": False, "grade_id": "f_solution", "solution": True,
                                                        "locked": False, "schema_version": 3}})


def run(cells, tmp_path, **traits) -> nbformat.NotebookNode:
    notebook = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}})
    executor = GuardedExecute(kernel_name="python3", timeout=traits.pop("timeout", 20), **traits)
    executed, _ = executor.preprocess(notebook, {"metadata": {"path": str(tmp_path)}})
    return executed


def errors(cell) -> list[str]:
    return [output["ename"] for output in cell.outputs if output["output_type"] == "error"]


def text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output["output_type"] == "stream")


def test_stderr_is_kept_as_marked_stdout_and_never_fails_a_test(tmp_path):
    notebook = run([_answer_cell("import sys\ndef f():\n    print('careful', file=sys.stderr)\n    return 1"),
                    _test_cell("assert f() == 1", "f_visible_value")], tmp_path)
    test = notebook.cells[1]
    assert errors(test) == []
    assert all(output.get("name") != "stderr" for output in test.outputs)
    assert "[stderr] careful" in text(test)


def test_the_guard_cell_and_lines_are_gone_after_the_run(tmp_path):
    notebook = run([_answer_cell("def f():\n    return 1"), _test_cell("assert f() == 1", "f_visible_value")],
                   tmp_path)
    assert len(notebook.cells) == 2
    assert not any(cell.metadata.get(GUARD_MARK) for cell in notebook.cells)
    assert notebook.cells[1].source == "assert f() == 1"


def test_replacing_what_tests_compare_with_fails_every_later_test(tmp_path):
    notebook = run([_answer_cell("import numpy as np\nnp.allclose = lambda *a, **k: True\ndef f():\n    return 0"),
                    _test_cell("import numpy as np\nassert np.allclose(f(), 1)", "f_hidden_value"),
                    _test_cell("assert True", "f_hidden_other")], tmp_path)
    for test in notebook.cells[1:]:
        assert errors(test) == [INTEGRITY_ERROR]
        assert "numpy.allclose" in test.outputs[-1]["evalue"]
        assert all("grader integrity check" not in line for line in test.outputs[-1]["traceback"])


def test_a_cell_over_its_time_is_an_error_and_the_notebook_goes_on(tmp_path):
    notebook = run([_answer_cell("import time\ndef f():\n    time.sleep(30)"),
                    _test_cell("f()", "f_hidden_slow"), _test_cell("assert 1 + 1 == 2", "f_hidden_after")],
                   tmp_path, timeout=4)
    assert errors(notebook.cells[1]), "the slow test passed"
    assert errors(notebook.cells[2]) == []  # interrupted, the kernel went on


def test_past_the_notebook_deadline_the_cells_left_are_not_run(tmp_path):
    notebook = run([_answer_cell("import time\ntime.sleep(3)\ndef f():\n    return 1"),
                    _test_cell("assert f() == 1", "f_hidden_value")], tmp_path, notebook_timeout=2, timeout=20)
    last = notebook.cells[1]
    assert errors(last) == [NOT_RUN_ERROR]
    # Out of time, or (on a loaded machine, where the kernel's start eats the budget) cut short by it.
    assert any(why in last.outputs[-1]["evalue"] for why in ("ran out of time", "time limit")), last.outputs


def test_a_dead_kernel_leaves_no_later_test_passing(tmp_path):
    notebook = run([_answer_cell("import os\nos._exit(0)"), _test_cell("assert True", "f_hidden_free"),
                    _test_cell("assert True", "f_hidden_free_too")], tmp_path)
    assert errors(notebook.cells[0]) == ["DeadKernelError"]
    for test in notebook.cells[1:]:
        assert errors(test) == [NOT_RUN_ERROR]


@pytest.mark.parametrize("ipc", [False, True])
def test_the_kernel_talks_over_unix_sockets_when_asked(tmp_path, ipc):
    executor = GuardedExecute(kernel_name="python3", kernel_ipc_dir=str(tmp_path) if ipc else "")
    km = executor.create_kernel_manager()
    assert km.transport == ("ipc" if ipc else "tcp")
    if ipc:
        assert km.connection_file.startswith(str(tmp_path)) and km.ip.startswith(str(tmp_path))
        notebook = run([_answer_cell("def f():\n    return 1"), _test_cell("assert f() == 1", "f_visible")],
                       tmp_path, kernel_ipc_dir=str(tmp_path))
        assert errors(notebook.cells[1]) == []


def test_the_status_words_are_the_sheet_words():
    assert GradeStatus.TAMPERING_DETECTED == "tampering_detected"
    assert f"{GradeStatus.GRADED}" == "graded" and str(GradeStatus.KERNEL_DIED) == "kernel_died"


def _plain_cell(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"nbgrader": {"grade": False, "grade_id": "demo", "solution": False,
                                                        "locked": True, "schema_version": 3}})


def test_a_cell_nothing_graded_depends_on_is_left_out_and_says_so(tmp_path):
    cells = [_answer_cell("def f():\n    return data"), _plain_cell("data = [1, 2]"),
             _plain_cell("raise RuntimeError('a slow demonstration')"), _test_cell("assert f() == [1, 2]", "f_value")]
    notebook = run(cells, tmp_path)
    assert errors(notebook.cells[2]) == [] and text(notebook.cells[2]) == LEFT_OUT_NOTE
    assert errors(notebook.cells[3]) == []  # the cell it needs ran
    assert not any(LEFT_OUT_MARK in cell.metadata for cell in notebook.cells)
    every_cell = run(cells, tmp_path, skip_unneeded_cells=False)
    assert errors(every_cell.cells[2]) == ["RuntimeError"]
