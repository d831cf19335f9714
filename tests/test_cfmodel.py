"""CFModel and observed_mse against straightforward references, on small synthetic data."""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads

from typing import NamedTuple  # noqa: E402

import altair as alt  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from recsys_course import losses  # noqa: E402
from recsys_course.cfmodel import CFModel  # noqa: E402
from recsys_course.losses import observed_mse  # noqa: E402

NUM_USERS, NUM_MOVIES, DIM = 40, 30, 4
LEARNING_RATE = 1.0


class Problem(NamedTuple):
    train: tf.SparseTensor
    test: tf.SparseTensor
    U0: np.ndarray
    V0: np.ndarray


def make_problem(seed: int = 0) -> Problem:
    """Ratings 1-5 with planted rank-3 structure on ~35% of cells, in shuffled order."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(NUM_USERS, 3)) @ rng.normal(size=(3, NUM_MOVIES))
    full = np.clip(np.round(3 + scores), 1, 5).astype(np.float32)
    rows, cols = np.nonzero(rng.random((NUM_USERS, NUM_MOVIES)) < 0.35)
    order = rng.permutation(len(rows))  # not canonical: order is the caller's business
    rows, cols = rows[order], cols[order]
    cut = int(0.8 * len(rows))

    def sparse(part):
        indices = np.stack([rows[part], cols[part]], axis=1).astype(np.int64)
        return tf.SparseTensor(indices, full[rows[part], cols[part]], [NUM_USERS, NUM_MOVIES])

    return Problem(sparse(slice(None, cut)), sparse(slice(cut, None)),
                   rng.normal(0, 0.5, (NUM_USERS, DIM)).astype(np.float32),
                   rng.normal(0, 0.5, (NUM_MOVIES, DIM)).astype(np.float32))


@pytest.fixture(scope="module")
def problem() -> Problem:
    return make_problem()


# --- Losses a student writes (notebooks 3 and 6) -----------------------------

def reference_mse(sparse_ratings, U, V):
    """Dense U V^T, then the observed cells: obviously right."""
    predictions = tf.gather_nd(tf.matmul(U, V, transpose_b=True), sparse_ratings.indices)
    return tf.reduce_mean(tf.square(predictions - sparse_ratings.values))


dense_mse = reference_mse


def gather_mse(sparse_ratings, U, V):
    user_rows = tf.gather(U, sparse_ratings.indices[:, 0])
    movie_rows = tf.gather(V, sparse_ratings.indices[:, 1])
    return tf.reduce_mean(tf.square(tf.reduce_sum(user_rows * movie_rows, axis=1)
                                    - sparse_ratings.values))


def l2(U, V):
    return (tf.reduce_sum(U * U) / U.shape[0]) + (tf.reduce_sum(V * V) / V.shape[0])


def gravity(U, V):
    return tf.reduce_sum(tf.matmul(U, U, transpose_a=True) * tf.matmul(V, V, transpose_a=True)) / (
        U.shape[0] * V.shape[0])


def regularized(mse):
    return lambda sparse_ratings, U, V: mse(sparse_ratings, U, V) + 0.1 * l2(U, V) + 1.0 * gravity(U, V)


LOSSES = {
    "observed_mse": observed_mse,
    "student gather": gather_mse,
    "student dense": dense_mse,
    "observed_mse + l2 + gravity": regularized(observed_mse),
    "gather + l2 + gravity": regularized(gather_mse),
}


def variables(problem: Problem) -> tuple[tf.Variable, tf.Variable]:
    return tf.Variable(problem.U0), tf.Variable(problem.V0)


def make_model(problem: Problem, mse=observed_mse) -> CFModel:
    U, V = variables(problem)
    return CFModel({"user_id": U, "movie_id": V}, lambda: mse(problem.train, U, V),
                   [{"train_error": lambda: reference_mse(problem.train, U, V),
                     "test_error": lambda: reference_mse(problem.test, U, V)}])


def reference_losses(problem: Problem, mse, steps: int, learning_rate: float = LEARNING_RATE,
                     optimizer=None) -> tuple[list[float], tf.Variable, tf.Variable]:
    """Plain eager gradient descent: the loss before each step and after the last."""
    U, V = variables(problem)
    values = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = mse(problem.train, U, V)
        values.append(float(loss))
        dU, dV = tape.gradient(loss, [U, V])
        if optimizer is None:
            U.assign_sub(learning_rate * tf.convert_to_tensor(dU))
            V.assign_sub(learning_rate * tf.convert_to_tensor(dV))
        else:
            optimizer.apply_gradients([(dU, U), (dV, V)])
    values.append(float(mse(problem.train, U, V)))
    return values, U, V


# --- The fast loss ------------------------------------------------------------

@pytest.mark.parametrize("route", ["dense", "gather"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64], ids=["float32", "float64"])
def test_observed_mse_matches_reference_value_and_gradient(problem, monkeypatch, route, dtype):
    if route == "gather":
        monkeypatch.setattr(losses, "MAX_DENSE_CELLS", 0)  # force the forward gather route
    U = tf.Variable(tf.cast(problem.U0, dtype))
    V = tf.Variable(tf.cast(problem.V0, dtype))
    ratings = tf.SparseTensor(problem.train.indices, tf.cast(problem.train.values, dtype),
                              problem.train.dense_shape)
    results = []
    for mse in (observed_mse, reference_mse):
        with tf.GradientTape() as tape:  # an upstream gradient other than 1, and other terms
            loss = 3.0 * mse(ratings, U, V) + tf.reduce_sum(tf.sin(U))
        results.append([loss.numpy(), *(g.numpy() for g in tape.gradient(loss, [U, V]))])
    (fast, *fast_grads), (ref, *ref_grads) = results
    assert fast.dtype == dtype.as_numpy_dtype
    np.testing.assert_allclose(fast, ref, rtol=1e-5)
    for got, want in zip(fast_grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dim", [31, 32, 70])
def test_observed_mse_wide_embeddings(problem, dim):
    """Products with 32+ columns go in blocks (TensorFlow's kernel slows down there)."""
    rng = np.random.default_rng(dim)
    U = tf.Variable(rng.normal(0, 0.3, (NUM_USERS, dim)).astype(np.float32))
    V = tf.Variable(rng.normal(0, 0.3, (NUM_MOVIES, dim)).astype(np.float32))
    results = []
    for mse in (observed_mse, reference_mse):
        with tf.GradientTape() as tape:
            loss = mse(problem.train, U, V)
        results.append([loss.numpy(), *(g.numpy() for g in tape.gradient(loss, [U, V]))])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_observed_mse_in_a_graph_with_the_ratings_as_input(problem):
    U, V = variables(problem)

    @tf.function
    def value_and_gradients(ratings):  # ratings symbolic: reordered inside the graph
        with tf.GradientTape() as tape:
            loss = observed_mse(ratings, U, V)
        return loss, tape.gradient(loss, [U, V])

    loss, (dU, dV) = value_and_gradients(problem.train)
    with tf.GradientTape() as tape:
        ref = reference_mse(problem.train, U, V)
    ref_dU, ref_dV = tape.gradient(ref, [U, V])
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    np.testing.assert_allclose(dU, ref_dU, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dV, tf.convert_to_tensor(ref_dV), rtol=1e-4, atol=1e-6)


# --- The trainer against a plain loop -----------------------------------------

@pytest.mark.parametrize("name", list(LOSSES))
def test_training_curve_matches_plain_gradient_descent(problem, name):
    mse = LOSSES[name]
    expected, U_ref, V_ref = reference_losses(problem, mse, steps=50)
    U, V = variables(problem)
    model = CFModel({"user_id": U, "movie_id": V}, lambda: mse(problem.train, U, V),
                    [{"loss": lambda: mse(problem.train, U, V)}])
    model.train(10, LEARNING_RATE, plot_results=False)  # evaluated after every step
    model.train(40, LEARNING_RATE, plot_results=False)  # then every 4 steps
    history = model.history
    assert list(history["iteration"]) == list(range(11)) + list(range(14, 51, 4))
    np.testing.assert_allclose(history["value"], np.array(expected)[history["iteration"]],
                               rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(model.embeddings["user_id"], U_ref.numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(model.embeddings["movie_id"], V_ref.numpy(), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["observed_mse", "observed_mse + l2 + gravity"])
def test_training_curve_with_the_xla_forward_pass(problem, monkeypatch, capfd, name):
    """What large rating sets do (observed_mse's forward pass compiled by XLA), on small ones."""
    monkeypatch.setattr(losses, "XLA_FORWARD_MIN_RATINGS", 0)
    train = tf.SparseTensor(problem.train.indices, problem.train.values, problem.train.dense_shape)
    fresh = problem._replace(train=train)  # not yet prepared without XLA by another test
    mse = LOSSES[name]
    expected, U_ref, _ = reference_losses(fresh, reference_mse if name == "observed_mse"
                                          else regularized(reference_mse), steps=30)
    U, V = variables(fresh)
    model = CFModel({"user_id": U, "movie_id": V}, lambda: mse(train, U, V),
                    [{"loss": lambda: mse(train, U, V)}])
    model.train(30, LEARNING_RATE, plot_results=True)
    assert losses._prepared[train][NUM_MOVIES].xla_errors is not None
    history = model.history
    np.testing.assert_allclose(history["value"], np.array(expected)[history["iteration"]],
                               rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(model.embeddings["user_id"], U_ref.numpy(), rtol=1e-3, atol=1e-4)
    assert capfd.readouterr().err == ""


def test_xla_is_used_when_it_helps(problem, capsys):
    fast = make_model(problem, observed_mse)
    fast.train(1, plot_results=False)
    assert fast.jit_compile is False  # its sparse gradient: quicker without XLA, no fallback
    assert "sparse_dense_matmul" in fast.compile_note
    student = make_model(problem, gather_mse)
    student.train(1, plot_results=False)
    assert student.jit_compile is True and student.compile_note == ""
    assert "Note" not in capsys.readouterr().out


def test_xla_fallback_is_visible_and_trains_correctly(problem, capsys):
    def reordering_mse(sparse_ratings, U, V):
        # A correct student loss with an op XLA cannot compile (SparseReorder).
        return gather_mse(tf.sparse.reorder(sparse_ratings), U, V)

    model = make_model(problem, reordering_mse)
    model.train(20, LEARNING_RATE, plot_results=False)
    out = capsys.readouterr().out
    assert "XLA cannot compile" in out and "SparseReorder" in out
    assert model.jit_compile is False and "SparseReorder" in model.compile_note
    expected, _, _ = reference_losses(problem, gather_mse, steps=20)
    np.testing.assert_allclose(model.train(0, LEARNING_RATE, plot_results=False)["train_error"],
                               expected[-1], rtol=2e-4)


# --- The contract -------------------------------------------------------------

def test_train_continues_where_it_stopped(problem):
    model = make_model(problem)
    model.train(10, LEARNING_RATE, plot_results=False)
    first = model.embeddings
    rows = len(model.history)
    second = model.train(10, LEARNING_RATE, plot_results=False)
    assert model.iteration == 20
    assert len(model.history) > rows
    iterations = model.history["iteration"].drop_duplicates()
    assert iterations.is_monotonic_increasing and iterations.iloc[-1] == 20
    assert not np.allclose(first["user_id"], model.embeddings["user_id"])
    assert second["train_error"] < model.history.query("iteration == 10")["value"].iloc[0]


def test_second_call_keeps_the_optimizer_state(problem):
    """Adagrad 10 + 10 steps is Adagrad 20 steps: its accumulators carry over."""
    split = make_model(problem)
    split.train(10, 0.5, plot_results=False, optimizer=keras.optimizers.Adagrad)
    split.train(10, 0.5, plot_results=False, optimizer=keras.optimizers.Adagrad)
    whole = make_model(problem)
    whole.train(20, 0.5, plot_results=False, optimizer=keras.optimizers.Adagrad)
    np.testing.assert_allclose(split.embeddings["user_id"], whole.embeddings["user_id"],
                               rtol=1e-5, atol=1e-6)
    # A new learning rate is a new optimizer; the iterations still continue.
    split.train(5, 0.1, plot_results=False, optimizer=keras.optimizers.Adagrad)
    assert split.iteration == 25


def test_results_are_floats_and_embeddings_numpy_copies(problem):
    model = make_model(problem)
    results = model.train(5, LEARNING_RATE, plot_results=False)
    assert set(results) == {"train_error", "test_error"}
    assert all(type(value) is float for value in results.values())
    embeddings = model.embeddings
    assert set(embeddings) == {"user_id", "movie_id"}
    assert isinstance(embeddings["user_id"], np.ndarray)
    assert embeddings["user_id"].shape == (NUM_USERS, DIM)
    assert embeddings["movie_id"].shape == (NUM_MOVIES, DIM)
    embeddings["user_id"][:] = 0  # a copy: the model is untouched
    assert np.abs(model.embeddings["user_id"]).sum() > 0
    history = model.history
    assert list(history.columns) == ["iteration", "metric", "value"]
    assert len(history) == 2 * 6  # two metrics at iterations 0..5


@pytest.mark.parametrize("optimizer", [keras.optimizers.Adagrad, keras.optimizers.Adam, "instance"])
def test_keras_optimizers(problem, optimizer):
    if optimizer == "instance":
        optimizer = keras.optimizers.Adam(learning_rate=0.05)
        expected, _, _ = reference_losses(problem, observed_mse, steps=30,
                                          optimizer=keras.optimizers.Adam(learning_rate=0.05))
    else:
        expected, _, _ = reference_losses(problem, observed_mse, steps=30,
                                          optimizer=optimizer(learning_rate=0.05))
    model = make_model(problem)
    results = model.train(30, 0.05, plot_results=False, optimizer=optimizer)
    assert results["train_error"] < model.history["value"].iloc[0]
    np.testing.assert_allclose(results["train_error"], expected[-1], rtol=1e-3)


def test_trains_every_variable_the_loss_reads(problem):
    """A softmax model: its hidden layer is trained along with the embeddings."""
    rng = np.random.default_rng(1)
    features = tf.constant(rng.normal(size=(64, 6)).astype(np.float32))
    labels = tf.constant(rng.integers(0, NUM_MOVIES, size=64))
    V = tf.Variable(problem.V0)
    hidden = keras.layers.Dense(DIM)

    def softmax_loss():
        logits = tf.matmul(hidden(features), V, transpose_b=True)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

    hidden.build((None, 6))
    kernel = hidden.kernel.numpy()
    model = CFModel({"movie_id": V}, softmax_loss, [{"loss": softmax_loss}])
    results = model.train(30, 0.5, plot_results=False, optimizer=keras.optimizers.Adagrad)
    assert not np.allclose(kernel, hidden.kernel.numpy())
    assert results["loss"] < model.history["value"].iloc[0]


def test_a_loss_drawing_random_batches_sees_the_same_batches_as_a_plain_loop(problem):
    """Preparing to train runs nothing: the caller's generator is not advanced."""
    def batch_mse(generator):
        def loss(U, V):
            rows = generator.uniform([32], maxval=len(problem.train.values), dtype=tf.int64)
            batch = tf.SparseTensor(tf.gather(problem.train.indices, rows),
                                    tf.gather(problem.train.values, rows), problem.train.dense_shape)
            return gather_mse(batch, U, V)
        return lambda sparse_ratings, U, V: loss(U, V)

    expected, U_ref, _ = reference_losses(problem, batch_mse(tf.random.Generator.from_seed(3)), 20)
    U, V = variables(problem)
    mse = batch_mse(tf.random.Generator.from_seed(3))
    model = CFModel({"user_id": U, "movie_id": V}, lambda: mse(None, U, V))
    model.train(20, LEARNING_RATE, plot_results=False)
    np.testing.assert_allclose(model.embeddings["user_id"], U_ref.numpy(), rtol=1e-4, atol=1e-5)


def test_metric_names_must_be_unique(problem):
    U, V = variables(problem)
    loss = lambda: observed_mse(problem.train, U, V)  # noqa: E731
    with pytest.raises(ValueError, match="unique"):
        CFModel({"user_id": U}, loss, [{"error": loss}, {"error": loss}])


@pytest.mark.filterwarnings("error")  # a warning would reach stderr in a notebook
def test_plot_has_a_panel_per_metrics_dict(problem):
    U, V = variables(problem)
    model = CFModel({"user_id": U, "movie_id": V}, lambda: observed_mse(problem.train, U, V),
                    [{"train_error": lambda: observed_mse(problem.train, U, V),
                      "test_error": lambda: observed_mse(problem.test, U, V)},
                     {"gravity": lambda: gravity(U, V)}])
    model.train(10, LEARNING_RATE, plot_results=True)  # outside a notebook: draws nothing
    chart = model.plot_history()
    assert isinstance(chart, alt.HConcatChart) and len(chart.hconcat) == 2
    spec = chart.to_dict()  # valid Vega-Lite
    assert spec["hconcat"][0]["encoding"]["x"]["field"] == "iteration"


def test_in_a_notebook_one_line_updates_in_place_then_the_chart(problem, monkeypatch):
    from IPython import display as ipython_display

    from recsys_course import cfmodel

    shown, updates = [], []

    class Handle:
        def update(self, obj, **kwargs):
            updates.append(obj)

    def display(obj, **kwargs):
        shown.append(obj)
        return Handle() if kwargs.get("display_id") else None

    monkeypatch.setattr(cfmodel, "_in_notebook", lambda: True)
    monkeypatch.setattr(ipython_display, "display", display)
    make_model(problem).train(1000, LEARNING_RATE, plot_results=True)
    assert len(shown) == 2  # the progress line, then the chart
    assert shown[0]["text/plain"].startswith("iteration    0/1000  train_error")
    assert isinstance(shown[1], alt.HConcatChart)
    assert len(updates) == 10 and updates[-1]["text/plain"].startswith("iteration 1000/1000")


# --- Quiet -------------------------------------------------------------------

def test_training_writes_nothing_to_stderr_and_few_lines_to_stdout(problem, capfd):
    # Several models in a row: tf.function's retracing warning must not fire.
    for mse in [observed_mse, gather_mse, dense_mse, observed_mse, gather_mse, dense_mse]:
        make_model(problem, mse).train(3, LEARNING_RATE, plot_results=True)
    out, err = capfd.readouterr()
    assert err == ""
    assert len(out.splitlines()) <= 6 * 4  # the start, then one line per evaluation
    model = make_model(problem)
    model.train(1000, LEARNING_RATE, plot_results=True)
    out, err = capfd.readouterr()
    assert err == ""
    assert len(out.splitlines()) <= 11  # about every 10%, not a wall of prints


def test_a_value_where_a_function_belongs_is_a_clear_error_at_build_time():
    """Notebook 4's most common format mistake: the loss computed once instead of a function."""
    U = tf.Variable(tf.ones((3, 2)))
    loss_value = tf.reduce_sum(U)
    with pytest.raises(TypeError, match="loss must be a function.*got a EagerTensor"):
        CFModel({"user_id": U}, loss_value)
    with pytest.raises(TypeError, match="metric 'train_error' must be a function"):
        CFModel({"user_id": U}, lambda: tf.reduce_sum(U), [{"train_error": loss_value}])
    with pytest.raises(TypeError, match="a list of dicts"):
        CFModel({"user_id": U}, lambda: tf.reduce_sum(U), {"train_error": lambda: tf.reduce_sum(U)})
