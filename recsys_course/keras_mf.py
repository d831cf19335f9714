"""Matrix factorization with biases as a Keras 3 model (notebook 9).

The prediction for user ``u`` and movie ``i`` is ``<p_u, q_i> + b_u + b_i + b``:
two embedding tables of factors, two tables of biases and one global bias,
all Keras's own layers, so that the model trains with ``model.fit``, saves to
a ``.keras`` file and loads back with ``keras.models.load_model`` alone.

>>> model = build_keras_mf(num_users, num_movies, embedding_dim=32, l2=1.5e-4)
>>> model, history = fit_keras_mf(train, num_users, num_movies, validation=valid,
...                               early_stopping_patience=2)
>>> predict_ratings(model, test["user_id"], test["movie_id"])   # clipped to 1-5

Also here: the ``tf.data`` pipeline of ratings (:func:`ratings_dataset`), the
training curves and predicted-against-true charts, a small hyperparameter
sweep chosen on validation (:func:`sweep_keras_mf`), the trained tables as
arrays (:func:`keras_mf_tables`) and a PCA map of the movie embeddings.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from itertools import product

import altair as alt
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .training_progress import EpochProgress  # noqa: F401 -- for the notebooks: kmf.EpochProgress

# Chosen on a validation tenth of the training ratings of MovieLens 100K
# (split_dataframe(train, 0.1, seed=7)), never on the test ratings.
KERAS_MF_DEFAULTS = {"embedding_dim": 32, "l2": 1.5e-4, "epochs": 14, "batch_size": 1024,
                     "learning_rate": 4e-3, "init_stddev": 0.05}

# Layer names of build_keras_mf, which keras_mf_tables and the tests read.
USER_EMBEDDING, MOVIE_EMBEDDING = "user_embedding", "movie_embedding"
USER_BIAS, MOVIE_BIAS, GLOBAL_BIAS = "user_bias", "movie_bias", "global_bias"


def build_keras_mf(num_users: int, num_movies: int, embedding_dim: int = 32,
                   use_biases: bool = True, l2: float = 0.0, *, init_stddev: float = 0.05,
                   seed: int | None = 0) -> keras.Model:
    """Matrix factorization, optionally with biases, as an uncompiled Keras 3 model.

    The reference for the exercise of notebook 9. The input is a dict of two
    int tensors of shape ``[batch]``, ``{'user_id': ..., 'movie_id': ...}``;
    the output is the ``[batch]`` predicted ratings
    ``<p_u, q_i>`` (+ ``b_u + b_i + b`` when ``use_biases``).

    - ``p`` and ``q``: ``keras.layers.Embedding`` tables of ``embedding_dim``
      columns (``user_embedding``, ``movie_embedding``), normal initial values
      of standard deviation ``init_stddev``;
    - ``b_u``, ``b_i``: one-column Embedding tables (``user_bias``,
      ``movie_bias``); ``b``: a one-row, one-column Embedding (``global_bias``)
      looked up at row 0 for every example. All start at 0 and are trainable.
      Training starts faster with ``b`` set to the mean training rating
      (:func:`fit_keras_mf` does it);
    - ``l2 > 0``: ``keras.regularizers.L2(l2)`` on the two factor tables, so
      ``model.losses`` holds ``l2 * sum(p^2)`` and ``l2 * sum(q^2)``, which
      ``fit`` adds to every minibatch's loss; the biases are not penalized.

    Args:
        num_users, num_movies: rows of the tables (ids are 0-based indices).
        embedding_dim: ``d``, the number of factors.
        use_biases: add the user, movie and global biases.
        l2: weight of the L2 penalty on the factor tables (0: none).
        init_stddev: standard deviation of the initial factors.
        seed: seed of the initial factors (None: Keras's global generator).
    """
    user_id = keras.Input(shape=(), dtype="int32", name="user_id")
    movie_id = keras.Input(shape=(), dtype="int32", name="movie_id")
    regularizer = keras.regularizers.L2(l2) if l2 else None

    def factors(rows: int, name: str, offset: int) -> keras.layers.Embedding:
        initializer = keras.initializers.RandomNormal(
            stddev=init_stddev, seed=None if seed is None else seed + offset)
        return keras.layers.Embedding(rows, embedding_dim, embeddings_initializer=initializer,
                                      embeddings_regularizer=regularizer, name=name)

    def bias(rows: int, name: str) -> keras.layers.Embedding:
        return keras.layers.Embedding(rows, 1, embeddings_initializer="zeros", name=name)

    user_vector = factors(num_users, USER_EMBEDDING, 0)(user_id)      # [batch, d]
    movie_vector = factors(num_movies, MOVIE_EMBEDDING, 1)(movie_id)  # [batch, d]
    terms = [keras.layers.Dot(axes=1, name="dot")([user_vector, movie_vector])]  # [batch, 1]
    if use_biases:
        row_zero = keras.ops.zeros_like(user_id)  # the global bias: row 0 for every example
        terms += [bias(num_users, USER_BIAS)(user_id), bias(num_movies, MOVIE_BIAS)(movie_id),
                  bias(1, GLOBAL_BIAS)(row_zero)]
    summed = keras.layers.Add(name="sum")(terms) if len(terms) > 1 else terms[0]
    rating = keras.layers.Reshape((), name="rating")(summed)  # [batch, 1] -> [batch]
    return keras.Model({"user_id": user_id, "movie_id": movie_id}, rating,
                       name="mf_with_biases" if use_biases else "mf")


def keras_mf_tables(model: keras.Model) -> dict[str, np.ndarray]:
    """The trained tables of a :func:`build_keras_mf` model, as NumPy arrays.

    Keys: ``user_embedding`` ``[num_users, d]``, ``movie_embedding``, and with
    biases ``user_bias`` ``[num_users]``, ``movie_bias`` ``[num_movies]`` and
    ``global_bias`` (a float).
    """
    tables = {}
    for name in (USER_EMBEDDING, MOVIE_EMBEDDING, USER_BIAS, MOVIE_BIAS, GLOBAL_BIAS):
        try:
            values = np.asarray(model.get_layer(name).embeddings.numpy(), dtype=np.float64)
        except ValueError:  # no such layer: a model without biases
            continue
        tables[name] = values if name in (USER_EMBEDDING, MOVIE_EMBEDDING) else values[:, 0]
    if GLOBAL_BIAS in tables:
        tables[GLOBAL_BIAS] = float(tables[GLOBAL_BIAS][0])
    return tables


def set_global_bias(model: keras.Model, value: float) -> None:
    """Set the global bias ``b`` of a :func:`build_keras_mf` model (a warm start at the mean)."""
    model.get_layer(GLOBAL_BIAS).embeddings.assign([[float(value)]])


# --- Data --------------------------------------------------------------------------

def rating_inputs(user_ids, movie_ids) -> dict[str, np.ndarray]:
    """The model's input dict for pairs of ids (int32 arrays)."""
    return {"user_id": np.asarray(user_ids, dtype=np.int32),
            "movie_id": np.asarray(movie_ids, dtype=np.int32)}


def ratings_dataset(ratings: pd.DataFrame, batch_size: int = 1024, shuffle: bool = False,
                    seed: int = 0) -> tf.data.Dataset:
    """A ``tf.data`` pipeline of ``({'user_id', 'movie_id'}, rating)`` minibatches.

    With ``shuffle``, the order of the ratings is drawn again at every epoch
    (a buffer as large as the data: a full shuffle), from ``seed``. The data
    is small, so it is kept in memory and the next batch is prepared while the
    model trains on the current one (``prefetch``).
    """
    features = rating_inputs(ratings["user_id"], ratings["movie_id"])
    targets = ratings["rating"].to_numpy(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((features, targets))
    if shuffle:
        dataset = dataset.shuffle(max(1, len(ratings)), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- Training ----------------------------------------------------------------------

def compile_keras_mf(model: keras.Model, learning_rate: float = KERAS_MF_DEFAULTS["learning_rate"],
                     steps_per_execution: int = 32) -> None:
    """Adam on the mean squared error, reporting RMSE and MAE (``rmse``, ``mae``).

    ``steps_per_execution`` minibatches run in one call of the compiled
    training step: the same updates, with less Python between them (a
    quarter less CPU time, and half the wall time on a busy machine).
    """
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse",
                  metrics=[keras.metrics.RootMeanSquaredError(name="rmse"),
                           keras.metrics.MeanAbsoluteError(name="mae")],
                  steps_per_execution=steps_per_execution)


def fit_keras_mf(train: pd.DataFrame, num_users: int, num_movies: int,
                 validation: pd.DataFrame | None = None, *,
                 embedding_dim: int = KERAS_MF_DEFAULTS["embedding_dim"],
                 l2: float = KERAS_MF_DEFAULTS["l2"],
                 epochs: int = KERAS_MF_DEFAULTS["epochs"],
                 batch_size: int = KERAS_MF_DEFAULTS["batch_size"],
                 learning_rate: float = KERAS_MF_DEFAULTS["learning_rate"],
                 init_stddev: float = KERAS_MF_DEFAULTS["init_stddev"],
                 early_stopping_patience: int | None = None,
                 seed: int = 0, verbose: int = 0,
                 progress: str | None = None) -> tuple[keras.Model, keras.callbacks.History]:
    """Build :func:`build_keras_mf` (with biases) and train it with Adam and ``model.fit``.

    The global bias starts at the mean training rating, so that the other
    weights learn deviations from it from the first step. The loss is the
    mean squared error of each shuffled minibatch (plus the L2 penalty). The
    defaults (:data:`KERAS_MF_DEFAULTS`) reach a test RMSE of about 0.91 on
    the course's 90/10 split of MovieLens 100K in a few seconds on two cores.

    Args:
        train: training ratings (``user_id``, ``movie_id``, ``rating``).
        num_users, num_movies: rows of the tables.
        validation: ratings whose loss, RMSE and MAE ``fit`` reports after
            each epoch (``val_rmse``...); None: none.
        early_stopping_patience: with ``validation``, stop when the validation
            RMSE has not improved for this many epochs and keep the weights of
            the best epoch (None: train every epoch).
        seed: seeds Keras (weights, shuffling): the same seed, the same model.
        verbose: ``model.fit``'s verbosity (0: silent; 1: a progress bar).
        progress: a label: show the run on one line redrawn after each epoch
            (:class:`~recsys_course.training_progress.EpochProgress`); None: silent.

    Returns:
        ``(model, history)``; ``history.history`` has ``loss``, ``rmse``,
        ``mae`` and their ``val_`` versions per epoch, and
        ``model.fit_seconds`` the wall time of ``fit``.
    """
    keras.utils.set_random_seed(seed)
    model = build_keras_mf(num_users, num_movies, embedding_dim, True, l2,
                           init_stddev=init_stddev, seed=seed)
    if len(train):
        set_global_bias(model, float(train["rating"].mean()))
    compile_keras_mf(model, learning_rate)
    callbacks = [EpochProgress(progress)] if progress is not None else []
    validation_data = None
    if validation is not None:
        validation_data = ratings_dataset(validation, batch_size=8192)
        if early_stopping_patience is not None:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_rmse", mode="min", patience=early_stopping_patience,
                restore_best_weights=True))
    start = time.perf_counter()
    history = model.fit(ratings_dataset(train, batch_size, shuffle=True, seed=seed), epochs=epochs,
                        validation_data=validation_data, callbacks=callbacks, shuffle=False,
                        verbose=verbose)
    model.fit_seconds = time.perf_counter() - start
    return model, history


