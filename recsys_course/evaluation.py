"""One evaluation protocol for every model of the course (notebook 8).

The protocol, on the course's 90/10 split of the ratings
(:func:`recsys_course.splits.split_dataframe`):

1. a model sees the training ratings only, and gives every (user, movie)
   pair a score: a ``[num_users, num_movies]`` matrix (:func:`factorization_scores`,
   :func:`bias_baseline_scores`, :func:`keras_mf_scores`, :func:`softmax_scores`,
   :func:`popularity_baseline_scores`, :func:`random_scores`);
2. each user's candidates are the movies not in their training part: the top
   ``k`` of them form the list (:func:`recsys_course.ranking_metrics.top_k_unseen`);
3. the movies a user rated 4 or more in the held-out part are the relevant
   ones (:func:`relevant_matrix`); precision, recall and nDCG at 5, 10 and 20
   are averaged over the users (recall and nDCG over the users with at least
   one relevant movie), beside catalogue coverage, intra-list diversity and
   novelty of the top 10 (:func:`evaluate_scores`).

:func:`comparison_table` and :func:`comparison_chart` put the models side by
side. For new users: :func:`damped_mean`, :func:`best_rated` and
:func:`cut_users` (users whose training part is cut to a few ratings).
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import altair as alt
import numpy as np
import pandas as pd

from . import ranking_metrics as rm

RELEVANT_RATING = 4.0
CUTOFFS = (5, 10, 20)
BEYOND_ACCURACY_K = 10  # coverage, diversity and novelty are measured on the top 10


# --- The protocol's matrices ----------------------------------------------------------

def seen_matrix(train: pd.DataFrame, num_users: int, num_movies: int):
    """A scipy CSR ``[num_users, num_movies]`` bool matrix: True where the user rated the movie in training."""
    from scipy import sparse

    rows = np.asarray(train["user_id"], np.int64)
    cols = np.asarray(train["movie_id"], np.int64)
    matrix = sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)),
                               shape=(int(num_users), int(num_movies)))
    matrix.sum_duplicates()
    return matrix


def relevant_matrix(test: pd.DataFrame, num_users: int, num_movies: int,
                    threshold: float = RELEVANT_RATING) -> np.ndarray:
    """Dense ``[num_users, num_movies]`` bool: the held-out ratings of ``threshold`` or more."""
    liked = test[test["rating"] >= threshold]
    matrix = np.zeros((int(num_users), int(num_movies)), bool)
    matrix[np.asarray(liked["user_id"], np.int64), np.asarray(liked["movie_id"], np.int64)] = True
    return matrix


# --- Scores of the course's models ------------------------------------------------------

def random_scores(num_users: int, num_movies: int, seed: int = 0) -> np.ndarray:
    """Uniform random scores: the baseline that knows nothing."""
    return np.random.default_rng(seed).random((int(num_users), int(num_movies)))


def popularity_baseline_scores(train: pd.DataFrame, num_users: int, num_movies: int) -> np.ndarray:
    """Every user gets the same scores: each movie's number of training ratings."""
    counts = rm.popularity_scores(train, num_movies)
    return np.broadcast_to(counts, (int(num_users), int(num_movies)))


def bias_baseline_scores(baseline) -> np.ndarray:
    """``mu + b_user + b_movie`` for every pair, from :func:`recsys_course.baselines.fit_bias_baseline`.

    Every user ranks the movies in the same order (by ``b_movie``): a
    popularity list weighted by rating.
    """
    return (baseline.global_mean + baseline.user_bias[:, None] + baseline.movie_bias[None, :])


def factorization_scores(model_or_embeddings) -> np.ndarray:
    """``U V^T``: the predicted ratings of a CFModel (or a dict) with ``user_id`` and ``movie_id`` embeddings."""
    embeddings = getattr(model_or_embeddings, "embeddings", model_or_embeddings)
    return np.asarray(embeddings["user_id"]) @ np.asarray(embeddings["movie_id"]).T


