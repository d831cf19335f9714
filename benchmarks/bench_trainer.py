"""How fast does CFModel train the notebook-4 model? (a script, not a test)

    .venv/bin/python benchmarks/bench_trainer.py [--steps 1000] [--repeats 3]

On MovieLens 100K (a synthetic matrix of the same size if the data cannot be
loaded), the course's 90/10 split (split_dataframe, seed 42), d=30, init
stddev 0.5, SGD with learning rate 10, with TensorFlow set up as the
notebooks' setup_notebook() sets it (oneDNN off), it times 1000 full-batch
steps of:

- straightforward: a Python loop calling a tf.function step, GradientTape
  over gathered embeddings (what one writes first), without and with XLA;
- CFModel.train with the library's observed_mse (fast sparse gradient);
- CFModel.train with a student's gather-route MSE, and a dense-route MSE
  (automatic differentiation, XLA).

Times include tracing and compilation, and for CFModel its metric evaluations
(train and test error, 11 times): what a notebook cell costs. Prints min and
median wall seconds, median CPU seconds of the process (steadier when others
load the machine), the speed-ups over the straightforward loop, and writes
artifacts/bench_trainer.json. Then it breaks CFModel.train's time down into
tracing, metric evaluations, the steps and the rest (--profile: only that).
With --routes, it times instead the ways of computing observed_mse's gradient
(sparse x dense products, segment sums, dense products; with and without XLA)
per step.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily below, for the start-up time
    import pandas as pd
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads, as
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # setup_notebook() does in every notebook

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recsys_course.cfmodel import CFModel  # noqa: E402
from recsys_course.losses import observed_mse  # noqa: E402
from recsys_course.sparse_ratings import build_rating_sparse_tensor  # noqa: E402
from recsys_course.splits import split_dataframe  # noqa: E402

NUM_USERS, NUM_MOVIES, NUM_RATINGS = 943, 1682, 100_000
DIM, INIT_STDDEV, LEARNING_RATE, SEED = 30, 0.5, 10.0, 0


def load_ratings() -> tuple[str, "pd.DataFrame", int, int]:
    """(source, ratings frame with user_id, movie_id, rating, num users, num movies)."""
    try:
        from recsys_course.movielens import load_movielens

        with contextlib.redirect_stdout(io.StringIO()):
            data = load_movielens()
        return "MovieLens 100K", data.ratings, len(data.users), len(data.movies)
    except Exception as error:  # no data here: a synthetic matrix of the same size
        print(f"MovieLens not available ({type(error).__name__}: {error}); using synthetic data")
    import pandas as pd

    rng = np.random.default_rng(SEED)
    cells = rng.choice(NUM_USERS * NUM_MOVIES, size=NUM_RATINGS, replace=False)
    ratings = pd.DataFrame({"user_id": cells // NUM_MOVIES, "movie_id": cells % NUM_MOVIES,
                            "rating": rng.integers(1, 6, size=NUM_RATINGS).astype(np.float32)})
    return "synthetic", ratings, NUM_USERS, NUM_MOVIES


def split_sparse(ratings, num_users: int, num_movies: int):
    """The course's 90/10 split (split_dataframe, seed 42), as two sparse tensors."""
    train, test = split_dataframe(ratings, holdout_fraction=0.1)
    return (build_rating_sparse_tensor(train, num_users, num_movies),
            build_rating_sparse_tensor(test, num_users, num_movies))


def gather_mse(sparse_ratings, U, V):
    """The gather route a student writes in notebook 3."""
    predictions = tf.reduce_sum(tf.gather(U, sparse_ratings.indices[:, 0])
                                * tf.gather(V, sparse_ratings.indices[:, 1]), axis=1)
    return tf.reduce_mean(tf.square(sparse_ratings.values - predictions))


def dense_mse(sparse_ratings, U, V):
    """The dense route a student writes in notebook 3."""
    predictions = tf.gather_nd(tf.matmul(U, V, transpose_b=True), sparse_ratings.indices)
    return tf.reduce_mean(tf.square(sparse_ratings.values - predictions))


