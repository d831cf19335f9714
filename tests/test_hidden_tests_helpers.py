"""The hidden tests' shared helpers (grader/hidden_tests) and their inlining at release."""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest
import tensorflow as tf

from grader import inline_hidden_helpers as inliner
from grader.hidden_tests import common
from grader.inline_hidden_helpers import HiddenHelperError, inline_hidden_helpers, inline_notebook


def hidden(body: str, visible: str = '"""Hidden test: what it checks."""') -> str:
    """A test cell whose hidden block is ``body``."""
    return f"{visible}\n### BEGIN HIDDEN TESTS\n{textwrap.dedent(body).strip()}\n### END HIDDEN TESTS"


class _NoGrader:
    """A meta-path finder under which ``grader`` cannot be imported (as in a graded kernel)."""

    def find_spec(self, name, path=None, target=None):
        if name == "grader" or name.startswith("grader."):
            raise ImportError(f"{name} is not importable here")
        return None


@contextlib.contextmanager
def grader_not_importable():
    saved = {name: module for name, module in sys.modules.items()
             if name == "grader" or name.startswith("grader.")}
    for name in saved:
        del sys.modules[name]
    finder = _NoGrader()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        sys.modules.update(saved)


def run_fresh(source: str, **names) -> dict:
    """Execute a cell's (inlined) source in a fresh namespace where ``grader`` cannot be imported."""
    namespace = {"__name__": "__main__", **names}
    with grader_not_importable():
        exec(compile(source, "<cell>", "exec"), namespace)
    return namespace


# --- common: reading and comparing results ---------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (tf.constant(2.5), 2.5), (tf.Variable(1.0), 1.0), (np.float32(3.0), 3.0), (4, 4.0),
    (np.array([[0.5]]), 0.5), (tf.constant([7.0]), 7.0)])
def test_as_number_reads_scalars(value, expected):
    assert common.as_number(value) == pytest.approx(expected)


@pytest.mark.parametrize("value, message", [
    (None, "got NoneType"), ("1.0", "got str"), (True, "got bool"),
    (np.zeros(3), "single number"), (tf.zeros([2, 2]), "single number")])
def test_as_number_refuses_what_is_not_one_number(value, message):
    with pytest.raises(AssertionError, match=message):
        common.as_number(value)


def test_assert_close_says_where_and_how_far():
    common.assert_close([1.0, 2.0], [1.0, 2.00001], "values")
    with pytest.raises(AssertionError, match=r"values: got 3, expected 2 \(at index \(1,\)\)"):
        common.assert_close([1.0, 3.0], [1.0, 2.0], "values")
    with pytest.raises(AssertionError, match="expected shape"):
        common.assert_close([1.0], [1.0, 2.0], "values")
    with pytest.raises(AssertionError, match="NaN"):
        common.assert_close([np.nan], [1.0], "values")


def test_model_metric_finds_a_metric_in_any_panel():
    class Model:
        metrics = [{"a": 1}, {"b": 2}]
    assert common.model_metric(Model(), "b") == 2
    with pytest.raises(AssertionError, match="no metric called 'c'"):
        common.model_metric(Model(), "c")


def test_synthetic_ratings_follow_the_course_conventions():
    frame = common.synthetic_ratings(10, 20, 50, seed=1)
    assert len(frame) == 50 and frame.user_id.min() >= 0 and frame.movie_id.max() < 20
    assert frame.rating.dtype == np.float64


# --- common: references agree with the library ---------------------------------------------


def test_reference_gravity_is_the_library_gravity():
    from recsys_course import regularization

    rng = np.random.default_rng(0)
    U, V = rng.normal(size=(7, 3)).astype(np.float32), rng.normal(size=(11, 3)).astype(np.float32)
    np.testing.assert_allclose(common.reference_gravity(U, V).numpy(),
                               regularization.gravity_naive(U, V).numpy(), rtol=1e-5)
    variable = tf.Variable(U)
    with tf.GradientTape() as tape:
        value = common.reference_gravity(variable, V)
    assert tape.gradient(value, variable) is not None


