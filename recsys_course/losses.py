"""The observed-entries mean squared error, with a fast gradient.

`observed_mse` gives the same value as the gather route of notebook 3,

    mean over observed (i, j) of (U_i . V_j - r_ij)^2,

but tells TensorFlow its gradient directly. With E the sparse matrix of errors
(E_ij = U_i . V_j - r_ij on the observed cells, absent elsewhere),

    d loss / dU = 2/|Omega| E V        d loss / dV = 2/|Omega| E^T U,

two sparse x dense products. Automatic differentiation of the gather route
instead materializes one |Omega| x d row per rating and scatters them back,
which on a CPU is several times slower. Any loss built on `observed_mse`
(alone, or plus regularization and gravity terms) gets this gradient through
ordinary autodiff: `tf.custom_gradient` plugs it into the tape.

XLA cannot compile `tf.sparse.sparse_dense_matmul`. The training step of such
a loss is faster as a plain `tf.function` than any route we measured under XLA
(segment sums, dense products; `benchmarks/bench_trainer.py --routes`), so
`observed_mse` says so (see `collect_xla_exclusions`) and the trainer skips
XLA for it instead of failing to compile and falling back. Only its forward
pass on large rating sets is compiled by XLA, as a function of its own that
the plain training step calls (see `XLA_FORWARD_MIN_RATINGS`).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import weakref
from collections.abc import Iterator
from typing import Any, NamedTuple

import tensorflow as tf

# Predicting every cell with one matmul and then picking the observed ones is
# faster than gathering one embedding pair per rating while the full matrix is
# small and not too empty (measured on 2 CPU cores: MovieLens 100K, 6% full,
# 1.5 ms against 3-5 ms per forward pass). The limits keep memory bounded and
# send large, very sparse matrices (MovieLens 25M) to the gather route.
MAX_DENSE_CELLS = 2**25          # 128 MiB of float32 predictions
MAX_DENSE_CELLS_PER_RATING = 32  # the matrix must be at least ~3% observed

# From this many ratings on, the dense route's forward pass (the matmul, the
# gather of the observed cells and the errors) runs as one XLA-compiled
# function inside the training step, whose other ops stay plain TensorFlow:
# XLA fuses the gather into the subtraction, and the whole training of
# notebook 4 (1000 steps, compilation included) took 10-17% less CPU time on
# two loaded cores. Below it, compiling would cost more than it saves. None:
# never.
XLA_FORWARD_MIN_RATINGS: int | None = 20_000

_xla_exclusions: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "xla_exclusions", default=None)


@contextlib.contextmanager
def collect_xla_exclusions() -> Iterator[list[str]]:
    """Collect, while the block runs, why losses it computes should not use XLA.

    Yields a list that losses of this module append a reason to. The trainer
    wraps one call of the user's loss in this block to choose how to compile.
    """
    reasons: list[str] = []
    token = _xla_exclusions.set(reasons)
    try:
        yield reasons
    finally:
        _xla_exclusions.reset(token)


def _exclude_from_xla(reason: str) -> None:
    reasons = _xla_exclusions.get()
    if reasons is not None and reason not in reasons:
        reasons.append(reason)


class _Observed(NamedTuple):
    """The observed ratings, prepared once for the steps of a training loop."""

    indices: tf.Tensor        # [n, 2] int64, in canonical (user, then movie) order
    users: tf.Tensor          # indices[:, 0]
    movies: tf.Tensor         # indices[:, 1]
    values: tf.Tensor         # [n] ratings
    cells: tf.Tensor | None   # users * num_movies + movies (int32): positions in the flat matrix
    xla_errors: Any = None    # (U, V) -> dense-route errors, compiled by XLA (large sets only)


@functools.cache
def _xla_works() -> bool:
    """Whether XLA compiles and runs a tiny dense-route forward pass here (once per process)."""
    def errors(U, V, cells, values):
        return tf.gather(tf.reshape(tf.matmul(U, V, transpose_b=True), [-1]), cells) - values

    try:
        with tf.init_scope():
            tf.function(errors, jit_compile=True, autograph=False)(
                tf.ones([2, 2]), tf.ones([3, 2]), tf.constant([0, 5]), tf.ones([2])).numpy()
        return True
    except Exception:  # no XLA JIT in this TensorFlow build: the plain route
        return False


# Prepared ratings of the sparse tensors observed_mse has seen, by tensor and
# number of movies: a model's loss and metrics are traced several times (to
# find the variables, to compile the steps, to compile the metrics), and
# sorting 90,000 ratings each time cost 25 ms a trace.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _prepare(sparse_ratings: tf.SparseTensor, num_movies: int | None = None) -> _Observed:
    """Sort the ratings and slice out what every step needs.

    sparse_dense_matmul accepts any order, but reading the rows in order keeps
    its memory accesses local (faster on ratings from a shuffled split). A
    sparse tensor captured by the loss's closure is a constant: do all this
    once, eagerly, even while tf.function traces the loss (done in the graph,
    at every step, it cost about 1 ms of a 4-5 ms step), and remember it.
    """
    def compute() -> _Observed:
        ratings = tf.sparse.reorder(sparse_ratings)
        users, movies = ratings.indices[:, 0], ratings.indices[:, 1]
        cells = None
        if num_movies is not None:  # the dense route: fewer than MAX_DENSE_CELLS cells,
            cells = tf.cast(users * num_movies + movies, tf.int32)  # and int32 gathers faster
        xla_errors = None
        if (cells is not None and XLA_FORWARD_MIN_RATINGS is not None
                and int(ratings.values.shape[0]) >= XLA_FORWARD_MIN_RATINGS and _xla_works()):
            values = ratings.values

            def errors(U, V):
                all_predictions = tf.reshape(tf.matmul(U, V, transpose_b=True), [-1])
                return tf.gather(all_predictions, cells) - tf.cast(values, U.dtype)

            xla_errors = tf.function(errors, jit_compile=True, autograph=False)
        return _Observed(ratings.indices, users, movies, ratings.values, cells, xla_errors)

    if tf.is_symbolic_tensor(sparse_ratings.indices):
        return compute()  # a graph input: compute in the graph
    try:
        cache = _prepared.setdefault(sparse_ratings, {})
    except TypeError:  # not weakly referenceable: prepare anew
        cache = {}
    if num_movies not in cache:
        with tf.init_scope():
            cache[num_movies] = compute()
    return cache[num_movies]


# TensorFlow's CPU kernel for sparse x dense products switches to a path
# several times slower once the dense factor has 32 columns or more (measured
# on MovieLens 100K: 1.7 ms per product at d=31, 8.5-10 ms at d=35), so wider
# factors are multiplied in blocks of at most 31 columns.
FAST_SPARSE_MATMUL_COLUMNS = 31


def _sparse_times_dense(sparse: tf.SparseTensor, dense: tf.Tensor, adjoint_a: bool = False) -> tf.Tensor:
    """``sparse @ dense`` (or ``sparse^T @ dense``), in column blocks that keep the fast kernel."""
    width = dense.shape[-1]
    if width is None or width <= FAST_SPARSE_MATMUL_COLUMNS:
        return tf.sparse.sparse_dense_matmul(sparse, dense, adjoint_a=adjoint_a)
    return tf.concat([tf.sparse.sparse_dense_matmul(sparse, dense[:, start:start + FAST_SPARSE_MATMUL_COLUMNS],
                                                    adjoint_a=adjoint_a)
                      for start in range(0, width, FAST_SPARSE_MATMUL_COLUMNS)], axis=1)


def _dense_is_cheaper(num_users: int | None, num_movies: int | None,
                      num_ratings: int | None) -> bool:
    if num_users is None or num_movies is None or not num_ratings:
        return False  # sizes unknown while tracing: the gather route always works
    cells = num_users * num_movies
    return cells <= MAX_DENSE_CELLS and cells <= MAX_DENSE_CELLS_PER_RATING * num_ratings


def observed_mse(sparse_ratings: tf.SparseTensor, user_embeddings: tf.Tensor,
                 movie_embeddings: tf.Tensor) -> tf.Tensor:
    """Mean squared error of U V^T over the observed entries of `sparse_ratings`.

    Args:
        sparse_ratings: [num_users, num_movies] ratings, indices in any order.
        user_embeddings: U, [num_users, d] (a tf.Variable or a tensor).
        movie_embeddings: V, [num_movies, d].

    Returns:
        A scalar tensor; its gradient with respect to U and V is computed with
        two sparse x dense products (see the module docstring).
    """
    num_users, num_movies = user_embeddings.shape[0], movie_embeddings.shape[0]
    num_ratings = sparse_ratings.values.shape[0]
    dense = _dense_is_cheaper(num_users, num_movies, num_ratings)
    observed = _prepare(sparse_ratings, num_movies if dense else None)
    ratings = tf.cast(observed.values, user_embeddings.dtype)
    _exclude_from_xla("observed_mse computes its gradient with "
                      "tf.sparse.sparse_dense_matmul, which XLA cannot compile")

    @tf.custom_gradient
    def mse(U: tf.Tensor, V: tf.Tensor):
        if dense and observed.xla_errors is not None and not tf.executing_eagerly():
            errors = observed.xla_errors(U, V)
        elif dense:
            all_predictions = tf.reshape(tf.matmul(U, V, transpose_b=True), [-1])
            predictions = tf.gather(all_predictions, observed.cells)
            errors = predictions - ratings
        else:
            predictions = tf.reduce_sum(
                tf.gather(U, observed.users) * tf.gather(V, observed.movies), axis=1)
            errors = predictions - ratings

        def gradient(upstream: tf.Tensor):
            # d loss / d errors = 2/|Omega| errors: scale the |Omega| values
            # once, not the two products. Sizes known while tracing are used
            # as constants: every op saved counts in a 3 ms step.
            count = num_ratings or tf.cast(tf.size(errors), errors.dtype)
            if num_users is not None and num_movies is not None:
                shape = [num_users, num_movies]
            else:
                shape = tf.stack([tf.shape(U, out_type=tf.int64)[0],
                                  tf.shape(V, out_type=tf.int64)[0]])
            E = tf.SparseTensor(observed.indices, (2.0 / count) * upstream * errors, shape)
            return (_sparse_times_dense(E, V),                  # E V
                    _sparse_times_dense(E, U, adjoint_a=True))  # E^T U

        return tf.reduce_mean(tf.square(errors)), gradient

    # Read variables here, outside the custom gradient: the tape then carries
    # the gradient from the read back to the variable, and tf.custom_gradient
    # need not know about variables.
    return mse(tf.convert_to_tensor(user_embeddings), tf.convert_to_tensor(movie_embeddings))