def straightforward(train, test, U, V, steps: int, jit_compile: bool) -> float:
    """A Python loop over a compiled step: the baseline."""
    optimizer = keras.optimizers.SGD(learning_rate=LEARNING_RATE)

    @tf.function(jit_compile=jit_compile)
    def step():
        with tf.GradientTape() as tape:
            loss = gather_mse(train, U, V)
        optimizer.apply_gradients(zip(tape.gradient(loss, [U, V]), [U, V]))

    for _ in range(steps):
        step()
    return float(gather_mse(train, U, V))


def with_cfmodel(mse: Callable) -> Callable[..., float]:
    def run(train, test, U, V, steps: int) -> float:
        model = CFModel({"user_id": U, "movie_id": V}, lambda: mse(train, U, V),
                        [{"train_error": lambda: mse(train, U, V),
                          "test_error": lambda: mse(test, U, V)}])
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines
            results = model.train(steps, LEARNING_RATE, plot_results=False)
        run.jit_compile = model.jit_compile
        return results["train_error"]
    return run


# --- Gradient routes for observed_mse (--routes): why losses.py looks as it does

def route_loss(train: tf.SparseTensor, forward: str, backward: str) -> Callable:
    """observed MSE with the given forward and backward routes (custom gradient)."""
    ratings = tf.sparse.reorder(train)
    rows, cols, values = ratings.indices[:, 0], ratings.indices[:, 1], ratings.values
    num_users, num_movies = (int(n) for n in ratings.dense_shape)
    cells = rows * num_movies + cols

    @tf.custom_gradient
    def mse(U, V):
        if forward == "dense":
            predictions = tf.gather(tf.reshape(tf.matmul(U, V, transpose_b=True), [-1]), cells)
        else:
            predictions = tf.reduce_sum(tf.gather(U, rows) * tf.gather(V, cols), axis=1)
        errors = predictions - values

        def gradient(upstream):
            e = upstream * 2.0 / len(values) * errors
            if backward == "sparse_dense_matmul":
                E = tf.SparseTensor(ratings.indices, e, ratings.dense_shape)
                return (tf.sparse.sparse_dense_matmul(E, V),
                        tf.sparse.sparse_dense_matmul(E, U, adjoint_a=True))
            if backward == "unsorted_segment_sum":
                return (tf.math.unsorted_segment_sum(e[:, None] * tf.gather(V, cols), rows, num_users),
                        tf.math.unsorted_segment_sum(e[:, None] * tf.gather(U, rows), cols, num_movies))
            dense = tf.reshape(tf.scatter_nd(cells[:, None], e, [num_users * num_movies]),
                               [num_users, num_movies])  # backward == "dense scatter + matmul"
            return tf.matmul(dense, V), tf.matmul(dense, U, transpose_a=True)

        return tf.reduce_mean(tf.square(errors)), gradient

    return lambda U, V: mse(tf.convert_to_tensor(U), tf.convert_to_tensor(V))


def time_routes(train: tf.SparseTensor, U0, V0, steps: int, repeats: int) -> dict[str, float]:
    """Milliseconds per SGD step (a loop inside one tf.function) of each route."""
    routes = {"autodiff gather": lambda U, V: gather_mse(train, U, V),
              "autodiff dense": lambda U, V: dense_mse(train, U, V)}
    for forward in ("gather", "dense"):
        for backward in ("sparse_dense_matmul", "unsorted_segment_sum", "dense scatter + matmul"):
            routes[f"{forward} / {backward}"] = route_loss(train, forward, backward)
    tf.get_logger().setLevel("ERROR")  # a fresh tf.function per route: retracing is the point
    timings = {}
    for name, loss in routes.items():
        for jit_compile in (False, True):
            U, V = tf.Variable(U0), tf.Variable(V0)
            optimizer = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
            optimizer.build([U, V])

            @tf.function(jit_compile=jit_compile)
            def run(n):
                for _ in tf.range(n):
                    with tf.GradientTape() as tape:
                        value = loss(U, V)
                    optimizer.apply_gradients(zip(tape.gradient(value, [U, V]), [U, V]))

            label = f"{name}{' + XLA' if jit_compile else ''}"
            try:
                run(tf.constant(1))
            except tf.errors.InvalidArgumentError:
                print(f"  {label:50s} XLA cannot compile it")
                continue
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                run(tf.constant(steps))
                U.numpy()
                best = min(best, time.perf_counter() - start)
            timings[label] = best / steps * 1000
            print(f"  {label:50s} {timings[label]:6.2f} ms/step", flush=True)
    return timings


