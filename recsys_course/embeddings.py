"""Look inside trained embeddings: similar movies, recommendations, norms, t-SNE.

>>> from recsys_course import embeddings as emb
>>> emb.movie_neighbors(model, movies, "Aladdin", measure=emb.COSINE)
>>> emb.user_recommendations(model, movies, ratings, user_id=0)
>>> emb.movie_embedding_norm_chart({"init 0.5": model_a, "init 0.05": model_b}, movies, ratings)
>>> emb.tsne_chart(emb.tsne_movie_embeddings(model, movies, ratings))

Everything here is built on :func:`compute_scores`, the reference for the
exercise of notebook 5: the score of every item for one query embedding,
by dot product or by cosine. Notebooks 5 and 6 use these helpers, on one
model or on several side by side.

A "model" argument may be a trained :class:`~recsys_course.cfmodel.CFModel`
(its ``embeddings``), or a dict with the NumPy arrays (or tf.Variables)
``'user_id'`` (``[num_users, d]``) and ``'movie_id'`` (``[num_movies, d]``).
Row ``j`` of the movie embeddings is the movie with ``movie_id == j``.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

DOT = "dot"
COSINE = "cosine"
MEASURES = (DOT, COSINE)

USER_KEY, MOVIE_KEY = "user_id", "movie_id"


# --- Scores -----------------------------------------------------------------------

def _to_numpy(values: Any) -> np.ndarray:
    """A NumPy float64 copy of an array, a tf.Tensor or a tf.Variable."""
    if hasattr(values, "numpy"):
        values = values.numpy()
    return np.asarray(values, dtype=np.float64)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """``matrix`` with each row (last axis) scaled to norm 1; zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def compute_scores(query_embedding, item_embeddings, measure: str = DOT) -> np.ndarray:
    """Score every item for one query.

    Args:
        query_embedding: the query's embedding, shape ``[d]`` (a user's, or a
            movie's when looking for similar movies). A ``[B, d]`` batch of
            queries is accepted too.
        item_embeddings: one row per item, shape ``[N, d]``.
        measure: ``DOT`` (``'dot'``): ``<q, v_j>``; or ``COSINE``
            (``'cosine'``): ``<q, v_j> / (|q| |v_j|)``, both the query and
            the items normalised to norm 1 (a zero vector scores 0).

    Returns:
        NumPy float64 scores, shape ``[N]`` (``[B, N]`` for a batch), in the
        items' order. NumPy arrays and TensorFlow tensors are accepted.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}: use {DOT!r} or {COSINE!r}")
    query, items = _to_numpy(query_embedding), _to_numpy(item_embeddings)
    if items.ndim != 2 or query.ndim not in (1, 2) or query.shape[-1] != items.shape[1]:
        raise ValueError(f"expected a query of shape [d] (or [B, d]) and items of shape [N, d], "
                         f"got {query.shape} and {items.shape}")
    if measure == COSINE:
        query, items = _unit_rows(query), _unit_rows(items)
    return query @ items.T


def _check_measure(measure: str) -> str:
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}: use {DOT!r} or {COSINE!r}")
    return measure


# --- Embeddings of a model ----------------------------------------------------------

def embedding_matrices(model_or_embeddings) -> dict[str, np.ndarray]:
    """The embeddings of a CFModel, or of a dict of arrays, as NumPy arrays by name."""
    embeddings = getattr(model_or_embeddings, "embeddings", model_or_embeddings)
    if not isinstance(embeddings, Mapping):
        raise TypeError("expected a CFModel or a dict {'user_id': ..., 'movie_id': ...}, "
                        f"got {type(model_or_embeddings).__name__}")
    return {name: (value.numpy() if hasattr(value, "numpy") else np.asarray(value))
            for name, value in embeddings.items()}


def _matrix(model_or_embeddings, key: str) -> np.ndarray:
    if isinstance(model_or_embeddings, np.ndarray) or hasattr(model_or_embeddings, "shape"):
        return _to_numpy(model_or_embeddings)  # already a matrix
    matrices = embedding_matrices(model_or_embeddings)
    if key not in matrices:
        raise KeyError(f"no {key!r} embeddings; the model has {sorted(matrices)}")
    return np.asarray(matrices[key], dtype=np.float64)


def movie_embedding_matrix(model_or_embeddings) -> np.ndarray:
    """The ``[num_movies, d]`` movie embeddings of a model, a dict, or a matrix (as is)."""
    return _matrix(model_or_embeddings, MOVIE_KEY)


def user_embedding_matrix(model_or_embeddings) -> np.ndarray:
    """The ``[num_users, d]`` user embeddings of a model, a dict, or a matrix (as is)."""
    return _matrix(model_or_embeddings, USER_KEY)


def rating_counts(movies: pd.DataFrame, ratings: pd.DataFrame) -> pd.Series:
    """Number of ratings of each movie of ``movies`` (0 for unrated), indexed by ``movie_id``."""
    counts = ratings["movie_id"].value_counts()
    return counts.reindex(movies["movie_id"].to_numpy(), fill_value=0).astype("int64").rename(
        "rating_count")


# --- Finding movies by title -------------------------------------------------------

class TitleNotFoundError(LookupError):
    """No movie title contains the given text."""


def close_titles(movies: pd.DataFrame, text: str, n: int = 5) -> list[str]:
    """Up to ``n`` titles that look like ``text`` (difflib), best first.

    Compares ``text`` with the titles with and without their year, ignoring case.
    """
    titles = movies["title"].astype(str).tolist()
    candidates: dict[str, str] = {}
    for title in titles:
        candidates.setdefault(title.lower(), title)
        short = title.rsplit(" (", 1)[0].lower()  # without "(1992)"
        candidates.setdefault(short, title)
    found = difflib.get_close_matches(text.lower().strip(), list(candidates), n=3 * n, cutoff=0.5)
    result: list[str] = []
    for key in found:
        if candidates[key] not in result:
            result.append(candidates[key])
    return result[:n]


def find_movie(movies: pd.DataFrame, title_substring: str, verbose: bool = True) -> pd.Series:
    """The row of ``movies`` whose title contains ``title_substring`` (ignoring case).

    A title equal to the text (ignoring case) wins; otherwise the first match in
    ``movies``'s order. When several titles match, the others are printed
    (``verbose``). When none does, :class:`TitleNotFoundError` lists near matches.
    """
    if not isinstance(title_substring, str) or not title_substring.strip():
        raise TitleNotFoundError("give a (part of a) movie title, e.g. 'Aladdin'")
    titles = movies["title"].astype(str)
    text = title_substring.strip()
    matches = movies[titles.str.contains(text, case=False, regex=False)]
    if matches.empty:
        near = close_titles(movies, text)
        hint = ("did you mean: " + "; ".join(repr(t) for t in near)) if near else (
            "no close titles either: try a shorter part of the title")
        raise TitleNotFoundError(f"no movie title contains {title_substring!r}; {hint}")
    exact = matches[matches["title"].astype(str).str.lower() == text.lower()]
    chosen = (exact if len(exact) else matches).iloc[0]
    if verbose and len(matches) > 1:
        others = [t for t in matches["title"].astype(str) if t != chosen["title"]]
        shown = "; ".join(others[:8]) + ("; ..." if len(others) > 8 else "")
        print(f"{len(matches)} titles contain {title_substring!r}: using {chosen['title']!r} "
              f"(others: {shown})")
    return chosen


def title_or_most_rated(movies: pd.DataFrame, ratings: pd.DataFrame, preferred: str) -> str:
    """``preferred`` if a title contains it, else the title of the most rated movie.

    Lets a notebook ask for 'Aladdin (1992)' on MovieLens and still run on a
    synthetic data set whose titles are 'Synthetic Movie 17 (1950)'.
    """
    titles = movies["title"].astype(str)
    if titles.str.contains(preferred, case=False, regex=False).any():
        return preferred
    most_rated = int(ratings["movie_id"].value_counts().idxmax())
    return str(movies.loc[movies["movie_id"] == most_rated, "title"].iloc[0])


# --- Neighbours and recommendations -------------------------------------------------

def _ranked_table(scores: np.ndarray, movies: pd.DataFrame, k: int, measure: str,
                  counts: pd.Series | None, allowed: np.ndarray | None = None) -> pd.DataFrame:
    """The ``k`` best-scored movies as a table, best first (ties: lower movie_id first)."""
    movie_ids = movies["movie_id"].to_numpy()
    if movie_ids.max(initial=-1) >= len(scores):
        raise ValueError(f"the embeddings have {len(scores)} movies, but movies has ids up to "
                         f"{movie_ids.max()}")
    candidate_scores = scores[movie_ids].astype(np.float64)
    if allowed is not None:
        candidate_scores = np.where(allowed, candidate_scores, -np.inf)
    order = np.argsort(-candidate_scores, kind="stable")
    order = order[np.isfinite(candidate_scores[order])][:k]
    rows = movies.iloc[order]
    table = pd.DataFrame({
        f"{measure}_score": candidate_scores[order],
        "movie_id": rows["movie_id"].to_numpy(),
        "title": rows["title"].to_numpy(),
        "genres": (rows["all_genres"] if "all_genres" in rows else rows["genre"]).to_numpy(),
    })
    if counts is not None:
        table["rating_count"] = counts.reindex(table["movie_id"]).fillna(0).astype("int64").to_numpy()
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


def movie_neighbors(model_or_embeddings, movies: pd.DataFrame, title_substring: str,
                    measure: str = DOT, k: int = 6, *, ratings: pd.DataFrame | None = None,
                    verbose: bool = True) -> pd.DataFrame:
    """The ``k`` movies whose embeddings score highest against one movie's.

    Args:
        model_or_embeddings: a trained CFModel or a dict of embeddings.
        movies: the movies table (``movie_id``, ``title``, ``all_genres``).
        title_substring: part of the query movie's title, any case; see
            :func:`find_movie` for how one movie is chosen.
        measure: ``DOT`` or ``COSINE``.
        k: how many movies to list; the query movie itself is one of them
            (usually the first by cosine, where it scores 1).
        ratings: when given, a ``rating_count`` column says how many ratings
            each listed movie has.
        verbose: print which movie was chosen.

    Returns:
        A table indexed by rank (1 = best) with ``<measure>_score``,
        ``movie_id``, ``title``, ``genres`` (and ``rating_count``); its
        ``attrs['query']`` is the chosen title.
    """
    measure = _check_measure(measure)
    movie = find_movie(movies, title_substring, verbose=verbose)
    items = movie_embedding_matrix(model_or_embeddings)
    scores = compute_scores(items[int(movie["movie_id"])], items, measure)
    counts = rating_counts(movies, ratings) if ratings is not None else None
    table = _ranked_table(scores, movies, k, measure, counts)
    table.attrs["query"] = str(movie["title"])
    if verbose:
        print(f"Nearest neighbours of {movie['title']} by {measure}:")
    return table


def compare_neighbors(models: Mapping[str, Any], movies: pd.DataFrame, title_substring: str,
                      measure: str = DOT, k: int = 6, *, ratings: pd.DataFrame | None = None,
                      ) -> pd.DataFrame:
    """The neighbour titles of one movie under several models, a column per model.

    With ``ratings``, each title is followed by its number of ratings, e.g.
    ``'Lion King, The (1994) [220]'``.
    """
    movie = find_movie(movies, title_substring, verbose=True)
    columns = {}
    for label, model in models.items():
        table = movie_neighbors(model, movies, str(movie["title"]), measure, k,
                                ratings=ratings, verbose=False)
        titles = table["title"].astype(str)
        if ratings is not None:
            titles = titles + " [" + table["rating_count"].astype(str) + "]"
        columns[label] = titles.to_numpy()
    table = pd.DataFrame(columns, index=pd.RangeIndex(1, k + 1, name="rank"))
    table.attrs["query"] = str(movie["title"])
    print(f"Nearest neighbours of {movie['title']} by {measure}"
          + (" [number of ratings]:" if ratings is not None else ":"))
    return table


def user_recommendations(model_or_embeddings, movies: pd.DataFrame, ratings: pd.DataFrame,
                         user_id: int, measure: str = DOT, k: int = 10,
                         exclude_rated: bool = True) -> pd.DataFrame:
    """The ``k`` movies whose embeddings score highest against one user's.

    Args:
        model_or_embeddings: a trained CFModel or a dict of embeddings.
        movies: the movies table.
        ratings: the ratings (``user_id``, ``movie_id``); used to leave out
            the movies the user has rated (``exclude_rated``) and to count
            each movie's ratings.
        user_id: the user (a row of the user embeddings).
        measure: ``DOT`` (the model's predicted rating) or ``COSINE``.
        k: how many movies to list.
        exclude_rated: leave out the movies ``user_id`` rated in ``ratings``.

    Returns:
        A table indexed by rank with ``<measure>_score``, ``movie_id``,
        ``title``, ``genres`` and ``rating_count``.
    """
    measure = _check_measure(measure)
    user_matrix = user_embedding_matrix(model_or_embeddings)
    if not 0 <= int(user_id) < len(user_matrix):
        raise IndexError(f"user_id {user_id} is not among the {len(user_matrix)} users of the model")
    scores = compute_scores(user_matrix[int(user_id)], movie_embedding_matrix(model_or_embeddings),
                            measure)
    allowed = None
    if exclude_rated:
        rated = ratings.loc[ratings["user_id"] == int(user_id), "movie_id"].to_numpy()
        allowed = ~np.isin(movies["movie_id"].to_numpy(), rated)
    return _ranked_table(scores, movies, k, measure, rating_counts(movies, ratings), allowed)


def compare_recommendations(models: Mapping[str, Any], movies: pd.DataFrame, ratings: pd.DataFrame,
                            user_id: int, measure: str = DOT, k: int = 10) -> pd.DataFrame:
    """One user's top ``k`` (rated movies left out) under several models, a column per model.

    Each cell is ``'title [number of ratings]'``; ``attrs['rating_counts']``
    holds the counts as a ``[k, number of models]`` table, for medians and shares.
    """
    columns, counts = {}, {}
    for label, model in models.items():
        table = user_recommendations(model, movies, ratings, user_id, measure=measure, k=k)
        columns[label] = (table["title"].astype(str) + " [" + table["rating_count"].astype(str) + "]").to_numpy()
        counts[label] = table["rating_count"].to_numpy()
    index = pd.RangeIndex(1, k + 1, name="rank")
    result = pd.DataFrame(columns, index=index)
    result.attrs["rating_counts"] = pd.DataFrame(counts, index=index)
    return result


def recommendation_popularity(models: Mapping[str, Any], ratings: pd.DataFrame, k: int = 10,
                              rare_below: int = 20) -> pd.DataFrame:
    """How often the movies each model recommends were rated, over every user's top ``k``.

    Each user's top ``k`` are the movies with the highest dot product among
    those they have not rated in ``ratings``. Returns one column per model:
    the median number of ratings of a recommended movie, the share of
    recommendations with fewer than ``rare_below`` ratings, and the number
    of distinct movies recommended to anyone.
    """
    from .ranking_metrics import top_k_unseen

    result = {}
    for label, model in models.items():
        users, items = user_embedding_matrix(model), movie_embedding_matrix(model)
        seen = np.zeros((len(users), len(items)), bool)
        seen[ratings["user_id"].to_numpy(), ratings["movie_id"].to_numpy()] = True
        top = top_k_unseen(users @ items.T, seen, k)
        top = top[top >= 0]
        counts = np.bincount(ratings["movie_id"].to_numpy(), minlength=len(items))[top]
        result[label] = {"median ratings of a recommended movie": float(np.median(counts)),
                         f"share with fewer than {rare_below} ratings": float(np.mean(counts < rare_below)),
                         "distinct movies recommended": float(len(np.unique(top)))}
    return pd.DataFrame(result)


# --- Norms ----------------------------------------------------------------------

def expected_norm(init_stddev: float, embedding_dim: int) -> float:
    """About the norm of a ``d``-vector of ``N(0, s^2)`` entries: ``s * sqrt(d)``.

    (Its square has mean exactly ``s^2 d``; the norm's mean is slightly
    less, ``s sqrt(2) Gamma((d+1)/2) / Gamma(d/2)``, e.g. 0.99 ``s sqrt(d)``
    at ``d = 30``.)
    """
    return float(init_stddev) * float(np.sqrt(embedding_dim))


def movie_norms(model_or_embeddings, movies: pd.DataFrame, ratings: pd.DataFrame) -> pd.DataFrame:
    """One row per movie: ``movie_id``, ``title``, ``genre``, ``rating_count``, ``norm``."""
    items = movie_embedding_matrix(model_or_embeddings)
    movie_ids = movies["movie_id"].to_numpy()
    return pd.DataFrame({
        "movie_id": movie_ids,
        "title": movies["title"].to_numpy(),
        "genre": movies["genre"].to_numpy() if "genre" in movies else "",
        "rating_count": rating_counts(movies, ratings).to_numpy(),
        "norm": np.linalg.norm(items[movie_ids], axis=1),
    })


def _models_dict(models) -> dict[str, Any]:
    if isinstance(models, Mapping) and not {USER_KEY, MOVIE_KEY} & set(models):
        return dict(models)
    return {"model": models}  # one model, or one embeddings dict


def movie_embedding_norm_chart(models, movies: pd.DataFrame, ratings: pd.DataFrame) -> alt.FacetChart:
    """Norm of each movie's embedding against its number of ratings, a panel per model.

    Args:
        models: ``{label: CFModel or embeddings dict}`` (or one model).
        movies, ratings: the tables the models were trained on.

    Hover over a point to see the title; the same movie lights up in every
    panel. The x axis is logarithmic (symlog, so that unrated movies show at
    0); each panel has its own y scale.
    """
    models = _models_dict(models)
    labels = [str(label) for label in models]
    # One row per movie with a norm column per model (safe names: a '.' in a
    # field name means nesting to Vega-Lite), folded into (model, norm) pairs
    # by the chart: the spec embeds each title once and stays far below
    # altair's default limit of 5000 rows.
    data = None
    for number, model in enumerate(models.values()):
        norms = movie_norms(model, movies, ratings)
        if data is None:
            data = norms[["movie_id", "title", "genre", "rating_count"]].copy()
        data[f"norm_{number}"] = norms["norm"].round(3).to_numpy()
    columns = [f"norm_{number}" for number in range(len(labels))]
    model_name = " : ".join(f"datum.key == {json.dumps(column)} ? {json.dumps(label)}"
                            for column, label in zip(columns, labels)) + " : ''"
    hover = alt.selection_point(name="hover_movie", fields=["movie_id"], on="pointerover",
                                nearest=True, empty=False, clear="pointerout")
    return (alt.Chart(data)
            .transform_fold(columns, as_=["key", "norm"])
            .transform_calculate(model=model_name)
            .mark_circle()
            .encode(x=alt.X("rating_count:Q", scale=alt.Scale(type="symlog"), title="Number of ratings"),
                    y=alt.Y("norm:Q", title="Norm of the movie embedding"),
                    color=alt.when(hover).then(alt.value("orangered")).otherwise(alt.value("steelblue")),
                    size=alt.when(hover).then(alt.value(120)).otherwise(alt.value(18)),
                    opacity=alt.when(hover).then(alt.value(1.0)).otherwise(alt.value(0.5)),
                    tooltip=["title:N", "genre:N", "rating_count:Q", alt.Tooltip("norm:Q", format=".3f")])
            .add_params(hover)
            .properties(width=280, height=240)
            .facet(column=alt.Column("model:N", title=None, sort=labels))
            .resolve_scale(y="independent"))


# --- t-SNE --------------------------------------------------------------------

def _genre_key(movies: pd.DataFrame) -> np.ndarray:
    """'|Action|Comedy|' per movie, for a substring test that 'Film-Noir' cannot confuse."""
    from .movielens import MOVIE_GENRES

    present = [g for g in MOVIE_GENRES if g in movies.columns]
    if not present:
        return ("|" + movies["genre"].astype(str) + "|").to_numpy()
    flags = movies[present].to_numpy().astype(bool)
    return np.array(["|" + "|".join(np.array(present)[row]) + "|" if row.any() else "|Other|"
                     for row in flags], dtype=object)


RATING_COUNT_BUCKETS = (0, 5, 20, 100, np.inf)
RATING_COUNT_BUCKET_NAMES = ("1-5", "6-20", "21-100", "over 100")


def rating_count_buckets(counts) -> pd.Categorical:
    """Each count's bucket among 1-5, 6-20, 21-100, over 100 ratings (NaN for 0).

    The buckets of notebooks 5 and 6 (norm tables, t-SNE colours).
    """
    return pd.cut(np.asarray(counts), list(RATING_COUNT_BUCKETS), labels=list(RATING_COUNT_BUCKET_NAMES))


def _stratified_sample(counts: np.ndarray, num_movies: int, seed: int) -> np.ndarray:
    """Positions of ``num_movies`` movies, about as many from each rating-count bucket.

    Buckets are those of :func:`rating_count_buckets` (unrated movies form one
    more); a bucket smaller than its share is taken whole and the rest is
    shared among the others. Seeded; positions come back sorted.
    """
    buckets = np.asarray(rating_count_buckets(counts).codes)  # -1: unrated
    groups = [np.flatnonzero(buckets == code) for code in np.unique(buckets)]
    groups.sort(key=len)
    rng = np.random.default_rng(seed)
    chosen, left = [], int(num_movies)
    for number, group in enumerate(groups):
        share = left // (len(groups) - number)
        take = min(len(group), share)
        chosen.append(rng.choice(group, size=take, replace=False))
        left -= take
    return np.sort(np.concatenate(chosen))


def tsne_movie_embeddings(embeddings, movies: pd.DataFrame, ratings: pd.DataFrame | None = None,
                          *, num_movies: int | None = 500, perplexity: float = 30.0,
                          max_iter: int = 500, metric: str = "euclidean",
                          sample: str = "most_rated", seed: int = 0) -> pd.DataFrame:
    """Project movie embeddings to 2-D with t-SNE (scikit-learn).

    t-SNE starts from the PCA projection (``init='pca'``) and runs ``max_iter``
    iterations (scikit-learn's default is 1000; it calls the argument
    ``max_iter`` since 1.5, ``n_iter`` before). All 1,682 movies of MovieLens
    100K take about 4 s of CPU time (``num_movies=None``). With ``num_movies``
    only that many are projected, chosen by ``sample``:

    - ``'most_rated'``: the most rated movies. Their embeddings are shaped by
      many ratings, but the map then hides the rarely rated movies, whose
      embeddings are mostly their random start: the noise one may want to see.
    - ``'stratified'``: about as many movies from each rating-count bucket
      (1-5, 6-20, 21-100, over 100 ratings; :func:`rating_count_buckets`),
      drawn with ``seed``, so that rare and popular movies are both on the map.

    Args:
        embeddings: a CFModel, a dict of embeddings, or the movie matrix.
        movies: the movies table (``movie_id``, ``title``, ``genre``, flags).
        ratings: to count each movie's ratings (for the sample and the chart).
        num_movies: how many movies to project; None (or ``ratings`` None): all.
        perplexity: t-SNE's perplexity, lowered for small sets (below a
            third of the number of movies).
        max_iter: t-SNE iterations (at least 250).
        metric: distance between embeddings: 'euclidean', or 'cosine'
            (1 - cosine similarity), which compares directions only, as the
            cosine score does.
        sample: ``'most_rated'`` or ``'stratified'`` (above).
        seed: t-SNE's random state, and the stratified draw's seed.

    Returns:
        One row per projected movie: ``movie_id``, ``title``, ``genre``,
        ``all_genres``, ``genre_key``, ``rating_count``, ``x``, ``y``; its
        ``attrs`` hold ``seconds`` (the time t-SNE took) and ``metric``.
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    if sample not in ("most_rated", "stratified"):
        raise ValueError(f"unknown sample {sample!r}: use 'most_rated' or 'stratified'")
    items = movie_embedding_matrix(embeddings)
    table = movies[["movie_id", "title"]].copy()
    table["genre"] = movies["genre"].to_numpy() if "genre" in movies else "Other"
    table["all_genres"] = movies["all_genres"].to_numpy() if "all_genres" in movies else table["genre"]
    table["genre_key"] = _genre_key(movies)
    if ratings is not None:
        table["rating_count"] = rating_counts(movies, ratings).to_numpy()
        if num_movies is not None and num_movies < len(table):
            if sample == "most_rated":
                table = table.sort_values(["rating_count", "movie_id"], ascending=[False, True],
                                          kind="stable").head(num_movies)
            else:
                table = table.iloc[_stratified_sample(table["rating_count"].to_numpy(), num_movies, seed)]
    else:
        table["rating_count"] = 0
    if len(table) < 3:
        raise ValueError(f"t-SNE needs at least 3 movies, got {len(table)}")
    perplexity = float(min(perplexity, max(1.0, (len(table) - 1) / 3)))
    start = time.perf_counter()
    # One thread: t-SNE's OpenMP gradient with two threads was 5-8x slower in
    # wall time on a shared two-core machine (threads waiting on each other).
    with threadpool_limits(limits=1):
        points = TSNE(n_components=2, perplexity=perplexity, max_iter=max(250, int(max_iter)),
                      init="pca", learning_rate="auto", metric=metric, random_state=seed,
                      n_jobs=1).fit_transform(items[table["movie_id"].to_numpy()].astype(np.float32))
    table["x"], table["y"] = points[:, 0], points[:, 1]
    table = table.reset_index(drop=True)
    table.attrs["seconds"] = time.perf_counter() - start
    table.attrs["metric"] = metric
    return table