def predict_ratings(model: keras.Model, user_ids, movie_ids,
                    clip: Sequence[float] | None = (1.0, 5.0),
                    batch_size: int = 8192) -> np.ndarray:
    """The model's predicted ratings for pairs of ids, clipped to the rating scale.

    ``clip=None`` returns the raw predictions. Calls the model directly on
    batches (faster than ``model.predict`` for a small model).
    """
    inputs = rating_inputs(user_ids, movie_ids)
    parts = [np.asarray(model({name: values[start:start + batch_size]
                               for name, values in inputs.items()}), dtype=np.float64).reshape(-1)
             for start in range(0, len(inputs["user_id"]), batch_size)]
    predictions = np.concatenate(parts) if parts else np.zeros(0)
    return predictions if clip is None else np.clip(predictions, *clip)


def rating_errors(model: keras.Model, ratings: pd.DataFrame) -> dict[str, float]:
    """RMSE and MAE of the model's clipped predictions of ``ratings``."""
    errors = predict_ratings(model, ratings["user_id"], ratings["movie_id"]) - ratings["rating"].to_numpy()
    return {"rmse": float(np.sqrt(np.mean(errors ** 2))), "mae": float(np.mean(np.abs(errors)))}


def best_epoch(history: keras.callbacks.History, monitor: str = "val_rmse") -> int:
    """The 1-based epoch with the lowest ``monitor`` (what early stopping restores)."""
    return int(np.argmin(history.history[monitor])) + 1


