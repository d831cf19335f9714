"""grader.cell_dependencies: which cells grading may leave out, on tiny notebooks (no kernel).

A cell is left out only when no later graded cell can see a difference: it
neither binds nor changes a name a kept later cell reads, does not change
global state, and is not read through ``globals()``. Each test below is one
way a cell can matter (or not).
"""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from grader.cell_dependencies import plan


def answer(source: str):
    return new_code_cell(source, metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "f_solution"}})


def graded_test(source: str):
    return new_code_cell(source, metadata={"nbgrader": {"solution": False, "grade": True, "grade_id": "f_test",
                                                        "points": 1}})


def plain(source: str):
    return new_code_cell(source, metadata={"nbgrader": {"solution": False, "grade": False, "grade_id": "demo"}})


def left_out(cells) -> list[int]:
    """Indices of the cells the plan leaves out."""
    return [decision.index for decision in plan(cells) if not decision.run]


def test_a_demonstration_nothing_reads_is_left_out_and_graded_cells_never_are():
    cells = [plain("import numpy as np\nratings = np.ones(3)"), answer("def f(x):\n    return x + 1"),
             plain("model = f(ratings)  # trains for minutes\nprint(model)"), new_markdown_cell("text"),
             graded_test("assert np.isclose(f(1), 2)"), plain("chart = model * 2")]
    assert left_out(cells) == [2, 5]  # the last one: after the last graded cell


def test_a_cell_that_makes_what_a_test_reads_runs_and_so_do_the_cells_it_needs():
    cells = [plain("base = 2"), plain("data = [base, 3]"), plain("other = 5"), graded_test("assert len(data) == 2")]
    assert left_out(cells) == [2]


@pytest.mark.parametrize("change", ["data.append(4)", "data[0] = 9", "data += [1]", "del data[0]",
                                    "data.sort_values('x', inplace=True)", "setattr(data, 'x', 1)",
                                    "shuffle_in_place(data)", "np.random.shuffle(data)"])
def test_a_cell_that_may_change_what_a_test_reads_runs(change):
    cells = [plain("import numpy as np\ndata = [3, 1]"), answer("def shuffle_in_place(x):\n    x.reverse()"),
             plain(change), graded_test("assert shuffle_in_place and len(data) > 0")]
    assert left_out(cells) == []


@pytest.mark.parametrize("reading", ["data.head()", "data.groupby('a').mean()", "len(data)",
                                     "print(data)", "copy = data.copy()"])
def test_reading_what_a_test_reads_is_not_changing_it(reading):
    cells = [plain("data = [3, 1]"), plain(reading), graded_test("assert len(data) == 2")]
    assert left_out(cells) == [1]


def test_a_function_reads_the_names_of_its_body_where_it_is_called():
    # f reads `scale` when the test calls it: the cell that sets scale after f's definition runs.
    cells = [answer("def f(x):\n    return helper(x) * 2"), plain("def helper(x):\n    return x * scale"),
             plain("scale = 3"), plain("unused = 1"), graded_test("assert f(1) == 6")]
    assert left_out(cells) == [3]


def test_calling_a_notebook_function_may_change_what_it_reads():
    cells = [answer("def f():\n    return len(log)"), plain("log = []"),
             plain("def record(x):\n    log.append(x)"), plain("record(1)"), graded_test("assert f() == 1")]
    assert left_out(cells) == []


def test_names_local_to_a_function_or_bound_first_in_the_cell_are_not_read_from_before():
    cells = [plain("U = 'demo'\nname = 'demo'"), answer("def f(U):\n    return U"),
             graded_test("for name in ['a']:\n    assert f(name) == name\nU = 1\nassert f(U) == 1")]
    assert left_out(cells) == [0]


@pytest.mark.parametrize("pinned", ["np.random.seed(0)", "keras.utils.set_random_seed(0)", "os.environ['X'] = '1'",
                                    "%time x = 1", "!echo hi", "pd.set_option('display.width', 80)"])
def test_a_cell_that_changes_global_state_before_a_graded_cell_runs(pinned):
    cells = [plain("import os, numpy as np, pandas as pd, keras"), plain(pinned), graded_test("assert True")]
    assert left_out(cells) == []


def test_reading_names_dynamically_keeps_every_cell_before_but_the_tests_own_globals_do_not():
    before = [plain("a = 1"), plain("b = 2")]
    assert left_out([*before, answer("def f():\n    return globals()['b']"), graded_test("assert f() == 2")]) == []
    assert left_out([*before, graded_test("with swap(globals(), f=None):\n    pass")]) == [0, 1]


def test_a_global_statement_anywhere_runs_every_cell():
    cells = [plain("counter = 0"), answer("def f():\n    global counter\n    counter += 1"), plain("extra = 1"),
             graded_test("f()")]
    assert left_out(cells) == []


def test_importing_again_makes_nothing_new_but_the_first_import_is_needed():
    cells = [plain("import numpy as np"), plain("import numpy as np\nslow = np.ones(3)"), graded_test("assert np.pi")]
    assert left_out(cells) == [1]


def test_the_methods_of_a_notebook_class_read_their_globals_whenever_they_are_called():
    cells = [answer("class Model:\n    def predict(self):\n        return weights"), plain("m = Model()"),
             plain("weights = 3"), graded_test("assert m.predict() == 3")]
    assert left_out(cells) == []


def test_code_that_does_not_parse_runs():
    cells = [plain("x = (1,"), graded_test("assert True")]
    assert left_out(cells) == []


def test_readings_kept_on_disk_give_the_same_plan_and_a_corrupt_one_is_read_again(tmp_path, monkeypatch):
    from grader import cell_dependencies

    cells = [plain("data = [1]"), plain("demo = 2"), graded_test("assert data")]
    first = plan(cells, cache_folder=tmp_path)
    stored = sorted(tmp_path.glob("*.pickle"))
    assert len(stored) == 6  # per cell: its reading and its definitions
    monkeypatch.setattr(cell_dependencies, "_READ_CACHE", {})  # a new worker process
    monkeypatch.setattr(cell_dependencies, "_definitions", lambda source: pytest.fail("read again"))
    assert plan(cells, cache_folder=tmp_path) == first  # all from the disk
    monkeypatch.undo()
    monkeypatch.setattr(cell_dependencies, "_READ_CACHE", {})
    for path in stored:
        path.write_bytes(b"not a pickle")
    assert plan(cells, cache_folder=tmp_path) == first
    assert left_out(cells) == [1]