def profile_cfmodel(train, test, U0, V0, steps: int, repeats: int) -> dict[str, float]:
    """Where CFModel.train's time goes, for observed_mse: seconds of each phase (min over repeats).

    Phases, as train runs them: finding the variables and building the
    optimizer (one trace of the loss), compiling the metrics (first
    evaluation), compiling the steps (a call taking no step), the steps
    themselves (per step, from one call of all the steps), the metric
    evaluations (11, as train does), and the rest of a real train() call
    (Python, progress lines, host syncs) as its total minus those.
    """
    phases: dict[str, list[float]] = {}

    def clock(name, function):
        start = time.perf_counter()
        function()
        phases.setdefault(name, []).append(time.perf_counter() - start)

    for _ in range(repeats):
        train, test = (tf.SparseTensor(t.indices, t.values, t.dense_shape) for t in (train, test))
        U, V = tf.Variable(U0), tf.Variable(V0)
        model = CFModel({"user_id": U, "movie_id": V}, lambda: observed_mse(train, U, V),
                        [{"train_error": lambda: observed_mse(train, U, V),
                          "test_error": lambda: observed_mse(test, U, V)}])
        clock("trace loss, build optimizer", lambda: model._prepare(keras.optimizers.SGD, LEARNING_RATE))
        model._train_steps = None  # measured below on its own
        model._prepare(keras.optimizers.SGD, LEARNING_RATE)
        clock("compile metrics (first evaluation)", model._evaluate_metrics)
        clock("11 metric evaluations", lambda: [model._evaluate_metrics() for _ in range(11)])
        model._train_steps = None
        clock("compile steps", lambda: model._prepare(keras.optimizers.SGD, LEARNING_RATE)
              or model._train_steps(tf.constant(0)))
        clock(f"{steps} steps, one call", lambda: (model._train_steps(tf.constant(steps)), U.numpy()))
        train, test = (tf.SparseTensor(t.indices, t.values, t.dense_shape) for t in (train, test))
        U, V = tf.Variable(U0), tf.Variable(V0)
        whole = CFModel({"user_id": U, "movie_id": V}, lambda: observed_mse(train, U, V),
                        [{"train_error": lambda: observed_mse(train, U, V),
                          "test_error": lambda: observed_mse(test, U, V)}])
        with contextlib.redirect_stdout(io.StringIO()):
            clock("train() in all", lambda: whole.train(steps, LEARNING_RATE, plot_results=False))
    best = {name: min(values) for name, values in phases.items()}
    accounted = sum(v for k, v in best.items() if k != "train() in all")
    best["rest: Python, progress, syncs"] = max(0.0, best["train() in all"] - accounted)
    best["ms per step"] = 1000 * best[f"{steps} steps, one call"] / steps
    return best