# --- A sweep chosen on validation ---------------------------------------------------

def sweep_keras_mf(train: pd.DataFrame, validation: pd.DataFrame, num_users: int, num_movies: int,
                   embedding_dims: Iterable[int], l2_weights: Iterable[float], progress: bool = True,
                   **fit_options) -> tuple[pd.DataFrame, dict[tuple[int, float], keras.Model]]:
    """Train one model per (embedding size, L2 weight) and score each on validation.

    Each run uses :func:`fit_keras_mf` with ``fit_options`` (early stopping
    on ``validation`` included, when asked). Test ratings are not an
    argument: choosing among settings is part of training. With ``progress``,
    each run shows on a line of its own, redrawn after each epoch
    (``d=16, l2=0.00015: epoch 9/30  loss ...  val_rmse 0.9473  2.1 s``).

    Returns:
        ``(table, models)``: one row per setting, ``embedding_dim``, ``l2``,
        ``epochs`` (the best epoch), ``validation_rmse``, ``validation_mae``,
        ``seconds``; and the trained models keyed by ``(embedding_dim, l2)``.
    """
    rows, models = [], {}
    for embedding_dim, l2 in product(embedding_dims, l2_weights):
        label = f"d={embedding_dim}, l2={l2:g}" if progress else None
        model, history = fit_keras_mf(train, num_users, num_movies, validation,
                                      embedding_dim=embedding_dim, l2=l2, progress=label, **fit_options)
        errors = rating_errors(model, validation)
        rows.append({"embedding_dim": embedding_dim, "l2": l2, "epochs": best_epoch(history),
                     "validation_rmse": errors["rmse"], "validation_mae": errors["mae"],
                     "seconds": model.fit_seconds})
        models[(embedding_dim, l2)] = model
    return pd.DataFrame(rows), models


