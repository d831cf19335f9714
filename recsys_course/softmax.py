"""The softmax model of notebook 7: predict a movie a user rated from the others.

Each example is one user and one movie they rated, the *label*. The model sees
the user's other rated movies, the *bag*, and scores every movie of the
catalogue:

    x      = [mean of V_j over the bag ; mean genre embedding ; mean year embedding]
    u      = x W_1 ... W_h                      (linear hidden layers)
    logits = u V^T,     p = softmax(logits)      (one score per movie)

and is trained to give the label a high probability (softmax cross entropy).
The movie embedding matrix ``V`` serves twice: it embeds the movies of the bag
and it scores the candidates.

The pieces, in the order a model uses them:

- :func:`make_rated_movies`: the per-user table ``rated_movies`` (lists of
  movie ids, years and genres) built from the ratings;
- :class:`BagVocabulary`: the catalogue size and each movie's genres and year,
  read from ``rated_movies``;
- :func:`make_bags` -> :class:`Bags`: every user's rated movies as a multi-hot
  row over the catalogue (a mask of the movies in the bag) and as a padded
  list of ids with a length;
- :func:`sample_labels`, :func:`fixed_labels`: which (user, label) examples a
  step or a metric uses; :func:`input_bags`: their input bags, *without* the
  label (:func:`input_bags` with ``label_in_bag=True`` reproduces the flaw of
  the crash course's version, whose label was also one of the inputs);
- :class:`MeanEmbedding`, :class:`ScaledLinear`, :class:`UserTower`: the
  network as Keras 3 layers;
- :func:`softmax_loss` (the reference for the first exercise), and
  :func:`precision_at_k`, :func:`recall_at_k`, :func:`top_k_hits`: the
  one-label metrics of :mod:`recsys_course.ranking_metrics` under the names
  notebook 7 uses;
- :func:`build_softmax_model`: all of it wired into a
  :class:`~recsys_course.cfmodel.CFModel` (the reference of the second
  exercise, with a few more options); the model also keeps its network
  (``model.tower``) and its held-out examples, which
  :func:`evaluation_protocols`, :func:`bag_logits` and
  :func:`recommend_for_movies` use after training.

Why multi-hot rows rather than padded lists of embeddings: MovieLens users
rated 20 to 737 movies (106 on average), so a padded ``[batch, 737, d]``
gather wastes most of its work, while mean pooling as a product
``(bag / |bag|) V`` with a ``[batch, num_movies]`` bag costs the same for every
user, fits one matrix product, and compiles with XLA. On two busy CPU cores a
training step of the notebook's model (batch 200) took 5-10 ms this way,
three to four times less than with padded gathers (measured both with and
without XLA). For catalogues of hundreds
of thousands of movies, ragged bags and sparse lookups would win instead.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .cfmodel import CFModel
from .movielens import MOVIE_GENRES
from .ranking_metrics import label_hits_at_k, label_precision_at_k, label_recall_at_k
from .splits import DEFAULT_SPLIT_SEED, split_dataframe

FEATURES = ("movie_id", "genre", "year")  # the keys of `embedding_dims`
UNKNOWN_YEAR = -1  # the year of a movie without a release date
DEFAULT_BATCH_SIZE = 200
DEFAULT_HIDDEN_SCALE = 0.1
_HYPHENATED_GENRES = frozenset(name for name in MOVIE_GENRES if "-" in name)


# --- The data: rated_movies, vocabulary, bags --------------------------------

def make_rated_movies(ratings: pd.DataFrame, movies: pd.DataFrame) -> pd.DataFrame:
    """One row per user with ratings: what they rated, with each movie's year and genres.

    Args:
        ratings: ``user_id``, ``movie_id`` (0-based ints), optionally ``unix_timestamp``.
        movies: ``movie_id``, ``year`` (may be missing) and the genre flag
            columns or ``all_genres``, as ``load_movielens`` gives.

    Returns:
        A DataFrame sorted by ``user_id`` with columns

        - ``user_id``: int;
        - ``movie_id``: list of the movie ids the user rated (in the order
          they rated them, ties by id);
        - ``year``: list of the same length, each movie's release year
          (``UNKNOWN_YEAR`` = -1 when it has none);
        - ``genres``: list of the same length, each movie's list of genres
          (``['Other']`` for a movie without one).

        The three lists are aligned: position ``k`` of each describes the
        same movie. Users without ratings have no row.
    """
    info = movies.set_index("movie_id")
    years = info["year"].astype("Int64").fillna(UNKNOWN_YEAR).astype(int)
    genres = movie_genre_lists(info)
    order = ["user_id", "unix_timestamp", "movie_id"] if "unix_timestamp" in ratings else [
        "user_id", "movie_id"]
    sorted_ratings = ratings.sort_values(order, kind="stable")
    movie_ids = sorted_ratings["movie_id"].astype(int)
    frame = pd.DataFrame({
        "user_id": sorted_ratings["user_id"].astype(int).to_numpy(),
        "movie_id": movie_ids.to_numpy(),
        "year": years.reindex(movie_ids).to_numpy(),
        "genres": genres.reindex(movie_ids).to_numpy(),
    })
    grouped = frame.groupby("user_id", sort=True)
    return pd.DataFrame({
        "user_id": np.array(list(grouped.groups), dtype=int),
        "movie_id": [list(map(int, part)) for part in grouped["movie_id"].agg(list)],
        "year": [list(map(int, part)) for part in grouped["year"].agg(list)],
        "genres": [[list(g) for g in part] for part in grouped["genres"].agg(list)],
    })


def split_genres(all_genres: str) -> list[str]:
    """``'Action-Sci-Fi'`` -> ``['Action', 'Sci-Fi']``: genres joined by '-', some containing one."""
    names: list[str] = []
    for token in str(all_genres).split("-"):
        if names and f"{names[-1]}-{token}" in _HYPHENATED_GENRES:
            names[-1] = f"{names[-1]}-{token}"
        else:
            names.append(token)
    return names


def movie_genre_lists(movies: pd.DataFrame) -> pd.Series:
    """Each movie's list of genres ('Other' alone when it has none), indexed like ``movies``.

    Read from the genre flag columns when ``movies`` has them, else from ``all_genres``.
    """
    if all(name in movies.columns for name in MOVIE_GENRES):
        flags = movies[list(MOVIE_GENRES)].to_numpy().astype(bool)
        names = list(MOVIE_GENRES)
        return pd.Series([[names[k] for k in np.flatnonzero(row)] or ["Other"] for row in flags],
                         index=movies.index)
    return movies["all_genres"].map(split_genres)


@dataclass(frozen=True)
class BagVocabulary:
    """The catalogue as the model sees it.

    Attributes:
        num_movies: rows of the movie embedding (largest movie id + 1).
        genres: the genre names, in the order of the genre embedding's rows.
        years: the years, in the order of the year embedding's rows.
        movie_genres: ``[num_movies, len(genres)]`` float32, 1 where the movie
            has the genre (all zeros for a movie nobody rated).
        movie_years: ``[num_movies, len(years)]`` float32, one 1 per movie
            (all zeros for a movie nobody rated).
    """

    num_movies: int
    genres: tuple[str, ...]
    years: tuple[int, ...]
    movie_genres: np.ndarray
    movie_years: np.ndarray

    @classmethod
    def from_rated_movies(cls, rated_movies: pd.DataFrame,
                          num_movies: int | None = None) -> "BagVocabulary":
        """Read every movie's genres and year off the aligned lists of ``rated_movies``.

        ``num_movies`` defaults to the largest movie id + 1.
        """
        ids = [int(m) for row in rated_movies["movie_id"] for m in row]
        years = [int(y) for row in rated_movies["year"] for y in row]
        genres = [tuple(g) for row in rated_movies["genres"] for g in row]
        if not (len(ids) == len(years) == len(genres)):
            raise ValueError("the movie_id, year and genres lists of rated_movies must be aligned")
        if not ids:
            raise ValueError("rated_movies holds no rated movie")
        if num_movies is None:
            num_movies = max(ids) + 1
        genre_names = tuple(sorted({name for names in genres for name in names}))
        year_values = tuple(sorted(set(years)))
        genre_index = {name: k for k, name in enumerate(genre_names)}
        year_index = {year: k for k, year in enumerate(year_values)}
        movie_genres = np.zeros((num_movies, len(genre_names)), np.float32)
        movie_years = np.zeros((num_movies, len(year_values)), np.float32)
        for movie, year, names in zip(ids, years, genres):
            movie_years[movie] = 0.0
            movie_years[movie, year_index[year]] = 1.0
            movie_genres[movie] = 0.0
            movie_genres[movie, [genre_index[name] for name in names]] = 1.0
        return cls(int(num_movies), genre_names, year_values, movie_genres, movie_years)

    @property
    def sizes(self) -> dict[str, int]:
        """Rows of each feature's embedding table."""
        return {"movie_id": self.num_movies, "genre": len(self.genres), "year": len(self.years)}


