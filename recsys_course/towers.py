"""Two towers in Keras 3: features, lookup layers, a query and a candidate tower (notebook 10).

The model families of TensorFlow Recommenders, written with Keras 3's own
layers (TensorFlow Recommenders itself refuses Keras 3):

- :func:`user_features`, :func:`movie_features`: one row per user (id, age,
  sex, occupation) and per movie (id, genres, release year);
- :func:`rating_examples` and :func:`make_dataset`: the ratings joined with
  those features, as a ``tf.data`` pipeline of feature dictionaries;
- :class:`QueryTower` and :class:`CandidateTower`: lookup layers turn ids and
  categories into rows of embedding tables, a dense layer mixes them into one
  vector of size ``dim``. With ``use_features=False`` a tower is its id
  embedding alone (matrix factorization);
- :class:`RetrievalModel`: both towers, trained with the in-batch softmax of
  :func:`recsys_course.retrieval.in_batch_softmax_loss`;
- :class:`RankingModel`: towers of its own and an MLP over the two
  embeddings, concatenated, that predicts the rating;
- :func:`embed`: a tower applied to a whole feature table, in batches.

The lookup layers are built from the *training* ratings: an id that never
occurs there (a new user, a new movie) maps to the out-of-vocabulary row 0,
so that it still gets a vector, and its other features carry the information.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .retrieval import in_batch_softmax_loss, logq_correction
from .softmax import movie_genre_lists
from .training_progress import EpochProgress  # noqa: F401 -- for the notebooks: tw.EpochProgress

# Age groups of MovieLens 1M (under 18, 18-24, 25-34, 35-44, 45-49, 50-55, 56+).
AGE_BOUNDARIES = (18.0, 25.0, 35.0, 45.0, 50.0, 56.0)
# Release decades: 1930s and before, ..., 1990s; a missing year (0) falls in the first.
YEAR_BOUNDARIES = tuple(float(y) for y in range(1940, 2000, 10))
MAX_GENRES = 6  # MovieLens 100K: at most 6 genres per movie; the rest of a row is ''.
QUERY_FEATURES = ("user_id", "age", "sex", "occupation")
CANDIDATE_FEATURES = ("movie_id", "genres", "year")


# --- Features -------------------------------------------------------------------------


def user_features(users: pd.DataFrame) -> pd.DataFrame:
    """One row per user: ``user_id`` (int), ``age`` (float), ``sex`` and ``occupation`` (str)."""
    return pd.DataFrame({
        "user_id": users["user_id"].to_numpy(np.int64),
        "age": users["age"].to_numpy(np.float32),
        "sex": users["sex"].astype(str).to_numpy(object),
        "occupation": users["occupation"].astype(str).to_numpy(object),
    })


def movie_features(movies: pd.DataFrame) -> pd.DataFrame:
    """One row per movie: ``movie_id``, ``genres`` (a tuple of MAX_GENRES names, '' padded), ``year``.

    ``year`` is a float, 0 where the release date is unknown.
    """
    genres = movie_genre_lists(movies)
    padded = [tuple(list(g)[:MAX_GENRES] + [""] * (MAX_GENRES - len(g))) for g in genres]
    return pd.DataFrame({
        "movie_id": movies["movie_id"].to_numpy(np.int64),
        "genres": padded,
        "year": movies["year"].astype("float64").fillna(0.0).to_numpy(np.float32),
    })


def feature_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The columns of a feature table as arrays ``tf.data`` accepts (genres as ``[n, MAX_GENRES]``)."""
    arrays = {}
    for name in frame.columns:
        if name == "genres":
            arrays[name] = np.array([list(g) for g in frame[name]], dtype=object).reshape(-1, MAX_GENRES)
        elif frame[name].dtype == object or pd.api.types.is_string_dtype(frame[name]):
            arrays[name] = frame[name].astype(str).to_numpy(object)
        else:
            arrays[name] = frame[name].to_numpy()
    return arrays