def tsne_neighbour_mix(projection: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Who sits next to whom on a t-SNE map, by number of ratings.

    For the movies of each rating-count bucket (rows), the share of their
    ``k`` nearest neighbours *on the map* that fall in each bucket (columns
    add up to 1 per row), the share of all mapped movies in each bucket (row
    ``'all movies'``), and each bucket's median distance from the map's centre
    relative to the median over all movies (column ``'distance from centre'``).
    """
    points = projection[["x", "y"]].to_numpy(np.float64)
    buckets = rating_count_buckets(projection["rating_count"]).astype(object)
    buckets = np.where(pd.isna(buckets), "unrated", buckets).astype(str)
    names = [name for name in (*RATING_COUNT_BUCKET_NAMES, "unrated") if name in set(buckets)]
    squared = ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(squared, np.inf)
    nearest = np.argsort(squared, axis=1, kind="stable")[:, :min(k, len(points) - 1)]
    neighbour_buckets = buckets[nearest]
    radius = np.linalg.norm(points - np.median(points, axis=0), axis=1)
    rows = {}
    for name in names:
        mine = neighbour_buckets[buckets == name]
        rows[name] = {**{column: float(np.mean(mine == column)) for column in names},
                      "distance from centre": float(np.median(radius[buckets == name]) / np.median(radius))}
    rows["all movies"] = {**{column: float(np.mean(buckets == column)) for column in names},
                          "distance from centre": 1.0}
    table = pd.DataFrame(rows).T
    table.index.name = "movies with"
    return table


def tsne_chart(projections, title: str | None = None, color: str = "genre") -> alt.TopLevelMixin:
    """Scatter of t-SNE projections, coloured by genre or by number of ratings.

    Args:
        projections: a table from :func:`tsne_movie_embeddings`, or
            ``{label: table}`` for several models side by side.
        title: the chart's title (one table only; with a dict, the labels).
        color: ``'genre'``: the movie's ``genre`` (one of its genres, drawn
            at random); ``'rating_count'``: its rating-count bucket (1-5,
            6-20, 21-100, over 100 ratings: the rarely rated ones in warm
            colours), each point sized by its number of ratings. Click a
            bucket in the legend to show that bucket alone (shift-click: several).

    The dropdown under the chart highlights the movies that have a genre
    among *any* of theirs; hover for the title; zoom and pan with the mouse.
    """
    if color not in ("genre", "rating_count"):
        raise ValueError(f"unknown color {color!r}: use 'genre' or 'rating_count'")
    if isinstance(projections, pd.DataFrame):
        projections = {title or "t-SNE of the movie embeddings": projections}
    from .movielens import MOVIE_GENRES

    genres = [*MOVIE_GENRES, "Other"]  # 'Other': movies without a genre
    choice = alt.param(name="highlight_genre", value="All",
                       bind=alt.binding_select(options=["All", *genres], name="Highlight genre: "))
    has_genre = "highlight_genre == 'All' || indexof(datum.genre_key, '|' + highlight_genre + '|') >= 0"
    bucket_names = [*RATING_COUNT_BUCKET_NAMES, "unrated"]
    buckets = (alt.selection_point(name="count_bucket_pick", fields=["ratings"], bind="legend")
               if color == "rating_count" else None)
    # Shown in colour: the movie has the chosen genre and (with the count legend) its bucket is picked.
    shown = (has_genre if buckets is None
             else alt.LogicalAndPredicate(**{"and": [has_genre, {"param": buckets.name}]}))
    panels = []
    for number, (label, table) in enumerate(projections.items()):
        data = table[["movie_id", "title", "genre", "all_genres", "genre_key", "rating_count", "x", "y"]].copy()
        data[["x", "y"]] = data[["x", "y"]].round(2)
        if color == "genre":
            colour = alt.Color("genre:N", title="Genre")
            size = alt.value(30)
        else:
            data["ratings"] = rating_count_buckets(data["rating_count"]).astype(object)
            data["ratings"] = data["ratings"].where(data["ratings"].notna(), "unrated").astype(str)
            colour = alt.Color("ratings:N", title="Number of ratings", sort=bucket_names,
                               scale=alt.Scale(domain=bucket_names,
                                               range=["#d7301f", "#fc8d59", "#74add1", "#313695", "#999999"]))
            size = alt.Size("rating_count:Q", title="Ratings", scale=alt.Scale(type="sqrt", range=[12, 160]),
                            legend=None)
        panel = (alt.Chart(data, title=label).mark_circle()
                 .encode(x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
                         color=alt.when(shown).then(colour).otherwise(alt.value("lightgray")),
                         size=size,
                         opacity=alt.when(shown).then(alt.value(0.85)).otherwise(alt.value(0.2)),
                         tooltip=["title:N", alt.Tooltip("all_genres:N", title="genres"), "rating_count:Q"])
                 .properties(width=340 if len(projections) > 1 else 520,
                             height=320 if len(projections) > 1 else 420)
                 .interactive(name=f"tsne_zoom{number}"))
        if buckets is not None and number == 0:
            panel = panel.add_params(buckets)
        panels.append(panel)
    chart = panels[0] if len(panels) == 1 else alt.hconcat(*panels)
    return chart.add_params(choice)


# --- Rate a few movies yourself ---------------------------------------------------

def read_my_ratings(source) -> dict[str, float]:
    """``{title substring: rating}`` from a dict, or a CSV file with columns ``title,rating``."""
    if isinstance(source, Mapping):
        return {str(title): float(rating) for title, rating in source.items()}
    frame = pd.read_csv(Path(source))
    missing = {"title", "rating"} - set(frame.columns)
    if missing:
        raise ValueError(f"{source}: the CSV needs the columns 'title' and 'rating' (missing {sorted(missing)})")
    return dict(zip(frame["title"].astype(str), frame["rating"].astype(float)))


def add_user_ratings(ratings: pd.DataFrame, movies: pd.DataFrame, my_ratings,
                     user_id: int | None = None, verbose: bool = True) -> tuple[pd.DataFrame, int]:
    """Append a new user's ratings to ``ratings``.

    Args:
        ratings: the ratings table (``user_id``, ``movie_id``, ``rating``,
            ``unix_timestamp``); not modified.
        movies: the movies table, to look titles up (:func:`find_movie`).
        my_ratings: ``{title substring: rating 1-5}``, or the path of a CSV
            file with columns ``title`` and ``rating``.
        user_id: the new user's id; default: the next one (largest id + 1).
        verbose: print which movie each title was matched to.

    Returns:
        ``(ratings with the new rows appended, the new user's id)``. Build
        a model on the returned ratings (its number of users is one more)
        and ask for recommendations for that id.
    """
    wanted = read_my_ratings(my_ratings)
    if not wanted:
        raise ValueError("no ratings given: e.g. {'Star Wars': 5, 'Titanic': 2}")
    if user_id is None:
        user_id = int(ratings["user_id"].max()) + 1 if len(ratings) else 0
    elif (ratings["user_id"] == int(user_id)).any():
        raise ValueError(f"user {user_id} already has ratings: pick a new id")
    rows = {}
    for text, rating in wanted.items():
        if not 1 <= rating <= 5:
            raise ValueError(f"{text!r}: ratings go from 1 to 5, got {rating}")
        movie = find_movie(movies, text, verbose=verbose)
        rows[int(movie["movie_id"])] = (str(movie["title"]), float(rating))
        if verbose:
            print(f"  {text!r} -> {movie['title']}: {rating:g}")
    new = pd.DataFrame({"user_id": int(user_id), "movie_id": list(rows),
                        "rating": [rating for _, rating in rows.values()],
                        "unix_timestamp": int(time.time())})
    new = new.astype({column: ratings[column].dtype for column in new.columns if column in ratings})
    return pd.concat([ratings, new[[c for c in ratings.columns if c in new.columns]]],
                     ignore_index=True), int(user_id)