def test_reference_softmax_loss_is_the_library_loss():
    from recsys_course import softmax

    rng = np.random.default_rng(1)
    users, movies = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=(9, 4)).astype(np.float32)
    labels = rng.integers(0, 9, 5)
    np.testing.assert_allclose(common.reference_softmax_loss(users, movies, labels).numpy(),
                               softmax.softmax_loss(users, movies, labels).numpy(), rtol=1e-6)


def test_references_in_binds_for_a_while_and_restores():
    namespace = {"gravity": "student's"}
    with common.references_in(namespace, gravity="reference", softmax_loss="reference"):
        assert namespace == {"gravity": "reference", "softmax_loss": "reference"}
    assert namespace == {"gravity": "student's"}
    with pytest.raises(ZeroDivisionError), common.references_in(namespace, gravity="reference"):
        1 / 0
    assert namespace == {"gravity": "student's"}


# --- common: the guard against handing the exercise to the library -----------------------------


def _gravity_library():
    return importlib.import_module("recsys_course.regularization")


def _caught(U, V):
    try:
        return _gravity_library().gravity(U, V)
    except Exception:
        return common.reference_gravity(U, V)


class _Wrapper:
    def method(self, U, V):
        return _gravity_library().gravity(U, V)


DELEGATIONS = {
    "a call": lambda U, V: _gravity_library().gravity(U, V),
    "keyword arguments": lambda U, V: _gravity_library().gravity(U=U, V=V),
    "an alias": _gravity_library().gravity,
    "import as": lambda U, V: __import__("recsys_course.regularization", fromlist=["gravity"]).gravity(U, V),
    "importlib": lambda U, V: importlib.import_module("recsys_course.regularization").gravity(U, V),
    "functools.partial": functools.partial(_gravity_library().gravity),
    "a partial call": lambda U, V: functools.partial(_gravity_library().gravity, U)(V),
    "tf.function": tf.function(_gravity_library().gravity),
    "a method": _Wrapper().method,
    "the naive version": lambda U, V: _gravity_library().gravity_naive(U, V),
    "a caught exception": _caught,
}


@pytest.mark.parametrize("form", sorted(DELEGATIONS))
def test_forbid_library_catches_every_delegation_form(form):
    answer = DELEGATIONS[form]
    U, V = np.ones((3, 2), np.float32), np.ones((4, 2), np.float32)
    with pytest.raises(common.LibraryDelegationError,
                       match=r"gravity hands the exercise to recsys_course\.regularization\.gravity(_naive)?: "
                             "no points for this exercise"):
        with common.forbid_library("gravity", answer):
            answer(U, V)
    # restored: the library works again, and the trap left nothing behind
    assert float(_gravity_library().gravity(U, V)) == pytest.approx(4.0)
    assert common._LIBRARY_TRAP_GLOBAL not in vars(_gravity_library())


def test_forbid_library_lets_an_own_answer_and_other_exercises_library_run():
    from recsys_course import losses, regularization
    from recsys_course.sparse_ratings import build_rating_sparse_tensor

    U, V = np.ones((3, 2), np.float32), np.ones((4, 2), np.float32)
    with common.forbid_library("gravity", common.reference_gravity):
        assert float(common.reference_gravity(U, V)) == pytest.approx(4.0)
        ratings = tf.SparseTensor([[0, 1]], [3.0], [3, 4])
        assert float(losses.observed_mse(ratings, U, V)) == pytest.approx(1.0)  # notebook 3's: usable
        assert float(regularization.l2_regularization(U, V)) == pytest.approx(4.0)
    assert build_rating_sparse_tensor is not None


