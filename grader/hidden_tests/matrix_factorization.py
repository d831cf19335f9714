"""Hidden-test helpers of notebook 4 (training matrix factorization): observed_mse_gradient_step, build_model.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import contextlib

import numpy as np
import tensorflow as tf


def _embedding(model, name, shape):
    """The embedding variable called `name`, else the only one of that shape."""
    variables = getattr(model, "embedding_vars", None)
    assert isinstance(variables, dict), "the model has no embedding_vars dict"
    if name in variables:
        return variables[name]
    matches = [v for v in variables.values() if tuple(v.shape) == tuple(shape)]
    assert len(matches) == 1, f"no embedding called {name!r} (or of shape {shape})"
    return matches[0]


# --- observed_mse_gradient_step: one step of gradient descent, gradient by hand ----------------

_AUTODIFF_TRAP_GLOBAL = "__hidden_test_autodiff_trap__"


class _AutodiffError(AssertionError):
    """The answer asked TensorFlow for the gradient instead of writing it."""


def _autodiff_entry_points():
    """TensorFlow's public ways into automatic differentiation, as the functions they run.

    Trapping the functions themselves (not the names) catches every route to
    them: tf.GradientTape or tf.autodiff.GradientTape, an alias, an import from
    tensorflow.python, a Keras optimizer's minimize (which opens a tape), a
    tape created earlier, and tf.gradients inside a tf.function.
    """
    return {
        "tf.GradientTape": tf.GradientTape.__init__,
        "tf.GradientTape.gradient": tf.GradientTape.gradient,
        "tf.GradientTape.jacobian": tf.GradientTape.jacobian,
        "tf.GradientTape.batch_jacobian": tf.GradientTape.batch_jacobian,
        "tf.autodiff.ForwardAccumulator": tf.autodiff.ForwardAccumulator.__init__,
        "tf.gradients": tf.gradients,
        "tf.compat.v1.gradients": tf.compat.v1.gradients,
        "tf.hessians": tf.hessians,
    }


@contextlib.contextmanager
def _forbid_autodiff(exercise):
    """Fail if code run in this block uses TensorFlow's automatic differentiation.

    Each entry point's ``__code__`` is swapped for one that records the call
    and raises :class:`_AutodiffError`; the originals come back afterwards,
    whatever happens. A call the answer catches still fails the test.
    """
    calls = []

    def message(name):
        return (f"{exercise} uses TensorFlow's automatic differentiation ({name}): the exercise asks for "
                "the gradient written by hand, so it earns no points (write the formula with tf or NumPy ops)")

    def trap(name):
        calls.append(name)
        raise _AutodiffError(message(name))

    originals = {}
    try:
        for name, function in _autodiff_entry_points().items():
            namespace = {}
            exec(f"def _trapped(*args, **kwargs):\n    return {_AUTODIFF_TRAP_GLOBAL}({name!r})\n", namespace)
            function.__globals__[_AUTODIFF_TRAP_GLOBAL] = trap
            originals[name] = (function, function.__code__)
            function.__code__ = namespace["_trapped"].__code__
        try:
            yield
        except Exception as error:
            if calls:
                raise _AutodiffError(message(calls[0])) from error
            raise
        if calls:  # the answer caught the trap's exception and went on: still autodiff
            raise _AutodiffError(message(calls[0]))
    finally:
        for function, code in originals.values():
            function.__code__ = code
            function.__globals__.pop(_AUTODIFF_TRAP_GLOBAL, None)


def _reference_step(indices, values, users, movies, learning_rate):
    """One step of gradient descent on the observed MSE, the gradient from tf.GradientTape (float64).

    Both gradients are taken at the old (U, V): the step is simultaneous.
    """
    U = tf.Variable(users.astype(np.float64))
    V = tf.Variable(movies.astype(np.float64))
    with tf.GradientTape() as tape:
        predictions = tf.reduce_sum(tf.gather(U, indices[:, 0]) * tf.gather(V, indices[:, 1]), axis=1)
        loss = tf.reduce_mean(tf.square(values.astype(np.float64) - predictions))
    gradient_U, gradient_V = (tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, [U, V]))
    return (users.astype(np.float64) - learning_rate * gradient_U,
            movies.astype(np.float64) - learning_rate * gradient_V)


def _as_float_array(value, what):
    """A returned matrix (tensor, variable or NumPy array of floats) as a float64 NumPy array."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        value = value.numpy()
    assert isinstance(value, np.ndarray), f"{what}: expected a tensor or a NumPy array, got {type(value).__name__}"
    assert np.issubdtype(value.dtype, np.floating), f"{what}: expected floats, got {value.dtype}"
    return value.astype(np.float64)


def _step_by_hand(step, indices, values, users, movies, learning_rate, exercise="observed_mse_gradient_step"):
    """Run the answer on fresh tensors with autodiff forbidden; return (new U, new V) as float64 arrays.

    A tf.function is run through its Python function, so that a trace made
    before (outside the trap) cannot hide a tape.
    """
    sparse_ratings = tf.SparseTensor(indices, values, [len(users), len(movies)])
    function = getattr(step, "python_function", step)
    with _forbid_autodiff(exercise):
        result = function(sparse_ratings, tf.constant(users), tf.constant(movies), learning_rate)
    assert isinstance(result, (tuple, list)) and len(result) == 2, (
        f"{exercise} must return a pair (new_user_embeddings, new_movie_embeddings), "
        f"got {type(result).__name__}")
    new_users = _as_float_array(result[0], "the new user embeddings")
    new_movies = _as_float_array(result[1], "the new movie embeddings")
    assert new_users.shape == users.shape, f"new user embeddings: shape {new_users.shape}, expected {users.shape}"
    assert new_movies.shape == movies.shape, f"new movie embeddings: shape {new_movies.shape}, expected {movies.shape}"
    return new_users, new_movies