class Bags(NamedTuple):
    """Every user's rated movies, one row per row of ``rated_movies``.

    Attributes:
        multi_hot: ``[num_users, num_movies]`` float32, 1 where the user rated
            the movie: the bag as a mask over the catalogue.
        movie_ids: ``[num_users, max_length]`` int32, the ids, padded with -1.
        lengths: ``[num_users]`` int32, how many movies each user rated
            (``movie_ids[i, :lengths[i]]`` are user ``i``'s movies).
    """

    multi_hot: tf.Tensor
    movie_ids: tf.Tensor
    lengths: tf.Tensor

    @property
    def num_users(self) -> int:
        return int(self.lengths.shape[0])


def make_bags(rated_movies: pd.DataFrame, num_movies: int) -> Bags:
    """The bags of ``rated_movies`` (every row needs at least one movie)."""
    lists = [list(map(int, row)) for row in rated_movies["movie_id"]]
    if not lists:
        raise ValueError("rated_movies has no rows")
    lengths = np.array([len(row) for row in lists], np.int32)
    if lengths.min() < 1:
        raise ValueError("every row of rated_movies needs at least one movie")
    if max(max(row) for row in lists) >= num_movies:
        raise ValueError(f"a movie id is not below num_movies={num_movies}")
    movie_ids = np.full((len(lists), lengths.max()), -1, np.int32)
    multi_hot = np.zeros((len(lists), num_movies), np.float32)
    for i, row in enumerate(lists):
        movie_ids[i, :len(row)] = row
        multi_hot[i, row] = 1.0
    return Bags(tf.constant(multi_hot), tf.constant(movie_ids), tf.constant(lengths))