def test_guarded_wraps_an_answer():
    U, V = np.ones((3, 2), np.float32), np.ones((4, 2), np.float32)
    assert float(common.guarded(common.reference_gravity, "gravity")(U, V)) == pytest.approx(4.0)
    with pytest.raises(common.LibraryDelegationError):
        common.guarded(DELEGATIONS["a call"], "gravity")(U, V)


def test_every_listed_library_version_exists_and_is_a_plain_function():
    for exercise, names in common.LIBRARY_VERSIONS.items():
        for name in names:
            assert callable(common._library_function(name)), (exercise, name)


# --- the inliner -------------------------------------------------------------------------------


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A small hidden_tests package of two modules, used instead of the real one."""
    folder = tmp_path / "hidden_tests"
    folder.mkdir()
    (folder / "base.py").write_text(textwrap.dedent('''\
        """Shared."""
        import math

        import numpy as np

        SCALE = 2.0


        def _twice(x):
            return SCALE * x


        def doubled_norm(values):
            """Uses a private helper, a constant and two imports."""
            return _twice(math.sqrt(float(np.sum(np.square(values)))))


        def unused():
            return 0
        '''))
    (folder / "nb09.py").write_text(textwrap.dedent('''\
        import numpy as np

        from .base import doubled_norm
        from grader.hidden_tests.base import SCALE


        def check(values, expected):
            assert abs(doubled_norm(values) - expected) < 1e-9, f"{doubled_norm(values)} != {expected}"
            return SCALE
        '''))
    monkeypatch.setattr(inliner, "PACKAGE_DIR", folder)
    inliner._load_module.cache_clear()
    yield folder
    inliner._load_module.cache_clear()


def _inline(source, folder):
    return inline_hidden_helpers(source, "test cell", folder)


def test_inlined_cell_runs_without_grader_and_behaves_like_the_import(package):
    cell = hidden("""
        import numpy as np
        from grader.hidden_tests.nb09 import (
            check,
        )
        from grader.hidden_tests.base import doubled_norm
        result = check(np.array([3.0, 4.0]), 10.0), doubled_norm([0.0, 1.0])
    """)
    inlined = _inline(cell, package)
    assert "grader" not in inlined.replace("# from grader.hidden_tests", "")
    assert inlined.count("def doubled_norm") == 1 and inlined.count("def _twice") == 1
    assert "def unused" not in inlined and inlined.count("SCALE = 2.0") == 1
    assert inlined.count("import numpy as np") == 1  # the cell's own import is not repeated
    # dependencies come first: _twice before doubled_norm before check
    assert inlined.index("def _twice") < inlined.index("def doubled_norm") < inlined.index("def check")
    assert run_fresh(inlined)["result"] == (2.0, 2.0)
    with pytest.raises(AssertionError):
        run_fresh(_inline(hidden("""
            from grader.hidden_tests.nb09 import check
            check([3.0, 4.0], 11.0)
        """), package))


def test_cells_without_helper_imports_are_unchanged(package):
    cell = hidden("x = 1")
    assert _inline(cell, package) == cell
    assert _inline("print('visible')", package) == "print('visible')"


@pytest.mark.parametrize("body, message", [
    ("from grader.hidden_tests.base import nothing_here", "has no top-level definition 'nothing_here'"),
    ("from grader.hidden_tests.missing import x", "no module grader.hidden_tests.missing"),
    ("from grader.repair import repair_submission", "may import from grader.hidden_tests.<module> only"),
    ("import grader.hidden_tests.base", "not `import grader.hidden_tests.base`"),
    ("from grader.hidden_tests import base", "import names from a module"),
    ("from grader.hidden_tests.base import doubled_norm as dn", "use the helper's own name"),
    ("from grader.hidden_tests.base import *", "name what the test uses"),
    ("def f():\n    from grader.hidden_tests.base import SCALE", "at the top level of the hidden block"),
])
def test_clear_errors(package, body, message):
    with pytest.raises(HiddenHelperError, match=message) as error:
        _inline(hidden(body), package)
    assert "test cell" in str(error.value)


def test_an_import_outside_the_hidden_block_is_refused(package):
    cell = "from grader.hidden_tests.base import SCALE\n" + hidden("x = SCALE")
    with pytest.raises(HiddenHelperError, match="inside ### BEGIN HIDDEN TESTS"):
        _inline(cell, package)


def test_module_rules_are_checked(package):
    (package / "bad.py").write_text("import numpy as np\nif np:\n    X = 1\n")
    with pytest.raises(HiddenHelperError, match="top-level functions, classes, constants and imports only"):
        _inline(hidden("from grader.hidden_tests.bad import X"), package)


def test_inline_notebook_and_the_real_guard_without_grader():
    """The real common module, inlined: the guard works in a namespace that cannot import grader."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(hidden("""
        from grader.hidden_tests.common import as_number, forbid_library
        with forbid_library("gravity", gravity):
            value = as_number(gravity(U, V))
    """))]
    inline_notebook(nb, "nb")
    source = nb.cells[0].source
    U, V = np.ones((3, 2), np.float32), np.ones((4, 2), np.float32)
    assert run_fresh(source, gravity=common.reference_gravity, U=U, V=V)["value"] == pytest.approx(4.0)
    from recsys_course import regularization
    with pytest.raises(AssertionError, match="hands the exercise to recsys_course.regularization.gravity"):
        run_fresh(source, gravity=lambda U, V: regularization.gravity(U, V), U=U, V=V)
    assert float(regularization.gravity(U, V)) == pytest.approx(4.0)


# --- The source notebooks' test cells, inlined, against wrong and delegating answers -----------
# Without nbgrader: each source notebook runs once on the synthetic data (the grader's data),
# with its hidden blocks inlined as the gradebook records them; then the test cells a check
# reads run again with one graded function replaced, as autograde would run them after a
# student's answer. (Later plain cells are not re-run: the test is stricter than autograde.)
# Two notebooks are checked at once, each in a worker process (fixture checked_notebooks).

GRADED = {
    "01_exploring_movielens": ("movie_rating_stats", "split_dataframe"),
    "02_sparse_rating_matrix": ("build_rating_sparse_tensor",),
    "03_measuring_error": ("sparse_mean_square_error",),
    "04_matrix_factorization": ("observed_mse_gradient_step", "build_model"),
    "05_inspecting_embeddings": ("compute_scores",),
    "06_regularization": ("gravity", "build_regularized_model"),
    "07_softmax_model": ("softmax_loss", "input_bags", "build_softmax_model", "precision_at_k", "recall_at_k"),
    "08_evaluating_recommenders": ("top_k_unseen", "precision_at_k", "recall_at_k", "ndcg_at_k",
                                   "popularity_scores", "novelty", "intra_list_diversity"),
    "09_keras_matrix_factorization": ("split_by_time", "build_keras_mf"),
    "10_two_towers": ("in_batch_softmax_loss", "retrieve_top_k"),
    "11_neighbourhoods_and_spark": ("item_similarity", "knn_predict"),
}
WRONG_ANSWERS = {
    "return 0": "def {f}(*args, **kwargs):\n    return 0\n",
    "return None": "def {f}(*args, **kwargs):\n    return None\n",
    "the untouched stub": "def {f}(*args, **kwargs):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n",
}
LIBRARY = "__import__('importlib').import_module({module!r})"
DELEGATIONS_OF = {
    "a call": "def {f}({parameters}):\n    return {call}\n",
    "a module-level alias": "{f} = {library}.{name}\n",
    "functools.partial": "import functools\n{f} = functools.partial({library}.{name})\n",
    "a lambda": "{f} = lambda {parameters}: {call}\n",
}
DIRECT_CALL = ("*args, **kwargs", "{library}.{name}(*args, **kwargs)")
# Library functions that compute the exercise with another signature: the answer adapts the
# arguments (an alias or a partial of them is merely a wrong answer, not tried).
ADAPTED_CALLS = {
    ("in_batch_softmax_loss", "recsys_course.softmax.softmax_loss"): (
        "queries, candidates",
        "{library}.{name}(queries, candidates, __import__('tensorflow').range(__import__('tensorflow').shape(queries)[0]))"),
    ("retrieve_top_k", "recsys_course.ranking_metrics.top_k_unseen"): (
        "queries, candidates, k=100, exclude=None",
        "{library}.{name}(__import__('numpy').asarray(queries) @ __import__('numpy').asarray(candidates).T, "
        "__import__('numpy').zeros((len(queries), len(candidates)), bool) if exclude is None else exclude, k)"),
    ("input_bags", "recsys_course.softmax.input_bags"): (
        "multi_hot, rows, labels", "{library}.{name}({library}.Bags(multi_hot, None, None), rows, labels)"),
    ("knn_predict", "recsys_course.neighbours._weighted_mean"): (
        "similarity, train_ratings, user_id, movie_id, k=20",
        "{library}.KnnPredictor(similarity, train_ratings, k).predict_one(user_id, movie_id)"),
}
# A builder's hidden tests run it with the reference of the earlier exercise it builds on.
BUILDS_ON = {"build_regularized_model": ("gravity",), "build_softmax_model": ("softmax_loss", "input_bags")}


# Seconds (CI, 2 cores) each notebook's checks took: only the order of the jobs depends on them
# (the slowest first, so that the processes finish together); a notebook not listed is taken as
# the slowest.
MEASURED_SECONDS = {
    "09_keras_matrix_factorization": 64, "11_neighbourhoods_and_spark": 43, "10_two_towers": 42,
    "07_softmax_model": 40, "06_regularization": 35, "08_evaluating_recommenders": 15,
    "05_inspecting_embeddings": 8, "04_matrix_factorization": 6, "03_measuring_error": 3,
    "02_sparse_rating_matrix": 2, "01_exploring_movielens": 1,
}
WORKERS = 2  # notebooks checked at once, each in its own process (the CI machine has 2 cores)


def _test_cells(notebook):
    return [cell for cell in notebook.cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")]


def _run(source, namespace, name):
    """Run one cell; its error as text, or None."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            exec(compile(source, name, "exec"), namespace)
    except BaseException as error:  # noqa: BLE001 - a failing test cell, whatever it raised
        return f"{type(error).__name__}: {error}"
    return None


