"""Helpers shared by the hidden tests of every notebook.

A hidden block imports what it uses::

    from grader.hidden_tests.common import as_number, forbid_library

At release, ``grader.inline_hidden_helpers`` replaces that line by the
definitions (and whatever they use), so the gradebook's cells need no
``grader``. Everything here therefore runs in the STUDENT'S namespace: names
are distinctive, module-level imports are numpy, pandas, TensorFlow and the
standard library only (``recsys_course`` is imported inside functions).
"""

import contextlib
import functools
import importlib
import types

import numpy as np
import tensorflow as tf

# --- Reading what an answer returned ---------------------------------------------------


def as_number(result, what="the answer"):
    """A scalar result (tensor, numpy scalar or Python number) as a Python float, after checking it.

    ``what`` names the answer in the messages (e.g. ``"precision_at_k"``). A bool is not a number here.
    """
    if isinstance(result, (tf.Tensor, tf.Variable)):
        result = result.numpy()
    assert isinstance(result, (np.ndarray, np.generic, float, int)) and not isinstance(result, (bool, np.bool_)), (
        f"{what}: expected a tensor or a number, got {type(result).__name__}")
    array = np.asarray(result, dtype=np.float64)
    assert array.size == 1, f"{what}: expected a single number, got shape {array.shape}"
    return float(array.reshape(-1)[0])


def assert_close(got, expected, what, rtol=1e-4, atol=1e-4):
    """Assert two numbers or arrays agree within ``atol + rtol * |expected|``, saying how far off."""
    got_array = np.asarray(got, dtype=np.float64)
    expected_array = np.asarray(expected, dtype=np.float64)
    assert got_array.shape == expected_array.shape, (
        f"{what}: expected shape {expected_array.shape}, got {got_array.shape}")
    if got_array.size == 0:
        return
    assert np.all(np.isfinite(got_array)), f"{what}: the result holds NaN or infinite values"
    error = np.abs(got_array - expected_array)
    worst = int(np.argmax(error - rtol * np.abs(expected_array)))
    allowed = atol + rtol * np.abs(expected_array.reshape(-1)[worst])
    assert error.reshape(-1)[worst] <= allowed, (
        f"{what}: got {got_array.reshape(-1)[worst]:.6g}, expected {expected_array.reshape(-1)[worst]:.6g}"
        + (f" (at index {tuple(int(i) for i in np.unravel_index(worst, got_array.shape))})"
           if got_array.ndim else ""))


# --- Models of notebooks 4-7 ----------------------------------------------------------


def model_metric(model, name):
    """The metric callable called `name`, from any of the model's metric dicts."""
    for panel in getattr(model, "metrics", []):
        if name in panel:
            return panel[name]
    raise AssertionError(f"the model has no metric called {name!r}")


def synthetic_ratings(num_users, num_movies, num_ratings, seed):
    """A synthetic ratings frame with the course's conventions (0-based ids, float ratings)."""
    from recsys_course.synthetic import make_synthetic_frames

    _, _, frame, _, _ = make_synthetic_frames(num_users=num_users, num_movies=num_movies,
                                              num_ratings=num_ratings, seed=seed)
    frame = frame.copy()
    frame["user_id"] -= 1
    frame["movie_id"] -= 1
    frame["rating"] = frame["rating"].astype(np.float64)
    return frame