def keras_mf_scores(model) -> np.ndarray:
    """Every predicted rating of :func:`recsys_course.baselines.build_keras_mf_with_biases`.

    Read from the layers' weights as one product (no ``predict`` over
    ``N x M`` pairs): ``U V^T + b_user + b_movie + global mean``.
    """
    U = model.get_layer("user_embedding").get_weights()[0]
    V = model.get_layer("movie_embedding").get_weights()[0]
    user_bias = model.get_layer("user_bias").get_weights()[0][:, 0]
    movie_bias = model.get_layer("movie_bias").get_weights()[0][:, 0]
    # The global mean is a constant of the graph: a prediction with zero factors and biases shows it.
    zero = {"user_id": np.zeros(1, np.int32), "movie_id": np.zeros(1, np.int32)}
    offset = float(np.asarray(model(zero)).reshape(-1)[0]) - float(U[0] @ V[0]) - float(
        user_bias[0] + movie_bias[0])
    return U @ V.T + user_bias[:, None] + movie_bias[None, :] + offset


def softmax_scores(model, train: pd.DataFrame, num_users: int, batch_size: int = 1024) -> np.ndarray:
    """Logits of a softmax model (notebook 7) for every user, from their *training* movies as the bag.

    A user without training ratings gets an empty bag (the network then sees zeros).
    """
    from .softmax import bag_logits

    num_movies = model.vocabulary.num_movies
    bags = np.zeros((int(num_users), num_movies), np.float32)
    bags[np.asarray(train["user_id"], np.int64), np.asarray(train["movie_id"], np.int64)] = 1.0
    parts = [np.asarray(bag_logits(model, bags[start:start + batch_size]))
             for start in range(0, int(num_users), batch_size)]
    return np.concatenate(parts, axis=0).astype(np.float64)


# --- Measuring ---------------------------------------------------------------------------

@contextmanager
def stopwatch():
    """``with stopwatch() as elapsed: ...`` then ``elapsed()`` gives the wall seconds."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def evaluate_top(top: np.ndarray, relevant: np.ndarray, train_counts: np.ndarray,
                 movie_embeddings: np.ndarray | None, cutoffs: Sequence[int] = CUTOFFS,
                 num_users: int | None = None) -> dict[str, float]:
    """The averages of the protocol for lists ``top`` (``[num_users, >= max(cutoffs)]``).

    Keys ``precision@k``, ``recall@k``, ``ndcg@k`` for each cutoff (recall and
    nDCG averaged over users with a relevant movie), and ``coverage``,
    ``diversity`` (intra-list, cosine distance of ``movie_embeddings``; nan
    without them) and ``novelty`` (bits) of the top 10.
    """
    num_users = relevant.shape[0] if num_users is None else num_users
    row: dict[str, float] = {}
    for k in cutoffs:
        metrics = rm.ranking_metrics(top, relevant, k)
        for name in ("precision", "recall", "ndcg"):
            row[f"{name}@{k}"] = float(np.nanmean(metrics[name]))
    short = top[:, :BEYOND_ACCURACY_K]
    row["coverage"] = rm.catalogue_coverage(short, relevant.shape[1])
    row["diversity"] = (rm.intra_list_diversity(short, movie_embeddings)
                        if movie_embeddings is not None else float("nan"))
    row["novelty"] = rm.novelty(short, train_counts, num_users)
    return row


def evaluate_scores(scores, train: pd.DataFrame, test: pd.DataFrame,
                    movie_embeddings: np.ndarray | None = None,
                    cutoffs: Sequence[int] = CUTOFFS) -> dict[str, float]:
    """The whole protocol for one score matrix: top ``max(cutoffs)`` unseen, then :func:`evaluate_top`.

    Also ``rank_seconds``: the time to rank every user's candidates.
    """
    scores = np.asarray(scores, np.float64)
    num_users, num_movies = scores.shape
    seen = seen_matrix(train, num_users, num_movies)
    with stopwatch() as elapsed:
        top = rm.top_k_unseen(scores, seen, max(cutoffs))
    row = evaluate_top(top, relevant_matrix(test, num_users, num_movies),
                       rm.popularity_scores(train, num_movies), movie_embeddings, cutoffs)
    row["rank_seconds"] = elapsed()
    return row


def comparison_table(rows: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Model name -> metrics, as one table with a row per model (columns in the protocol's order)."""
    table = pd.DataFrame.from_dict({name: dict(row) for name, row in rows.items()}, orient="index")
    first = [c for c in ("test_rmse",) if c in table]
    ranking = [f"{m}@{k}" for m in ("precision", "recall", "ndcg") for k in CUTOFFS
               if f"{m}@{k}" in table]
    rest = [c for c in ("coverage", "diversity", "novelty", "fit_seconds") if c in table]
    others = [c for c in table.columns if c not in first + ranking + rest]
    table = table[first + ranking + rest + others]
    table.index.name = "model"
    return table