# --- Charts ------------------------------------------------------------------------

def history_table(histories: dict[str, keras.callbacks.History]) -> pd.DataFrame:
    """Long table of training curves: ``model``, ``epoch``, ``metric``, ``part``, ``value``.

    ``part`` is 'train' or 'validation'; ``metric`` is 'rmse', 'mae' or 'loss'.
    """
    rows = []
    for label, history in histories.items():
        for key, values in history.history.items():
            part, metric = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            rows += [{"model": label, "epoch": epoch, "metric": metric, "part": part,
                      "value": float(value)} for epoch, value in enumerate(values, start=1)]
    return pd.DataFrame(rows, columns=["model", "epoch", "metric", "part", "value"])


def training_curves_chart(histories: dict[str, keras.callbacks.History],
                          metric: str = "rmse") -> alt.Chart:
    """Training and validation curves of one metric per epoch, for one or several models.

    Colour: the model; dash: training or validation. Click a legend entry to
    highlight a model; hover for values; zoom and pan with the mouse.
    """
    data = history_table(histories)
    data = data[data["metric"] == metric]
    pick = alt.selection_point(fields=["model"], bind="legend", name=f"pick_model_{metric}")
    return (alt.Chart(data).mark_line(point=True)
            .encode(x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
                    y=alt.Y("value:Q", title=metric.upper(), scale=alt.Scale(zero=False)),
                    color=alt.Color("model:N"), strokeDash=alt.StrokeDash("part:N", title="part"),
                    opacity=alt.when(pick).then(alt.value(1.0)).otherwise(alt.value(0.15)),
                    tooltip=["model:N", "part:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")])
            .add_params(pick).properties(width=480, height=260)
            .interactive(name=f"zoom_{metric}"))  # own names: two such charts side by side stay apart


