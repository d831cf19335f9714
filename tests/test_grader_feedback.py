"""grader.feedback: hidden tests reduced to their verdicts before the feedback page is rendered."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_notebook, new_output

from grader.cells import HIDDEN_BEGIN, HIDDEN_END
from grader.feedback import cell_docstring, hidden_test_ids, hide_hidden_tests, verdict


def _test(source, grade_id, points=2):
    return new_code_cell(source, metadata={"nbgrader": {"grade": True, "grade_id": grade_id, "points": points,
                                                        "solution": False, "locked": True}})


HIDDEN = f'"""Checks the values on fresh data."""\nassert f(1) == 1\n{HIDDEN_BEGIN}\nassert f(2) == 4  # secret\n{HIDDEN_END}'


def test_only_test_cells_with_hidden_regions_count():
    source = new_notebook(cells=[_test(HIDDEN, "f_hidden_values"), _test("assert f(1) == 1", "f_visible_format"),
                                 new_code_cell(HIDDEN)])
    assert hidden_test_ids(source) == {"f_hidden_values"}


def test_a_hidden_cell_keeps_its_visible_part_and_a_verdict():
    source = new_notebook(cells=[_test(HIDDEN, "f_hidden_values")])
    failed = _test(HIDDEN, "f_hidden_values")
    failed.outputs = [new_output("error", ename="AssertionError", evalue="f(2) is 3, expected 4\nmore",
                                 traceback=["  assert f(2) == 4  # secret"])]
    graded = hide_hidden_tests(new_notebook(cells=[failed]), source)
    cell = graded.cells[0]
    assert "secret" not in cell.source and HIDDEN_BEGIN not in cell.source
    assert cell.source.startswith('"""Checks the values on fresh data."""\nassert f(1) == 1')
    assert cell.source.endswith("# Hidden tests: their code is not shown.")
    assert cell.outputs[0]["text"] == "Hidden test failed (0 of 2 points): AssertionError: f(2) is 3, expected 4\n"
    assert "secret" not in str(cell.outputs)


def test_a_passing_hidden_cell_says_so_with_its_points():
    only_hidden = f'{HIDDEN_BEGIN}\n"""Checks the seed."""\nassert True\n{HIDDEN_END}'
    source = new_notebook(cells=[_test(only_hidden, "f_hidden_seed", points=3)])
    graded = hide_hidden_tests(new_notebook(cells=[_test(only_hidden, "f_hidden_seed", points=3)]), source)
    assert graded.cells[0].source == '"""Checks the seed."""\n# Hidden tests: their code is not shown.'
    assert graded.cells[0].outputs[0]["text"] == "Hidden test passed (3 of 3 points)\n"


def test_verdict_and_docstring_helpers():
    assert verdict(_test("x", "a")) == (True, "passed")
    cell = _test("x", "a")
    cell.outputs = [new_output("error", ename="NameError", evalue="", traceback=[])]
    assert verdict(cell) == (False, "NameError")
    assert cell_docstring("x = (") == ""
    assert cell_docstring(HIDDEN) == "Checks the values on fresh data."