def sample_labels(bags: Bags, batch_size: int,
                  generator: tf.random.Generator) -> tuple[tf.Tensor, tf.Tensor]:
    """Draw a batch of examples: ``(rows, labels)``, two ``[batch_size]`` int32 tensors.

    Users (rows of ``bags``) are drawn uniformly with replacement, and for
    each a label uniformly among the movies they rated. Graph-friendly:
    call it inside a loss to get a fresh batch at every step.
    """
    rows = generator.uniform([batch_size], 0, bags.num_users, dtype=tf.int32)
    lengths = tf.gather(bags.lengths, rows)
    positions = tf.cast(generator.uniform([batch_size]) * tf.cast(lengths, tf.float32), tf.int32)
    positions = tf.minimum(positions, lengths - 1)  # guards against rounding up to the length
    labels = tf.gather_nd(bags.movie_ids, tf.stack([rows, positions], axis=1))
    return rows, labels


def fixed_labels(bags: Bags, labels_per_user: int = 1,
                 seed: int = DEFAULT_SPLIT_SEED) -> tuple[tf.Tensor, tf.Tensor]:
    """Examples drawn once, for metrics: ``labels_per_user`` labels for every row.

    Each user's labels are distinct while they rated that many movies, else
    all their movies. Returns ``(rows, labels)``, int32 tensors.
    """
    rng = np.random.default_rng(seed)
    movie_ids, lengths = bags.movie_ids.numpy(), bags.lengths.numpy()
    rows, labels = [], []
    for row, length in enumerate(lengths):
        picks = rng.choice(int(length), size=min(labels_per_user, int(length)), replace=False)
        rows += [row] * len(picks)
        labels += movie_ids[row, picks].tolist()
    return tf.constant(rows, tf.int32), tf.constant(labels, tf.int32)


def input_bags(bags: Bags, rows: tf.Tensor, labels: tf.Tensor,
               label_in_bag: bool = False) -> tf.Tensor:
    """The model's inputs for examples ``(rows, labels)``: ``[batch, num_movies]`` multi-hot.

    The label is taken out of its user's bag: the model must predict it
    from the *other* movies. ``label_in_bag=True`` leaves it in, as the
    crash course's version did (the answer is then among the inputs).
    """
    bag = tf.gather(bags.multi_hot, rows)
    if label_in_bag:
        return bag
    return bag - tf.one_hot(labels, tf.shape(bag)[1], dtype=bag.dtype)