def predicted_vs_true_chart(predictions, ratings, title: str = "Predicted against true ratings") -> alt.Chart:
    """Box plots of the predicted ratings for each true rating, with the ideal line's points.

    A perfect model would put every box on its own true rating (the red
    dots); regression to the mean shows as boxes flatter than the dots.
    """
    data = pd.DataFrame({"true": np.asarray(ratings, dtype=np.float64),
                         "predicted": np.round(np.asarray(predictions, dtype=np.float64), 3)})
    boxes = (alt.Chart(data, title=title).mark_boxplot(extent="min-max", size=40)
             .encode(x=alt.X("true:O", title="true rating"),
                     y=alt.Y("predicted:Q", title="predicted rating", scale=alt.Scale(domain=[0.5, 5.5]))))
    ideal = (alt.Chart(pd.DataFrame({"true": [1.0, 2.0, 3.0, 4.0, 5.0]}))
             .mark_point(color="firebrick", size=80, filled=True)
             .encode(x="true:O", y="true:Q", tooltip=[alt.Tooltip("true:Q", title="ideal")]))
    counts = data.groupby("true").agg(count=("predicted", "size"),
                                      mean_prediction=("predicted", "mean")).reset_index()
    means = (alt.Chart(counts).mark_tick(color="black", thickness=2, size=40)
             .encode(x="true:O", y="mean_prediction:Q",
                     tooltip=["true:O", "count:Q", alt.Tooltip("mean_prediction:Q", format=".3f")]))
    return (boxes + ideal + means).properties(width=360, height=300)


# --- The movie embeddings ------------------------------------------------------------

def pca_movie_embeddings(movie_embeddings: np.ndarray, movies: pd.DataFrame,
                         ratings: pd.DataFrame | None = None, *, num_movies: int | None = 500,
                         seed: int = 0) -> pd.DataFrame:
    """Project movie embeddings on their first two principal components (scikit-learn PCA).

    Fitted on the ``num_movies`` most rated movies (rarely rated movies keep
    embeddings near their random start). The table has the columns of
    :func:`recsys_course.embeddings.tsne_movie_embeddings`, so
    :func:`recsys_course.embeddings.tsne_chart` draws it; ``attrs`` holds the
    ``explained_variance_ratio`` of the two components.
    """
    from sklearn.decomposition import PCA

    from .embeddings import _genre_key, rating_counts

    matrix = np.asarray(movie_embeddings, dtype=np.float64)
    table = movies[["movie_id", "title"]].copy()
    table["genre"] = movies["genre"].to_numpy() if "genre" in movies else "Other"
    table["all_genres"] = movies["all_genres"].to_numpy() if "all_genres" in movies else table["genre"]
    table["genre_key"] = _genre_key(movies)
    table["rating_count"] = rating_counts(movies, ratings).to_numpy() if ratings is not None else 0
    if ratings is not None and num_movies is not None and num_movies < len(table):
        table = table.sort_values(["rating_count", "movie_id"], ascending=[False, True],
                                  kind="stable").head(num_movies)
    pca = PCA(n_components=2, random_state=seed)
    points = pca.fit_transform(matrix[table["movie_id"].to_numpy()])
    table["x"], table["y"] = points[:, 0], points[:, 1]
    table = table.reset_index(drop=True)
    table.attrs["explained_variance_ratio"] = [float(v) for v in pca.explained_variance_ratio_]
    return table