def random_rating_case(seed, num_users, num_movies, num_ratings, dim, scale=1.0, unrated=0):
    """Distinct random (user, movie) cells in random order, ratings 1-5, N(0, scale^2) float32 embeddings.

    Returns ``indices`` (int64, [R, 2]), ``values``, ``users`` [N, d], ``movies`` [M, d]. The last
    ``unrated`` users and movies get no rating (nor may some others).
    """
    rng = np.random.default_rng(seed)
    rows, columns = num_users - unrated, num_movies - unrated
    cells = rng.choice(rows * columns, size=num_ratings, replace=False)
    indices = np.stack([cells // columns, cells % columns], axis=1).astype(np.int64)
    values = rng.integers(1, 6, size=num_ratings).astype(np.float32)
    users = rng.normal(0.0, scale, (num_users, dim)).astype(np.float32)
    movies = rng.normal(0.0, scale, (num_movies, dim)).astype(np.float32)
    return indices, values, users, movies


# --- References of the exercises that later exercises build on ----------------------------
# Written once here (and checked against the library's versions in
# tests/test_hidden_tests_helpers.py). Inlined into the cell, they are new function
# objects: a student who replaces the library's function cannot change them.


def reference_gravity(U, V):
    """1/(NM) sum_ij <U_i, V_j>^2 through the d x d Gram matrices (differentiable)."""
    U, V = tf.convert_to_tensor(U), tf.convert_to_tensor(V)
    pairs = tf.cast(tf.shape(U)[0] * tf.shape(V)[0], U.dtype)
    return tf.reduce_sum(tf.matmul(U, U, transpose_a=True) * tf.matmul(V, V, transpose_a=True)) / pairs


def reference_softmax_loss(user_embeddings, movie_embeddings, labels):
    """Mean sparse softmax cross entropy of the logits user_embeddings @ movie_embeddings^T."""
    logits = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int64), logits=logits))


@contextlib.contextmanager
def references_in(namespace, **references):
    """Bind ``references`` (e.g. ``gravity=reference_gravity``) in ``namespace`` for a while.

    Charges one mistake once: the hidden tests of a builder run it with the
    reference of the earlier exercise it builds on, so a wrong ``gravity``
    costs gravity's points only. The student's names come back afterwards.
    """
    missing = object()
    saved = {name: namespace.get(name, missing) for name in references}
    namespace.update(references)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


# --- No points for handing the exercise to the helper library -------------------------------

# The helper library keeps its own version of most exercises (later notebooks build on
# them). While the student's answer runs, these are booby-trapped.
LIBRARY_VERSIONS = {
    # 01 exploring MovieLens
    "split_dataframe": ("recsys_course.splits.split_dataframe",),
    # 02 the sparse rating matrix
    "build_rating_sparse_tensor": ("recsys_course.sparse_ratings.build_rating_sparse_tensor",),
    # 03 measuring error
    "sparse_mean_square_error": ("recsys_course.losses.observed_mse",
                                 "recsys_course.matrix_factorization.dense_route_mse",
                                 "recsys_course.matrix_factorization.gather_route_mse"),
    # 04 matrix factorization
    "build_model": ("recsys_course.matrix_factorization.build_mf_model",),
    # 05 inspecting embeddings
    "compute_scores": ("recsys_course.embeddings.compute_scores",),
    # 06 regularization
    "gravity": ("recsys_course.regularization.gravity", "recsys_course.regularization.gravity_naive"),
    "build_regularized_model": ("recsys_course.regularization.build_regularized_model",),
    # 07 the softmax model
    "softmax_loss": ("recsys_course.softmax.softmax_loss",),
    "input_bags": ("recsys_course.softmax.input_bags",),
    "build_softmax_model": ("recsys_course.softmax.build_softmax_model",),
    # 08 evaluating recommenders
    "top_k_unseen": ("recsys_course.ranking_metrics.top_k_unseen",),
    "precision_at_k": ("recsys_course.ranking_metrics.precision_at_k",),
    "recall_at_k": ("recsys_course.ranking_metrics.recall_at_k",),
    "ndcg_at_k": ("recsys_course.ranking_metrics.ndcg_at_k",),
    "popularity_scores": ("recsys_course.ranking_metrics.popularity_scores",),
    "novelty": ("recsys_course.ranking_metrics.novelty",),
    "intra_list_diversity": ("recsys_course.ranking_metrics.intra_list_diversity",),
    # 09 matrix factorization in Keras
    "split_by_time": ("recsys_course.splits.split_by_time",),
    "build_keras_mf": ("recsys_course.keras_mf.build_keras_mf",),
    # 10 two towers (softmax_loss with labels 0..batch-1 and top_k_unseen compute the same)
    "in_batch_softmax_loss": ("recsys_course.retrieval.in_batch_softmax_loss", "recsys_course.softmax.softmax_loss"),
    "retrieve_top_k": ("recsys_course.retrieval.retrieve_top_k", "recsys_course.ranking_metrics.top_k_unseen"),
    # 11 neighbourhoods (every library route to a prediction ends in _weighted_mean)
    "item_similarity": ("recsys_course.neighbours.item_similarity",),
    "knn_predict": ("recsys_course.neighbours.knn_predict", "recsys_course.neighbours._weighted_mean"),
}