def comparison_chart(table: pd.DataFrame, cutoff_default: int = 10) -> alt.VConcatChart:
    """An interactive chart of :func:`comparison_table`.

    Top: precision, recall and nDCG of every model at the cutoff chosen in
    the dropdown (5, 10 or 20). Bottom: nDCG@10 against novelty, catalogue
    coverage and intra-list diversity. Click a model (a bar, a point or the
    legend; shift-click for several) to pick it out in every panel; hover
    for the values.
    """
    wide = table.reset_index()
    order = list(wide["model"])
    accuracy = pd.DataFrame([
        {"model": row["model"], "metric": metric, "k": k, "value": row[f"{metric}@{k}"]}
        for _, row in wide.iterrows() for metric in ("precision", "recall", "ndcg")
        for k in CUTOFFS if f"{metric}@{k}" in row])
    pick = alt.selection_point(fields=["model"], bind="legend", name="model_pick")
    cutoff = alt.param(name="cutoff", value=int(cutoff_default),
                       bind=alt.binding_select(options=list(CUTOFFS), name="cutoff k "))
    opacity = alt.when(pick).then(alt.value(1.0)).otherwise(alt.value(0.2))
    color = alt.Color("model:N", sort=order, legend=alt.Legend(title="model (click)"))
    bars = []
    for number, metric in enumerate(("precision", "recall", "ndcg")):
        chart = (alt.Chart(accuracy, title=f"{metric}@k")
                 .transform_filter((alt.datum.metric == metric) & (alt.datum.k == cutoff))
                 .mark_bar()
                 .encode(x=alt.X("model:N", sort=order, axis=alt.Axis(labels=False, ticks=False),
                                 title=None),
                         y=alt.Y("value:Q", title=None), color=color, opacity=opacity,
                         tooltip=["model:N", "k:Q", alt.Tooltip("value:Q", format=".4f")])
                 .properties(width=170, height=170)
                 .add_params(pick))
        bars.append(chart.add_params(cutoff) if number == 0 else chart)
    scatters = []
    for other, title in (("novelty", "novelty (bits)"), ("coverage", "catalogue coverage"),
                         ("diversity", "intra-list diversity")):
        if other not in wide or "ndcg@10" not in wide:
            continue
        scatters.append(
            alt.Chart(wide).mark_point(filled=True, size=110)
            .encode(x=alt.X(f"{other}:Q", title=title, scale=alt.Scale(zero=False)),
                    y=alt.Y("ndcg@10:Q", title="nDCG@10"), color=color, opacity=opacity,
                    tooltip=["model:N"] + [alt.Tooltip(f"{c}:Q", format=".4f") for c in
                                           ("ndcg@10", "novelty", "coverage", "diversity")
                                           if c in wide])
            .properties(width=170, height=170)
            .add_params(pick))
    with warnings.catch_warnings():
        # The same click selection in every panel is what we want: altair merges it, and says so.
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection")
        return alt.vconcat(alt.hconcat(*bars), alt.hconcat(*scatters)).properties(
            title="Every model under one protocol (held-out ratings, relevant = rated 4 or more)")


# --- New users ---------------------------------------------------------------------------

def damped_mean(train: pd.DataFrame, num_movies: int, strength: float = 10.0,
                prior: float | None = None) -> np.ndarray:
    """Each movie's mean rating shrunk towards the global mean.

    ``(sum of its ratings + strength * prior) / (count + strength)``, with
    ``prior`` the mean of all training ratings by default: a movie with few
    ratings stays near the prior, one with many keeps its own mean; a movie
    without a rating gets the prior. ``strength`` is how many ratings the
    prior is worth.
    """
    ids = np.asarray(train["movie_id"], np.int64)
    values = np.asarray(train["rating"], np.float64)
    prior = float(values.mean()) if prior is None else float(prior)
    sums = np.bincount(ids, values, minlength=int(num_movies))
    counts = np.bincount(ids, minlength=int(num_movies))
    denominator = counts + float(strength)
    # strength 0 leaves a movie without ratings at 0/0: give it the prior.
    return np.divide(sums + float(strength) * prior, denominator,
                     out=np.full(len(counts), prior), where=denominator > 0)