# --- The network ----------------------------------------------------------------

class MeanEmbedding(keras.layers.Layer):
    """Mean of the embeddings of a bag given as counts over a vocabulary.

    ``call(counts)`` with ``counts`` of shape ``[batch, vocabulary_size]``
    (how many times each item is in the bag) returns
    ``(counts / counts.sum(axis=1)) @ embeddings``, shape ``[batch, dim]``;
    an empty bag gives zeros. This is what an embedding lookup with a
    "mean" combiner computes, as one matrix product.
    """

    def __init__(self, vocabulary_size: int, dim: int, stddev: float | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.vocabulary_size, self.dim = int(vocabulary_size), int(dim)
        stddev = 1.0 / np.sqrt(dim) if stddev is None else stddev
        self.embeddings = self.add_weight(
            shape=(self.vocabulary_size, self.dim), name="embeddings",
            initializer=keras.initializers.TruncatedNormal(stddev=stddev))

    def call(self, counts):
        counts = tf.convert_to_tensor(counts, dtype=self.embeddings.dtype)
        total = tf.reduce_sum(counts, axis=1, keepdims=True)
        return tf.matmul(counts / tf.maximum(total, 1e-9), self.embeddings.value)


class ScaledLinear(keras.layers.Layer):
    """A linear layer without bias whose weights are stored ``1/scale`` times larger.

    ``call(x) = scale * (x @ kernel)``, kernel initialised from a truncated
    normal with standard deviation ``1/sqrt(units)``. The function is the
    same as a linear layer with weights ``scale * kernel``; what changes is
    the training: optimizers like Adagrad take steps of about the learning
    rate in the stored variable, i.e. ``scale`` times smaller steps in the
    effective weights. With ``scale = 0.1`` the hidden layer can share the
    large learning rate (about 4-8) the embeddings need. (The crash course's
    version divides its hidden weights by 10 the same way.)
    """

    def __init__(self, units: int, scale: float = DEFAULT_HIDDEN_SCALE, **kwargs) -> None:
        super().__init__(**kwargs)
        self.units, self.scale = int(units), float(scale)

    def build(self, input_shape) -> None:
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.units), name="kernel",
            initializer=keras.initializers.TruncatedNormal(stddev=1.0 / np.sqrt(self.units)))

    def call(self, x):
        return self.scale * tf.matmul(x, self.kernel.value)


class UserTower(keras.layers.Layer):
    """From a bag of movies to a user embedding (the query of the softmax model).

    ``call(bag)`` with ``bag`` of shape ``[batch, num_movies]`` (multi-hot,
    label already removed) concatenates the mean movie embedding, the mean
    genre embedding (over every genre of every movie of the bag) and the
    mean year embedding, and passes the result through linear hidden layers
    of sizes ``hidden_dims``. The last size must equal the movie embedding
    dimension: the output is scored against the same movie embeddings.

    Args:
        vocabulary: the catalogue (:class:`BagVocabulary`).
        embedding_dims: ``{'movie_id': d_movie, 'genre': d_genre, 'year': d_year}``;
            a feature left out (or given 0) is not used, except 'movie_id'.
        hidden_dims: sizes of the hidden layers, the last one ``d_movie``.
        hidden_scale: see :class:`ScaledLinear`.
    """

    def __init__(self, vocabulary: BagVocabulary, embedding_dims: Mapping[str, int],
                 hidden_dims: Sequence[int], hidden_scale: float = DEFAULT_HIDDEN_SCALE,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        unknown = set(embedding_dims) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; use {list(FEATURES)}")
        if not embedding_dims.get("movie_id"):
            raise ValueError("embedding_dims needs a 'movie_id' dimension")
        hidden_dims = [int(h) for h in hidden_dims]
        movie_dim = int(embedding_dims["movie_id"])
        output_dim = hidden_dims[-1] if hidden_dims else sum(int(d) for d in embedding_dims.values())
        if output_dim != movie_dim:
            raise ValueError(
                f"the user embedding (size {output_dim}, the last of hidden_dims) must have the "
                f"movie embedding's size {movie_dim}: logits are their dot products")
        self.vocabulary = vocabulary
        self.movie_genres = tf.constant(vocabulary.movie_genres)
        self.movie_years = tf.constant(vocabulary.movie_years)
        sizes = vocabulary.sizes
        self.pools = {name: MeanEmbedding(sizes[name], int(dim), name=f"{name}_embedding")
                      for name, dim in embedding_dims.items() if dim}
        self.hidden = [ScaledLinear(units, hidden_scale, name=f"hidden{k}")
                       for k, units in enumerate(hidden_dims)]
        self(tf.zeros([1, vocabulary.num_movies]))  # create every variable now

    @property
    def movie_embeddings(self) -> tf.Variable:
        """``V``, ``[num_movies, d_movie]``: the input embedding of movie ids and the output matrix."""
        return self.pools["movie_id"].embeddings.value

    def pooled(self, bag):
        """The concatenated mean embeddings, before the hidden layers."""
        bag = tf.convert_to_tensor(bag, tf.float32)
        counts = {"movie_id": bag,
                  "genre": tf.matmul(bag, self.movie_genres),
                  "year": tf.matmul(bag, self.movie_years)}
        return tf.concat([pool(counts[name]) for name, pool in self.pools.items()], axis=1)

    def call(self, bag):
        x = self.pooled(bag)
        for layer in self.hidden:
            x = layer(x)
        return x


# --- Loss and metrics ------------------------------------------------------------

def softmax_loss(user_embeddings, movie_embeddings, labels) -> tf.Tensor:
    """Mean softmax cross entropy of the logits ``user_embeddings @ movie_embeddings^T``.

    Args:
        user_embeddings: ``[batch, d]``.
        movie_embeddings: ``[num_movies, d]``.
        labels: ``[batch]`` ints, the movie each example should predict.
    """
    logits = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int64), logits=logits))