def _execute(assignment, data):
    """(namespace after a run with the solutions, test cells, errors of that run) of one source notebook."""
    from IPython.core.inputtransformer2 import TransformerManager

    from grader.nbgrader_helpers import REPO_ROOT, source_notebook

    transformer = TransformerManager()
    notebook = inline_notebook(nbformat.read(source_notebook(REPO_ROOT, assignment), as_version=4), assignment)
    namespace = {"__name__": "__main__", "display": lambda *args, **kwargs: None}
    errors = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECSYS_COURSE_DATA", str(data))
        for cell in notebook.cells:
            if cell.cell_type == "code":
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "cell")
                errors[grade_id] = _run(transformer.transform_cell(cell.source), namespace, grade_id)
    cells = [(c.metadata.nbgrader["grade_id"], transformer.transform_cell(c.source)) for c in _test_cells(notebook)]
    return namespace, cells, errors


def _rerun_tests(executed, answer, grade_ids):
    """Errors of the test cells ``grade_ids`` (run in the notebook's order) after ``answer`` replaced a function."""
    namespace, cells, _ = executed
    namespace = dict(namespace)
    exec(answer, namespace)
    return {grade_id: _run(source, namespace, grade_id) for grade_id, source in cells if grade_id in grade_ids}


def _own_cells(cells, function):
    return [grade_id for grade_id, _ in cells if grade_id.startswith(function + "_")]


