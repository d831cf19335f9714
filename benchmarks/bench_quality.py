"""Which model predicts held-out ratings best, and at what cost? (a script, not a test)

    .venv/bin/python benchmarks/bench_quality.py [--repeats 1] [--only keras]

On MovieLens 100K and the course's 90/10 random split
(recsys_course.splits.split_dataframe, seed 42), it fits and scores, on the
same training and test ratings:

- global mean: the mean training rating for everyone;
- user + item biases: recsys_course.baselines.fit_bias_baseline (ALS);
- MF, notebook 4: d=30, init 0.5, SGD lr 10, 1000 full-batch steps (and the
  notebook's second model, init 0.05);
- regularized MF, notebook 6: build_regularized_model, d=35, reg 0.1,
  gravity 1.0, init 0.05, lr 20, 2000 steps;
- Keras MF with biases: recsys_course.baselines.fit_keras_mf (model.fit,
  Adam, minibatches, L2), with its documented defaults.

For each: the test RMSE of the raw predictions and of predictions clipped to
1-5, the training RMSE, and the fit time (min and median wall seconds over
repeats, median CPU seconds). Seeded. Writes artifacts/bench_quality.json.
Goal: the best model at test RMSE 0.91 or less.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")      # as setup_notebook() does, before
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")     # TensorFlow loads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from recsys_course import baselines  # noqa: E402
from recsys_course.matrix_factorization import build_mf_model  # noqa: E402
from recsys_course.movielens import load_movielens  # noqa: E402
from recsys_course.regularization import build_regularized_model  # noqa: E402
from recsys_course.splits import split_dataframe  # noqa: E402

RMSE_GOAL = 0.91
SEED = 0

# Fit: (train, test, num_users, num_movies) -> predict(users, movies) -> numpy predictions.
# Only the notebook models see the test ratings: as their test_error metric, as in the notebooks.
Fit = Callable[[pd.DataFrame, pd.DataFrame, int, int], Callable[[np.ndarray, np.ndarray], np.ndarray]]


def fit_mean(train, test, num_users, num_movies):
    mean = baselines.fit_global_mean(train)
    return lambda users, movies: np.full(len(users), mean)


def fit_biases(train, test, num_users, num_movies):
    return baselines.fit_bias_baseline(train, num_users, num_movies).predict


def cfmodel_fit(build: Callable, steps: int, learning_rate: float) -> Fit:
    def fit(train, test, num_users, num_movies):
        model = build(train, test, num_users, num_movies)
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines
            model.train(steps, learning_rate, plot_results=False)
        U, V = model.embeddings["user_id"], model.embeddings["movie_id"]
        return lambda users, movies: np.einsum("ij,ij->i", U[users], V[movies])
    return fit


def notebook4(init_stddev: float) -> Fit:
    return cfmodel_fit(lambda train, test, n, m: build_mf_model(
        train_ratings=train, test_ratings=test, num_users=n, num_movies=m, embedding_dim=30,
        init_stddev=init_stddev, init_seed=SEED), steps=1000, learning_rate=10.0)


notebook6 = cfmodel_fit(lambda train, test, n, m: build_regularized_model(
    train_ratings=train, test_ratings=test, num_users=n, num_movies=m, embedding_dim=35,
    regularization_coeff=0.1, gravity_coeff=1.0, init_stddev=0.05, init_seed=SEED),
    steps=2000, learning_rate=20.0)


def fit_keras(train, test, num_users, num_movies):
    model, _ = baselines.fit_keras_mf(train, num_users, num_movies, seed=SEED)
    return lambda users, movies: baselines.predict_ratings(model, users, movies, clip=None)


MODELS: dict[str, tuple[Fit, str]] = {
    "global mean": (fit_mean, "mean training rating"),
    "user + item biases": (fit_biases, "ALS, reg 15 (users) / 10 (movies), 10 iterations"),
    "MF, notebook 4 (init 0.5)": (notebook4(0.5), "d=30, init 0.5, SGD lr 10, 1000 steps"),
    "MF, notebook 4 (init 0.05)": (notebook4(0.05), "d=30, init 0.05, SGD lr 10, 1000 steps"),
    "regularized MF, notebook 6": (notebook6, "d=35, reg 0.1, gravity 1, init 0.05, lr 20, 2000 steps"),
    "Keras MF + biases (model.fit)": (
        fit_keras, ", ".join(f"{k} {v}" for k, v in baselines.KERAS_MF_DEFAULTS.items()) + ", Adam"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="fits per model (timing)")
    parser.add_argument("--only", nargs="*", help="names (substrings) of models to run")
    parser.add_argument("--output", type=Path, default=REPO / "artifacts" / "bench_quality.json")
    args = parser.parse_args()

    with contextlib.redirect_stdout(io.StringIO()):
        data = load_movielens()
    num_users, num_movies = len(data.users), len(data.movies)
    train, test = split_dataframe(data.ratings, holdout_fraction=0.1)
    users, movies, truth = (test[c].to_numpy() for c in ("user_id", "movie_id", "rating"))
    print(f"MovieLens 100K, course split (seed 42): {len(train):,} train, {len(test):,} test ratings")
    load_before = os.getloadavg()[0]
    rows = {}
    for name, (fit, settings) in MODELS.items():
        if args.only and not any(part.lower() in name.lower() for part in args.only):
            continue
        seconds, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            predict = fit(train, test, num_users, num_movies)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        raw = predict(users, movies)
        train_raw = predict(train["user_id"].to_numpy(), train["movie_id"].to_numpy())
        rows[name] = {
            "settings": settings,
            "test_rmse": baselines.rmse(raw, truth),
            "test_rmse_clipped": baselines.rmse(np.clip(raw, 1, 5), truth),
            "train_rmse": baselines.rmse(train_raw, train["rating"]),
            "fit_seconds": seconds, "fit_min": min(seconds),
            "fit_median": statistics.median(seconds), "fit_cpu_median": statistics.median(cpu),
        }
        r = rows[name]
        print(f"  {name:32s} test RMSE {r['test_rmse']:.4f} (clipped {r['test_rmse_clipped']:.4f})"
              f"  train {r['train_rmse']:.4f}  fit {r['fit_median']:6.1f} s"
              f" (CPU {r['fit_cpu_median']:6.1f} s)", flush=True)
    best = min(rows, key=lambda n: rows[n]["test_rmse_clipped"]) if rows else None
    summary = {"data": "MovieLens 100K", "split": "split_dataframe(ratings, 0.1, seed=42)",
               "train_ratings": len(train), "test_ratings": len(test), "repeats": args.repeats,
               "rmse_goal": RMSE_GOAL, "best": best,
               "best_test_rmse": rows[best]["test_rmse_clipped"] if best else None,
               "goal_met": bool(best and rows[best]["test_rmse_clipped"] <= RMSE_GOAL),
               "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
               "models": rows}
    if best:
        print(f"best: {best}, test RMSE {summary['best_test_rmse']:.4f} "
              f"(goal {RMSE_GOAL}: {'met' if summary['goal_met'] else 'NOT met'}); "
              f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.output.relative_to(REPO) if args.output.is_relative_to(REPO) else args.output}")


if __name__ == "__main__":
    main()