_LIBRARY_TRAP_GLOBAL = "__hidden_test_library_trap__"


class LibraryDelegationError(AssertionError):
    """The answer handed the exercise to the helper library's own version."""


def _library_function(qualified_name):
    module_name, _, name = qualified_name.rpartition(".")
    function = getattr(importlib.import_module(module_name), name)
    assert isinstance(function, types.FunctionType) and function.__module__ == module_name, (
        f"{qualified_name} is not the library's function any more: was it replaced?")
    return function


def _unwrapped(function, depth=0):
    """What a callable ends up calling: through partials, bound methods, tf.function, decorators."""
    if depth > 20:
        return function
    for attribute in ("func", "__func__", "python_function", "_python_function", "__wrapped__"):
        inner = getattr(function, attribute, None)
        if inner is not None and inner is not function and callable(inner):
            return _unwrapped(inner, depth + 1)
    return function


def _delegation_message(exercise, qualified_name):
    return (f"{exercise} hands the exercise to {qualified_name}: "
            "no points for this exercise (write it yourself)")


@contextlib.contextmanager
def forbid_library(exercise, answer=None):
    """Fail if the answer to ``exercise`` uses the library's version of it while this runs.

    Each library version's ``__code__`` is swapped for one that records the
    call and raises :class:`LibraryDelegationError`; every route to the
    function (a call, an alias, ``import ... as``, a module attribute,
    importlib, a wrapper, ``functools.partial``, a lambda) ends in that same
    function object. A call the answer catches still fails the test. ``answer``
    (the student's function), when given, is also checked for being the
    library's function itself, a partial of it or a copy of its code.
    Library versions of other exercises stay usable.
    """
    qualified_names = LIBRARY_VERSIONS[exercise]
    functions = {name: _library_function(name) for name in qualified_names}
    if answer is not None:
        inner = _unwrapped(answer)
        for name, function in functions.items():
            if inner is function or getattr(inner, "__code__", None) is function.__code__:
                raise LibraryDelegationError(_delegation_message(exercise, name))
    calls = []

    def trap(qualified_name):
        calls.append(qualified_name)
        raise LibraryDelegationError(_delegation_message(exercise, qualified_name))

    originals = {}
    try:
        for name, function in functions.items():
            namespace = {}
            exec(f"def _trapped(*args, **kwargs):\n    return {_LIBRARY_TRAP_GLOBAL}({name!r})\n", namespace)
            function.__globals__[_LIBRARY_TRAP_GLOBAL] = trap
            originals[name] = function.__code__
            function.__code__ = namespace["_trapped"].__code__
        try:
            yield
        except Exception as error:
            if calls:
                raise LibraryDelegationError(_delegation_message(exercise, calls[0])) from error
            raise
        if calls:  # the answer caught the trap's exception: still a delegation
            raise LibraryDelegationError(_delegation_message(exercise, calls[0]))
    finally:
        for name, code in originals.items():
            functions[name].__code__ = code
            functions[name].__globals__.pop(_LIBRARY_TRAP_GLOBAL, None)


def guarded(answer, exercise):
    """``answer`` wrapped so that each call runs under :func:`forbid_library` for ``exercise``."""
    @functools.wraps(answer)
    def call(*args, **kwargs):
        with forbid_library(exercise, answer):
            return answer(*args, **kwargs)
    return call