# The ranking metrics with one label per example live with the other ranking
# metrics; notebook 7 and its tests know them by these names.
top_k_hits = label_hits_at_k
recall_at_k = label_recall_at_k
precision_at_k = label_precision_at_k


# --- The model -------------------------------------------------------------------

def build_softmax_model(rated_movies: pd.DataFrame, embedding_dims: Mapping[str, int],
                        hidden_dims: Sequence[int], *, batch_size: int = DEFAULT_BATCH_SIZE,
                        num_movies: int | None = None, label_in_bag: bool = False,
                        holdout_fraction: float = 0.1, split_seed: int = DEFAULT_SPLIT_SEED,
                        test_labels_per_user: int = 5, seed: int = 0,
                        hidden_scale: float = DEFAULT_HIDDEN_SCALE,
                        held_out_name: str = "test") -> CFModel:
    """The softmax model, trained on most users and tested on held-out users.

    Args:
        rated_movies: the table of :func:`make_rated_movies`.
        embedding_dims: ``{'movie_id': ..., 'genre': ..., 'year': ...}``.
        hidden_dims: hidden layer sizes; the last must be ``embedding_dims['movie_id']``.
        batch_size: examples per training step, drawn at random at every step.
        num_movies: catalogue size (default: largest movie id + 1).
        label_in_bag: reproduce the crash course's leak in *training* (the
            label stays in the input bag, also for the ``train_loss``
            metric); test examples always hold it out.
        holdout_fraction, split_seed: the users held out for testing
            (``split_dataframe`` of the rows of ``rated_movies``).
        test_labels_per_user: examples per test user (distinct labels).
        seed: seed of the training batches.
        hidden_scale: see :class:`ScaledLinear`.
        held_out_name: the prefix of the held-out users' metrics. Name them
            ``'validation'`` when ``rated_movies`` holds only the training
            users, so that the held-out part is carved from the training data
            and the real test users stay unseen until :func:`held_out_metrics`.

    Returns:
        A CFModel with ``embedding_vars == {'movie_id': V}``, loss the mean
        softmax cross entropy of a fresh random training batch, and metrics
        ``[{'train_loss', 'test_loss'}, {'test_precision_at_10',
        'test_recall_at_10'}]``. ``train_loss`` is measured on fixed training
        examples (one per training user), the test metrics on fixed examples
        of the held-out users, ranking every movie not in the input bag.
    """
    vocabulary = BagVocabulary.from_rated_movies(rated_movies, num_movies)
    train_rated, test_rated = split_dataframe(rated_movies, holdout_fraction, split_seed)
    if len(train_rated) == 0 or len(test_rated) == 0:
        raise ValueError("rated_movies needs enough users for both a training and a test part")
    train_bags = make_bags(train_rated, vocabulary.num_movies)
    test_bags = make_bags(test_rated, vocabulary.num_movies)
    tower = UserTower(vocabulary, embedding_dims, hidden_dims, hidden_scale)
    movie_embeddings = tower.movie_embeddings
    generator = tf.random.Generator.from_seed(seed)

    train_labels = fixed_labels(train_bags, 1, seed=split_seed + 1)
    test_labels = fixed_labels(test_bags, test_labels_per_user, seed=split_seed + 2)
    train_fixed = (input_bags(train_bags, *train_labels, label_in_bag=label_in_bag),
                   train_labels[1])
    test_fixed = (input_bags(test_bags, *test_labels), test_labels[1])

    def loss() -> tf.Tensor:
        rows, labels = sample_labels(train_bags, batch_size, generator)
        bag = input_bags(train_bags, rows, labels, label_in_bag=label_in_bag)
        return softmax_loss(tower(bag), movie_embeddings, labels)

    def fixed_loss(fixed) -> tf.Tensor:
        bag, labels = fixed
        return softmax_loss(tower(bag), movie_embeddings, labels)

    def test_logits() -> tf.Tensor:
        return tf.matmul(tower(test_fixed[0]), movie_embeddings, transpose_b=True)

    metrics = [
        {"train_loss": lambda: fixed_loss(train_fixed),
         f"{held_out_name}_loss": lambda: fixed_loss(test_fixed)},
        {f"{held_out_name}_precision_at_10": lambda: precision_at_k(
            test_logits(), test_fixed[1], 10, exclude=test_fixed[0]),
         f"{held_out_name}_recall_at_10": lambda: recall_at_k(
            test_logits(), test_fixed[1], 10, exclude=test_fixed[0])},
    ]
    model = CFModel({"movie_id": movie_embeddings}, loss, metrics)
    # What the helpers below need to look inside the model after training.
    model.tower = tower
    model.vocabulary = vocabulary
    model.train_bags, model.test_bags = train_bags, test_bags
    model.test_examples = test_labels  # (rows of test_bags, labels)
    return model