CONTENDERS = {
    "straightforward loop": lambda *a: straightforward(*a, jit_compile=False),
    "straightforward loop + XLA": lambda *a: straightforward(*a, jit_compile=True),
    "CFModel + observed_mse": with_cfmodel(observed_mse),
    "CFModel + student gather MSE": with_cfmodel(gather_mse),
    "CFModel + student dense MSE": with_cfmodel(dense_mse),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="names (substrings) of contenders to run")
    parser.add_argument("--routes", action="store_true",
                        help="instead, time observed_mse's gradient routes (ms per step)")
    parser.add_argument("--profile", action="store_true",
                        help="instead, break CFModel.train's time down into its phases")
    parser.add_argument("--output", type=Path, default=REPO / "artifacts" / "bench_trainer.json")
    args = parser.parse_args()

    source, ratings, num_users, num_movies = load_ratings()
    train, test = split_sparse(ratings, num_users, num_movies)
    init = np.random.default_rng(SEED)
    U0 = init.normal(0, INIT_STDDEV, (num_users, DIM)).astype(np.float32)
    V0 = init.normal(0, INIT_STDDEV, (num_movies, DIM)).astype(np.float32)
    print(f"{source}: {num_users} users x {num_movies} movies, {train.values.shape[0]} train "
          f"ratings; d={DIM}, SGD lr {LEARNING_RATE}, {args.steps} steps, {args.repeats} repeats")

    if args.routes:
        print("observed MSE routes, forward / backward, min over repeats:")
        timings = time_routes(train, U0, V0, min(args.steps, 200), args.repeats)
        output = args.output.with_name(args.output.stem + "_routes.json")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"data": source, "ms_per_step": timings,
                                      "load_average": os.getloadavg()[0]}, indent=2))
        print(f"wrote {output}")
        return

    if args.profile:
        print("CFModel.train with observed_mse, phases (min over repeats):")
        breakdown = profile_cfmodel(train, test, U0, V0, args.steps, args.repeats)
        for name, value in breakdown.items():
            print(f"  {name:36s} {value:8.3f} {'ms' if name == 'ms per step' else 's'}")
        output = args.output.with_name(args.output.stem + "_profile.json")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps({"data": source, "steps": args.steps, "phases_seconds": breakdown,
                                      "load_average": os.getloadavg()[0]}, indent=2))
        print(f"wrote {output}")
        return

    contenders = {name: run for name, run in CONTENDERS.items()
                  if not args.only or any(part in name for part in args.only)}
    seconds = {name: [] for name in contenders}
    cpu_seconds = {name: [] for name in contenders}  # this process, all threads: less
    final_mse = {}                                    # sensitive than wall time to others' load
    load_before = os.getloadavg()[0]
    for repeat in range(args.repeats):  # round robin: a load change hits everyone alike
        for name, run in contenders.items():
            U, V = tf.Variable(U0), tf.Variable(V0)  # same start for everyone
            # Fresh tensor objects: nothing observed_mse prepared or compiled for
            # an earlier round is reused, as in a notebook's new model.
            train_copy, test_copy = (tf.SparseTensor(t.indices, t.values, t.dense_shape)
                                     for t in (train, test))
            start, start_cpu = time.perf_counter(), time.process_time()
            final_mse[name] = run(train_copy, test_copy, U, V, args.steps)
            seconds[name].append(time.perf_counter() - start)
            cpu_seconds[name].append(time.process_time() - start_cpu)
            print(f"  round {repeat + 1}: {name:30s} {seconds[name][-1]:6.2f} s"
                  f" (CPU {cpu_seconds[name][-1]:6.2f} s)  train MSE {final_mse[name]:.4f}",
                  flush=True)
    results = {}
    for name, run in contenders.items():
        results[name] = {"seconds": seconds[name], "min": min(seconds[name]),
                         "median": statistics.median(seconds[name]),
                         "cpu_seconds": cpu_seconds[name],
                         "cpu_median": statistics.median(cpu_seconds[name]),
                         "final_train_mse": final_mse[name],
                         "xla": getattr(run, "jit_compile", "XLA" in name)}

    base = results.get("straightforward loop")
    print(f"\nload average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after "
          "(2 cores; above ~1 others were running too)")
    print(f"{'':32s}{'min s':>8s}{'median s':>10s}{'speed-up':>10s}"
          f"{'CPU s':>8s}{'speed-up':>10s}  XLA")
    for name, r in results.items():
        r["speedup_vs_straightforward"] = base["median"] / r["median"] if base else None
        r["cpu_speedup_vs_straightforward"] = (base["cpu_median"] / r["cpu_median"]
                                               if base else None)
        speedups = [f"{x:9.1f}x" if base else f"{'-':>10s}" for x in
                    (r["speedup_vs_straightforward"], r["cpu_speedup_vs_straightforward"])]
        print(f"  {name:30s}{r['min']:8.2f}{r['median']:10.2f}{speedups[0]}"
              f"{r['cpu_median']:8.2f}{speedups[1]}  {'yes' if r['xla'] else 'no'}")

    print("\nWhere CFModel.train's time goes (observed_mse; min over repeats):")
    breakdown = profile_cfmodel(train, test, U0, V0, args.steps, args.repeats)
    for name, value in breakdown.items():
        print(f"  {name:36s} {value:8.3f} {'ms' if name == 'ms per step' else 's'}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "data": source, "num_users": num_users, "num_movies": num_movies,
        "train_ratings": int(train.values.shape[0]), "dim": DIM, "init_stddev": INIT_STDDEV,
        "learning_rate": LEARNING_RATE, "steps": args.steps, "repeats": args.repeats,
        "tensorflow": tf.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
        "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
        "results": results, "cfmodel_phases_seconds": breakdown}, indent=2))
    print(f"\nwrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")


if __name__ == "__main__":
    main()