def _charged_elsewhere(cells, function):
    """The hidden test cells of the builders that build on ``function`` (they must not charge it again)."""
    return [g for builder, earlier in BUILDS_ON.items() if function in earlier
            for g, _ in cells if g.startswith(builder + "_hidden_")]


def _delegating_answers(function):
    """``(qualified library name, form, answer's source)`` of each way to hand ``function`` to the library."""
    answers = []
    for qualified in common.LIBRARY_VERSIONS.get(function, ()):
        module, _, name = qualified.rpartition(".")
        parameters, call = ADAPTED_CALLS.get((function, qualified), DIRECT_CALL)
        for form, template in DELEGATIONS_OF.items():
            if (function, qualified) in ADAPTED_CALLS and "{call}" not in template:
                continue
            library = LIBRARY.format(module=module)
            answers.append((qualified, form, template.format(f=function, library=library, name=name,
                                                             parameters=parameters,
                                                             call=call.format(library=library, name=name))))
    return answers


def _check_notebook(assignment, data, checks):
    """In a worker process: the notebook's run and, per check asked for, the errors of the cells it reads.

    Only the test cells a check reads are re-run after an answer (in the notebook's order).
    """
    executed = _execute(assignment, data)
    _, cells, errors = executed
    result = {"errors": errors, "cells": [grade_id for grade_id, _ in cells]}
    if "wrong" in checks:
        result["wrong"] = {
            (function, wrong): _rerun_tests(executed, template.format(f=function),
                                            {*_own_cells(cells, function), *_charged_elsewhere(cells, function)})
            for function in GRADED[assignment] for wrong, template in WRONG_ANSWERS.items()}
    if "delegation" in checks:
        result["delegation"] = {
            (function, qualified, form): _rerun_tests(executed, answer, set(_own_cells(cells, function)))
            for function in GRADED[assignment] for qualified, form, answer in _delegating_answers(function)}
    return result