def _softmax_parts(model: CFModel):
    if not hasattr(model, "tower"):
        raise TypeError("expected a model from recsys_course.softmax.build_softmax_model "
                        "(it keeps its network as model.tower)")
    return model.tower, model.tower.movie_embeddings


def bag_logits(model: CFModel, bag) -> tf.Tensor:
    """``[batch, num_movies]`` scores of every movie for ``[batch, num_movies]`` input bags."""
    tower, movie_embeddings = _softmax_parts(model)
    return tf.matmul(tower(tf.convert_to_tensor(bag, tf.float32)), movie_embeddings,
                     transpose_b=True)


def new_user_examples(model: CFModel, rated_movies: pd.DataFrame, labels_per_user: int = 5,
                      seed: int = DEFAULT_SPLIT_SEED + 2) -> tuple[Bags, tf.Tensor, tf.Tensor]:
    """Examples of users the model was not trained on: ``(bags, rows, labels)``.

    ``labels_per_user`` distinct labels per user of ``rated_movies`` (drawn
    once, seeded), over the model's catalogue.
    """
    _softmax_parts(model)
    bags = make_bags(rated_movies, model.vocabulary.num_movies)
    rows, labels = fixed_labels(bags, labels_per_user, seed=seed)
    return bags, rows, labels


def held_out_metrics(model: CFModel, rated_movies: pd.DataFrame, k: int = 10,
                     labels_per_user: int = 5, seed: int = DEFAULT_SPLIT_SEED + 2) -> dict[str, float]:
    """Loss, precision@k and recall@k of a trained model on users it never saw.

    The examples of :func:`new_user_examples` (the label held out of the
    input bag, the bag's movies excluded from the ranking). For the test
    users, call it once, after every choice is made on validation users.
    """
    bags, rows, labels = new_user_examples(model, rated_movies, labels_per_user, seed)
    inputs = input_bags(bags, rows, labels)
    logits = bag_logits(model, inputs)
    return {"loss": float(softmax_loss(model.tower(inputs), model.tower.movie_embeddings, labels)),
            f"precision_at_{k}": float(precision_at_k(logits, labels, k, exclude=inputs)),
            f"recall_at_{k}": float(recall_at_k(logits, labels, k, exclude=inputs)),
            "examples": int(labels.shape[0])}