def rating_examples(ratings: pd.DataFrame, users: pd.DataFrame,
                    movies: pd.DataFrame) -> dict[str, np.ndarray]:
    """The ratings joined with the user and movie features: one array per feature, plus ``rating``."""
    frame = (ratings[["user_id", "movie_id", "rating"]]
             .merge(user_features(users), on="user_id", how="left")
             .merge(movie_features(movies), on="movie_id", how="left"))
    arrays = feature_arrays(frame)
    arrays["rating"] = frame["rating"].to_numpy(np.float32)
    return arrays


def make_dataset(examples: Mapping[str, np.ndarray], batch_size: int = 4096,
                 shuffle_seed: int | None = 42, label: str | None = None) -> tf.data.Dataset:
    """A ``tf.data`` pipeline over the examples: shuffled (each epoch anew), batched, prefetched.

    Yields feature dictionaries, or ``(features, examples[label])`` pairs when
    ``label`` is given (the ranking model learns the ratings). ``shuffle_seed``
    None keeps the order (for evaluation).
    """
    features = {name: values for name, values in examples.items() if name != label}
    dataset = tf.data.Dataset.from_tensor_slices((features, examples[label]) if label else features)
    if shuffle_seed is not None:
        size = len(next(iter(examples.values())))
        dataset = dataset.shuffle(size, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- Towers ---------------------------------------------------------------------------


def _vocabulary(values) -> list:
    return sorted(set(np.asarray(values).reshape(-1).tolist()) - {""})


class QueryTower(keras.Model):
    """A user's features -> a vector of size ``dim``.

    ``user_id`` -> IntegerLookup -> Embedding; ``age`` -> Discretization into
    AGE_BOUNDARIES -> Embedding; ``sex`` and ``occupation`` -> StringLookup ->
    Embedding; the vectors concatenated -> Dense(dim). Without features: the
    id embedding alone, of size ``dim``.
    """

    def __init__(self, user_ids: Sequence[int], occupations: Sequence[str] = (),
                 dim: int = 32, id_dim: int | None = None, use_features: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim, self.use_features = dim, use_features
        id_dim = id_dim or dim
        self.user_lookup = keras.layers.IntegerLookup(vocabulary=np.unique(np.asarray(user_ids, np.int64)))
        self.user_embedding = keras.layers.Embedding(self.user_lookup.vocabulary_size(),
                                                     id_dim if use_features else dim)
        if use_features:
            self.age_buckets = keras.layers.Discretization(bin_boundaries=list(AGE_BOUNDARIES))
            self.age_embedding = keras.layers.Embedding(len(AGE_BOUNDARIES) + 1, 4)
            self.sex_lookup = keras.layers.StringLookup(vocabulary=["F", "M"])
            self.sex_embedding = keras.layers.Embedding(3, 2)
            self.occupation_lookup = keras.layers.StringLookup(vocabulary=_vocabulary(occupations))
            self.occupation_embedding = keras.layers.Embedding(self.occupation_lookup.vocabulary_size(), 8)
            self.projection = keras.layers.Dense(dim)

    def call(self, features):
        user = self.user_embedding(self.user_lookup(features["user_id"]))
        if not self.use_features:
            return user
        parts = [
            user,
            self.age_embedding(self.age_buckets(features["age"])),
            self.sex_embedding(self.sex_lookup(features["sex"])),
            self.occupation_embedding(self.occupation_lookup(features["occupation"])),
        ]
        return self.projection(keras.ops.concatenate(parts, axis=-1))


class CandidateTower(keras.Model):
    """A movie's features -> a vector of size ``dim``.

    ``movie_id`` -> IntegerLookup -> Embedding; ``genres`` (a padded list of
    names) -> StringLookup in multi-hot mode -> Dense without bias, divided by
    the number of genres (the mean of the genres' embeddings); ``year`` ->
    Discretization into decades -> Embedding; concatenated -> Dense(dim).
    Without features: the id embedding alone, of size ``dim``.
    """

    def __init__(self, movie_ids: Sequence[int], genres: Sequence[str] = (),
                 dim: int = 32, id_dim: int | None = None, use_features: bool = True,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.dim, self.use_features = dim, use_features
        id_dim = id_dim or dim
        self.movie_lookup = keras.layers.IntegerLookup(vocabulary=np.unique(np.asarray(movie_ids, np.int64)))
        self.movie_embedding = keras.layers.Embedding(self.movie_lookup.vocabulary_size(),
                                                      id_dim if use_features else dim)
        if use_features:
            self.genre_lookup = keras.layers.StringLookup(vocabulary=_vocabulary(genres), mask_token="",
                                                          output_mode="multi_hot")
            self.genre_embedding = keras.layers.Dense(8, use_bias=False)
            self.year_buckets = keras.layers.Discretization(bin_boundaries=list(YEAR_BOUNDARIES))
            self.year_embedding = keras.layers.Embedding(len(YEAR_BOUNDARIES) + 1, 4)
            self.projection = keras.layers.Dense(dim)

    def call(self, features):
        movie = self.movie_embedding(self.movie_lookup(features["movie_id"]))
        if not self.use_features:
            return movie
        genres = self.genre_lookup(features["genres"])
        genre_count = keras.ops.maximum(keras.ops.sum(genres, axis=-1, keepdims=True), 1.0)
        parts = [
            movie,
            self.genre_embedding(genres) / genre_count,
            self.year_embedding(self.year_buckets(features["year"])),
        ]
        return self.projection(keras.ops.concatenate(parts, axis=-1))


def build_towers(train: pd.DataFrame, users: pd.DataFrame, movies: pd.DataFrame, dim: int = 32,
                 use_features: bool = True, seed: int = 0) -> tuple[QueryTower, CandidateTower]:
    """A query and a candidate tower whose id vocabularies are the ids of ``train``."""
    keras.utils.set_random_seed(seed)
    genres = sorted({g for names in movie_features(movies)["genres"] for g in names} - {""})
    query = QueryTower(train["user_id"].unique(), users["occupation"].astype(str).unique(), dim=dim,
                       use_features=use_features, name="query_tower")
    candidate = CandidateTower(train["movie_id"].unique(), genres, dim=dim,
                               use_features=use_features, name="candidate_tower")
    return query, candidate


def _split_features(features: Mapping[str, tf.Tensor]):
    query = {name: features[name] for name in QUERY_FEATURES if name in features}
    candidate = {name: features[name] for name in CANDIDATE_FEATURES if name in features}
    return query, candidate


# --- Retrieval ------------------------------------------------------------------------


class RetrievalModel(keras.Model):
    """Two towers trained with the in-batch softmax.

    ``call`` returns both embeddings of a batch of (user, movie) examples;
    ``compute_loss`` scores every query of the batch against every candidate
    of the batch and takes the softmax cross entropy with the diagonal as the
    right answers (:func:`~recsys_course.retrieval.in_batch_softmax_loss`).
    With ``movie_log_frequency`` (log of each movie's share of the training
    ratings, indexed by movie id) the logits are corrected for how often a
    movie shows up as a negative (:func:`~recsys_course.retrieval.logq_correction`).
    """

    def __init__(self, query_tower: keras.Model, candidate_tower: keras.Model,
                 movie_log_frequency: np.ndarray | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.query_tower, self.candidate_tower = query_tower, candidate_tower
        self.movie_log_frequency = (None if movie_log_frequency is None
                                    else tf.constant(movie_log_frequency, tf.float32))

    def call(self, features):
        query, candidate = _split_features(features)
        return {"query": self.query_tower(query), "candidate": self.candidate_tower(candidate)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        queries, candidates = y_pred["query"], y_pred["candidate"]
        if self.movie_log_frequency is not None:
            log_q = tf.gather(self.movie_log_frequency, tf.cast(x["movie_id"], tf.int32))
            queries, candidates = logq_correction(queries, candidates, log_q)
        loss = in_batch_softmax_loss(queries, candidates)
        if self.losses:
            loss = loss + keras.ops.sum(self.losses)
        return loss


def movie_log_frequency(train: pd.DataFrame, num_movies: int) -> np.ndarray:
    """log of each movie's share of the training ratings (a movie with none counts as 1 rating)."""
    counts = np.bincount(train["movie_id"].to_numpy(), minlength=num_movies).astype(np.float64)
    return np.log(np.maximum(counts, 1.0) / max(len(train), 1)).astype(np.float32)


# --- Ranking --------------------------------------------------------------------------


class RankingModel(keras.Model):
    """Predicts a rating: an MLP over the query and candidate embeddings, concatenated.

    The towers are its own (trained on the rating error, not the retrieval
    towers); the MLP has ReLU hidden layers and one linear output unit.
    """

    def __init__(self, query_tower: keras.Model, candidate_tower: keras.Model,
                 hidden: Sequence[int] = (64, 32), **kwargs) -> None:
        super().__init__(**kwargs)
        self.query_tower, self.candidate_tower = query_tower, candidate_tower
        self.hidden = [keras.layers.Dense(units, activation="relu") for units in hidden]
        self.rating = keras.layers.Dense(1)

    def call(self, features):
        query, candidate = _split_features(features)
        x = keras.ops.concatenate([self.query_tower(query), self.candidate_tower(candidate)], axis=-1)
        for layer in self.hidden:
            x = layer(x)
        return keras.ops.squeeze(self.rating(x), axis=-1)


# --- Using trained towers --------------------------------------------------------------


def embed(tower: keras.Model, frame: pd.DataFrame, batch_size: int = 4096) -> np.ndarray:
    """``tower`` applied to every row of a feature table: ``[len(frame), dim]`` float32."""
    dataset = tf.data.Dataset.from_tensor_slices(feature_arrays(frame)).batch(batch_size)
    return np.concatenate([np.asarray(tower(batch)) for batch in dataset], axis=0)


def pair_features(user_table: pd.DataFrame, movie_table: pd.DataFrame,
                  user_ids: np.ndarray, movie_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Features of (user, movie) pairs, from the two feature tables indexed by id."""
    user_rows = user_table.set_index("user_id").loc[np.asarray(user_ids)].reset_index()
    movie_rows = movie_table.set_index("movie_id").loc[np.asarray(movie_ids)].reset_index()
    return {**feature_arrays(user_rows), **feature_arrays(movie_rows)}


def predict_pairs(model: keras.Model, user_table: pd.DataFrame, movie_table: pd.DataFrame,
                  user_ids: np.ndarray, movie_ids: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """The ranking model's predicted rating of each (user, movie) pair, float32."""
    features = pair_features(user_table, movie_table, user_ids, movie_ids)
    dataset = tf.data.Dataset.from_tensor_slices(features).batch(batch_size)
    return np.concatenate([np.asarray(model(batch)) for batch in dataset], axis=0)


def predict_lists(model: keras.Model, user_table: pd.DataFrame, movie_table: pd.DataFrame,
                  user_ids: np.ndarray, lists: np.ndarray) -> np.ndarray:
    """Predicted ratings of each user's list of movies: ``lists`` is ``[len(user_ids), k]``, -1 padded.

    Returns a float ``[len(user_ids), k]`` array, nan at the padding.
    """
    lists = np.asarray(lists)
    valid = lists >= 0
    pair_users = np.broadcast_to(np.asarray(user_ids)[:, None], lists.shape)[valid]
    predicted = np.full(lists.shape, np.nan)
    if valid.any():
        predicted[valid] = predict_pairs(model, user_table, movie_table, pair_users, lists[valid])
    return predicted