CHECKS = {"test_wrong_answers_score_nothing_and_are_charged_once": "wrong",
          "test_answers_handing_the_exercise_to_the_library_score_nothing": "delegation"}


@pytest.fixture(scope="module")
def checked_notebooks(request, tmp_path_factory):
    """assignment -> what :func:`_check_notebook` found, for every notebook a selected test of this module
    checks, computed in ``WORKERS`` processes at once (the slowest notebooks first)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from recsys_course.fetch import make_synthetic_movielens

    # RECSYS_COURSE_DATA names the folder that holds ml-100k/ (naming ml-100k itself made every
    # notebook fetch MovieLens into it and run on the real data).
    data = str(make_synthetic_movielens(tmp_path_factory.mktemp("synthetic")).folder.parent)
    wanted = {}
    for item in request.session.items:
        check = CHECKS.get(getattr(item, "originalname", None))
        if check and item.module is request.module:
            wanted.setdefault(item.callspec.params["assignment"], set()).add(check)
    # spawn, not fork: this process has TensorFlow loaded, whose threads a fork would not copy
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {assignment: pool.submit(_check_notebook, assignment, data, wanted[assignment])
                   for assignment in sorted(wanted, key=lambda a: -MEASURED_SECONDS.get(a, float("inf")))}
        def checked(assignment):
            return futures[assignment].result()

        checked.data = Path(data)  # the notebooks' data folder, for the tests to look into
        yield checked


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(GRADED))
def test_wrong_answers_score_nothing_and_are_charged_once(checked_notebooks, assignment):
    checked = checked_notebooks(assignment)
    cells, errors = checked["cells"], checked["errors"]
    failed = {grade_id: error for grade_id, error in errors.items() if error}
    assert not failed, f"the solutions fail: {failed}"
    fetched = [str(p) for p in checked_notebooks.data.glob("ml-100k/*") if p.is_dir()]
    assert not fetched, f"a notebook fetched MovieLens instead of reading the synthetic data set: {fetched}"
    for function in GRADED[assignment]:
        own = [grade_id for grade_id in cells if grade_id.startswith(function + "_")]
        assert own, function
        for wrong in WRONG_ANSWERS:
            results = checked["wrong"][function, wrong]
            passing = [grade_id for grade_id in own if results[grade_id] is None]
            assert not passing, f"{function} as {wrong!r} still passes {passing}"
            for builder, earlier in BUILDS_ON.items():
                if function in earlier:
                    hidden = [g for g in cells if g.startswith(builder + "_hidden_")]
                    charged = {g: results[g] for g in hidden if results[g]}
                    assert not charged, f"{function} as {wrong!r} is charged again in {charged}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(GRADED))
def test_answers_handing_the_exercise_to_the_library_score_nothing(checked_notebooks, assignment):
    checked = checked_notebooks(assignment)
    cells = checked["cells"]
    for function in GRADED[assignment]:
        # every test cell of the exercise: the visible ones end with a hidden guard block
        hidden = [grade_id for grade_id in cells if grade_id.startswith(function + "_")]
        for qualified, form, _ in _delegating_answers(function):
            results = checked["delegation"][function, qualified, form]
            passing = [g for g in hidden if results[g] is None]
            assert not passing, f"{function} delegating to {qualified} by {form} passes {passing}"
            unexplained = [g for g in hidden if "hands the exercise to " + qualified not in results[g]]
            assert not unexplained, (
                f"{function} delegating to {qualified} by {form}: {[results[g] for g in unexplained]}")


def test_inlined_source_notebook_is_what_the_gradebook_records():
    from grader.inline_hidden_helpers import inlined_source_notebook
    from grader.nbgrader_helpers import REPO_ROOT, source_notebook

    notebook = inlined_source_notebook(source_notebook(REPO_ROOT, "06_regularization"))
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in notebook.cells}
    assert "def forbid_library(" in cells["gravity_hidden_values"]
    assert "from grader" not in cells["gravity_hidden_values"].replace("# from grader.hidden_tests", "")


def test_every_notebook_reference_agrees_with_the_library():
    """The float64 references of the hidden tests (written once, per notebook) compute what the
    library's own versions of the exercises compute."""
    from grader.hidden_tests import inspecting_embeddings, measuring_error, regularization, softmax_model
    from grader.hidden_tests import sparse_rating_matrix
    from recsys_course import embeddings, losses, softmax, sparse_ratings
    from recsys_course import regularization as library_regularization

    U, V = regularization._random_embeddings(1, 7, 9, 3)
    assert regularization._naive_gravity(U, V) == pytest.approx(float(library_regularization.gravity(U, V)), rel=1e-5)

    indices, values, users, movies = common.random_rating_case(2, 8, 11, 30, 4)
    observed = tf.SparseTensor(indices, values, [8, 11])
    assert measuring_error._reference_mse(indices, values, users, movies) == pytest.approx(
        float(losses.observed_mse(tf.sparse.reorder(observed), users, movies)), rel=1e-5)

    query, items = inspecting_embeddings._case(3, 6, 4)
    for measure in ("dot", "cosine"):
        np.testing.assert_allclose(inspecting_embeddings._reference(query, items, measure),
                                   embeddings.compute_scores(query, items, measure), rtol=1e-5)

    case_users, case_movies, case_labels = softmax_model._case(4, 5, 9, 3)
    assert softmax_model._reference_loss(case_users, case_movies, case_labels) == pytest.approx(
        float(softmax.softmax_loss(case_users, case_movies, case_labels)), rel=1e-5)

    table = sparse_rating_matrix._ratings(5, 6, 9, 20)
    keys, ratings = sparse_rating_matrix._reference(table)
    library = tf.sparse.reorder(sparse_ratings.build_rating_sparse_tensor(table, 6, 9))
    np.testing.assert_array_equal(library.indices.numpy(), keys)
    np.testing.assert_allclose(library.values.numpy(), ratings)