def evaluation_protocols(model: CFModel, k: int = 10, rated_movies: pd.DataFrame | None = None,
                         labels_per_user: int = 5,
                         seed: int = DEFAULT_SPLIT_SEED + 2) -> pd.DataFrame:
    """Precision and recall@k of a trained softmax model under three ways of testing it.

    All on held-out users and examples: those of ``rated_movies`` (users the
    model never saw, :func:`new_user_examples`) when given, else the
    model's own held-out part:

    - ``label held out, rated movies excluded``: this notebook's metrics;
    - ``label held out, rated movies ranked too``: the top k may contain
      movies of the input bag, which the user has already rated;
    - ``label in the bag, rated movies ranked too``: the crash course's way
      (its inputs contained the label, so excluding them was impossible);

    and, for scale, the most rated movies (in the training users' bags)
    not in the input bag.
    """
    _softmax_parts(model)
    if rated_movies is None:
        bags, (rows, labels) = model.test_bags, model.test_examples
    else:
        bags, rows, labels = new_user_examples(model, rated_movies, labels_per_user, seed)
    held_out = input_bags(bags, rows, labels)
    with_label = input_bags(bags, rows, labels, label_in_bag=True)
    popularity = tf.reduce_sum(model.train_bags.multi_hot, axis=0)
    popular = tf.tile(popularity[None, :], [tf.shape(held_out)[0], 1])
    cases = {
        "label held out, rated movies excluded (this notebook)": (bag_logits(model, held_out), held_out),
        "label held out, rated movies ranked too": (bag_logits(model, held_out), None),
        "label in the bag, rated movies ranked too (crash course)": (bag_logits(model, with_label), None),
        "most rated movies, rated movies excluded (baseline)": (popular, held_out),
    }
    table = pd.DataFrame(
        [{"evaluation": name,
          f"precision_at_{k}": float(precision_at_k(logits, labels, k, exclude)),
          f"recall_at_{k}": float(recall_at_k(logits, labels, k, exclude))}
         for name, (logits, exclude) in cases.items()]).set_index("evaluation")
    table.attrs["examples"] = int(labels.shape[0])
    return table


def recommend_for_movies(model: CFModel, movies: pd.DataFrame, movie_ids: Sequence[int],
                         k: int = 10) -> pd.DataFrame:
    """The top ``k`` movies for a new user who rated ``movie_ids`` (not retrained: one forward pass).

    The movies of the bag are left out of the ranking. Returns a table
    indexed by rank with ``movie_id``, ``title``, ``genres`` and
    ``probability`` (the softmax of the scores over the whole catalogue).
    """
    num_movies = model.vocabulary.num_movies
    bag = np.zeros((1, num_movies), np.float32)
    bag[0, list(movie_ids)] = 1.0
    logits = bag_logits(model, bag)[0].numpy().astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    scores = np.where(bag[0] > 0, -np.inf, logits)
    top = np.argsort(-scores, kind="stable")[:k]
    info = movies.set_index("movie_id")
    table = pd.DataFrame({
        "movie_id": top,
        "title": info["title"].reindex(top).to_numpy(),
        "genres": info["all_genres"].reindex(top).to_numpy() if "all_genres" in info else "",
        "probability": probabilities[top],
    })
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


# --- Several held-out movies per user (the protocol of notebook 8) ---------------------------