def movie_bias_table(model: keras.Model, movies: pd.DataFrame, train: pd.DataFrame,
                     min_ratings: int = 20) -> pd.DataFrame:
    """Each movie's learned bias beside its number and mean of training ratings.

    Sorted by bias, largest first; only movies with at least ``min_ratings``
    training ratings (the bias of a rarely rated movie says little).
    """
    tables = keras_mf_tables(model)
    stats = train.groupby("movie_id")["rating"].agg(rating_count="size", rating_mean="mean")
    table = movies[["movie_id", "title"]].set_index("movie_id").join(stats, how="inner")
    table["bias"] = tables[MOVIE_BIAS][table.index.to_numpy()]
    table["embedding_norm"] = np.linalg.norm(tables[MOVIE_EMBEDDING][table.index.to_numpy()], axis=1)
    table = table[table["rating_count"] >= min_ratings]
    return table.sort_values("bias", ascending=False, kind="stable")


def build_keras_mf_with_biases(num_users: int, num_movies: int, embedding_dim: int = 32,
                               l2: float = KERAS_MF_DEFAULTS["l2"], global_mean: float = 0.0,
                               init_stddev: float = KERAS_MF_DEFAULTS["init_stddev"],
                               seed: int | None = 0) -> keras.Model:
    """:func:`build_keras_mf` with biases and its global bias set to ``global_mean``."""
    model = build_keras_mf(num_users, num_movies, embedding_dim, True, l2,
                           init_stddev=init_stddev, seed=seed)
    set_global_bias(model, global_mean)
    return model


def selection_optimism(predictions: dict, ratings, num_splits: int = 200, seed: int = 0) -> dict[str, float]:
    """How optimistic the error of a setting chosen on the same ratings it is scored on is.

    Splits the ratings ``num_splits`` times into two random halves A and B;
    each time picks the model with the lowest RMSE on A, and records that
    RMSE on A (what someone who chose on the test ratings would report) and
    on B (an honest estimate for the same choice).

    Args:
        predictions: label -> the model's predictions of ``ratings``.
        ratings: the true ratings (a sequence of numbers).

    Returns:
        ``{'reported': mean RMSE on A, 'honest': mean RMSE on B, 'gap': their
        difference, 'changed_choice': fraction of splits whose choice differs
        from the choice on all the ratings}``.
    """
    truth = np.asarray(ratings, dtype=np.float64)
    squared = np.stack([(np.asarray(p, dtype=np.float64) - truth) ** 2 for p in predictions.values()])
    overall_choice = int(np.argmin(squared.mean(axis=1)))
    rng = np.random.default_rng(seed)
    reported, honest, changed = [], [], 0
    for _ in range(num_splits):
        in_a = rng.random(len(truth)) < 0.5
        rmse_a = np.sqrt(squared[:, in_a].mean(axis=1))
        choice = int(np.argmin(rmse_a))
        reported.append(rmse_a[choice])
        honest.append(np.sqrt(squared[choice, ~in_a].mean()))
        changed += choice != overall_choice
    return {"reported": float(np.mean(reported)), "honest": float(np.mean(honest)),
            "gap": float(np.mean(honest) - np.mean(reported)), "changed_choice": changed / num_splits}