def min_count_mean(train: pd.DataFrame, num_movies: int, min_count: int = 20) -> np.ndarray:
    """Each movie's mean rating, or -inf for a movie with fewer than ``min_count`` ratings."""
    ids = np.asarray(train["movie_id"], np.int64)
    values = np.asarray(train["rating"], np.float64)
    sums = np.bincount(ids, values, minlength=int(num_movies))
    counts = np.bincount(ids, minlength=int(num_movies))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    return np.where(counts >= int(min_count), means, -np.inf)


def best_rated(train: pd.DataFrame, movies: pd.DataFrame, scores: np.ndarray,
               k: int = 10) -> pd.DataFrame:
    """The ``k`` movies with the highest ``scores`` (ties by smaller id), with their counts and means."""
    num_movies = len(scores)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")[:k]
    ids = np.asarray(train["movie_id"], np.int64)
    counts = np.bincount(ids, minlength=num_movies)
    sums = np.bincount(ids, np.asarray(train["rating"], np.float64), minlength=num_movies)
    titles = movies.set_index("movie_id")["title"].reindex(order).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums[order] / counts[order]
    table = pd.DataFrame({"movie_id": order, "title": titles, "ratings": counts[order],
                          "mean": means, "score": np.asarray(scores)[order]})
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


def cut_users(train: pd.DataFrame, user_ids: Sequence[int], keep: int = 3,
              seed: int = 0) -> pd.DataFrame:
    """``train`` with each of ``user_ids`` reduced to ``keep`` of their ratings, drawn at random.

    Simulates new users: the rest of their training ratings is dropped (not
    moved to the test part, which stays the same).
    """
    rng = np.random.default_rng(seed)
    chosen = set(int(u) for u in user_ids)
    is_cut = train["user_id"].isin(chosen).to_numpy()
    draw = pd.Series(rng.random(len(train)), index=train.index)
    rank = draw[is_cut].groupby(train.loc[is_cut, "user_id"]).rank(method="first")
    keep_rows = np.ones(len(train), bool)
    keep_rows[np.flatnonzero(is_cut)] = (rank <= keep).to_numpy()
    return train[keep_rows]


def evaluate_users(scores, train: pd.DataFrame, test: pd.DataFrame, user_ids: Sequence[int],
                   k: int = 10) -> dict[str, float]:
    """Precision, recall and nDCG at ``k`` averaged over some users only (e.g. the new ones).

    Only those users' rows are ranked.
    """
    scores = np.asarray(scores, np.float64)
    num_users, num_movies = scores.shape
    users = np.asarray(sorted(set(int(u) for u in user_ids)), np.int64)
    seen = seen_matrix(train, num_users, num_movies)[users]
    top = rm.top_k_unseen(scores[users], seen, k)
    relevant = relevant_matrix(test, num_users, num_movies)[users]
    metrics = rm.ranking_metrics(top, relevant, k)
    return {f"{name}@{k}": float(np.nanmean(values)) for name, values in metrics.items()}


def per_user_metric(scores, train: pd.DataFrame, test: pd.DataFrame, metric: str = "ndcg",
                    k: int = 10) -> np.ndarray:
    """One metric of every user (nan where undefined), for paired comparisons of two models."""
    scores = np.asarray(scores, np.float64)
    num_users, num_movies = scores.shape
    top = rm.top_k_unseen(scores, seen_matrix(train, num_users, num_movies), k)
    return rm.ranking_metrics(top, relevant_matrix(test, num_users, num_movies), k)[metric]


def paired_bootstrap(first: np.ndarray, second: np.ndarray, num_samples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean of ``first - second`` over the users where both are defined, with a bootstrap interval.

    Users are resampled with replacement ``num_samples`` times; the interval
    holds the central ``level`` of the resampled means. An interval that
    excludes 0 says the difference is larger than what the choice of users
    alone would produce.
    """
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    both = ~(np.isnan(first) | np.isnan(second))
    difference = first[both] - second[both]
    rng = np.random.default_rng(seed)
    samples = rng.integers(0, len(difference), size=(int(num_samples), len(difference)))
    means = difference[samples].mean(axis=1)
    tail = (1.0 - float(level)) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return {"mean_difference": float(difference.mean()), "low": float(low), "high": float(high),
            "users": int(both.sum()), "first_better": float(np.mean(difference > 0)),
            "second_better": float(np.mean(difference < 0))}