def hold_out_movies(rated_movies: pd.DataFrame, num_movies: int, fraction: float = 0.1,
                    seed: int = DEFAULT_SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a fraction of every user's movies at once: ``(input_bags, held_out)``.

    For each row of ``rated_movies``, ``round(fraction * n)`` of its ``n``
    movies (at least 1, at most ``n - 1``), drawn at random (seeded), are
    held out. Returns two ``[num_users, num_movies]`` arrays: the input bags
    (float32 multi-hot of the movies left) and the held-out movies (bool):
    what a list of recommendations should find, never among its inputs.
    """
    rng = np.random.default_rng(seed)
    lists = [np.asarray(row, dtype=np.int64) for row in rated_movies["movie_id"]]
    inputs = np.zeros((len(lists), int(num_movies)), np.float32)
    held_out = np.zeros((len(lists), int(num_movies)), bool)
    for user, movie_ids in enumerate(lists):
        if len(movie_ids) < 2:
            raise ValueError("every user needs at least two movies: one to hold out, one to keep")
        count = int(np.clip(round(fraction * len(movie_ids)), 1, len(movie_ids) - 1))
        chosen = rng.choice(len(movie_ids), size=count, replace=False)
        inputs[user, movie_ids] = 1.0
        inputs[user, movie_ids[chosen]] = 0.0
        held_out[user, movie_ids[chosen]] = True
    return inputs, held_out


def training_popularity(model: CFModel) -> np.ndarray:
    """``[num_movies]``: in how many training users' bags each movie is (the most-popular baseline)."""
    _softmax_parts(model)
    return model.train_bags.multi_hot.numpy().sum(axis=0).astype(np.float64)


# --- Looking at the movie embeddings -----------------------------------------------------

def rating_count_map(projections: pd.DataFrame, title: str = "Movie embeddings (t-SNE)"):
    """A t-SNE map of movies coloured by their number of ratings (log scale), interactive.

    ``projections`` is a table of :func:`recsys_course.embeddings.tsne_movie_embeddings`
    (``x``, ``y``, ``title``, ``all_genres``, ``rating_count``). Hover for the
    title; zoom and pan with the mouse; the dropdown under the chart greys out
    the movies with more ratings than the number chosen, to find the rarely
    rated ones.
    """
    import altair as alt

    data = projections[["movie_id", "title", "all_genres", "rating_count", "x", "y"]].copy()
    data[["x", "y"]] = data[["x", "y"]].round(2)
    data["ratings"] = data["rating_count"].clip(lower=1)  # a log scale needs positive values
    limits = [1, 5, 20, 100, 1000]
    most = alt.param(name="most_ratings", value=1000,
                     bind=alt.binding_select(options=limits, name="Show movies with at most this many ratings: "))
    shown = "datum.rating_count <= most_ratings"
    return (alt.Chart(data, title=title).mark_circle(size=24)
            .encode(x=alt.X("x:Q", axis=None), y=alt.Y("y:Q", axis=None),
                    color=alt.when(shown).then(alt.Color("ratings:Q", scale=alt.Scale(type="log", scheme="viridis"),
                                                         title="Ratings"))
                    .otherwise(alt.value("lightgray")),
                    opacity=alt.when(shown).then(alt.value(0.85)).otherwise(alt.value(0.15)),
                    tooltip=["title:N", alt.Tooltip("all_genres:N", title="genres"), "rating_count:Q"])
            .properties(width=520, height=420)
            .add_params(most)
            .interactive(name="rating_count_map_zoom"))


# --- Early stopping on the validation users ----------------------------------------------

def train_with_early_stopping(model: CFModel, learning_rate: float, *, chunk: int = 300,
                              max_iterations: int = 1800, patience: int = 2,
                              monitor: str = "validation_loss", min_improvement: float = 0.005,
                              optimizer=keras.optimizers.Adagrad) -> dict[str, float]:
    """Train in chunks of ``chunk`` steps while ``monitor`` improves; keep the best weights.

    After each chunk the metric ``monitor`` (a held-out metric of the model,
    lower is better) is read. Training stops after ``patience`` chunks
    without an improvement of at least ``min_improvement``, or at
    ``max_iterations`` steps in all (those already taken included); the
    network's weights are then set back to those of the best chunk, as
    Keras's ``EarlyStopping(restore_best_weights=True)`` does. Returns the
    metrics of the best chunk, with ``'iteration'`` its step count.
    """
    _softmax_parts(model)
    best, best_weights, waited = None, None, 0
    while model.iteration < max_iterations and waited < patience:
        steps = min(chunk, max_iterations - model.iteration)
        results = model.train(num_iterations=steps, learning_rate=learning_rate,
                              plot_results=False, optimizer=optimizer)
        if best is None or results[monitor] < best[monitor] - min_improvement:
            best = {**results, "iteration": model.iteration}
            best_weights, waited = model.tower.get_weights(), 0
        else:
            waited += 1
    if best is None:  # nothing left to train: the current weights are the best
        return {**model._evaluate_metrics(), "iteration": model.iteration}
    model.tower.set_weights(best_weights)
    return best
