"""Hidden-test helpers of notebook 7 (a softmax model): softmax_loss and build_softmax_model.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import numpy as np
import pandas as pd
import tensorflow as tf


def _case(seed, batch_size, num_movies, dim, scale=1.0):
    """Random embeddings N(0, scale^2) and labels, fixed by the seed."""
    rng = np.random.default_rng(seed)
    case_users = (scale * rng.normal(size=(batch_size, dim))).astype(np.float32)
    case_movies = (scale * rng.normal(size=(num_movies, dim))).astype(np.float32)
    case_labels = rng.integers(0, num_movies, size=batch_size)
    return case_users, case_movies, case_labels


def _reference_loss(users, movies, labels):
    """Mean softmax cross entropy in float64, with a stable log-sum-exp."""
    logits = users.astype(np.float64) @ movies.astype(np.float64).T
    top = logits.max(axis=1, keepdims=True)
    log_sum_exp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return float(np.mean(log_sum_exp - logits[np.arange(len(labels)), labels]))


def _rated_movies(num_users, num_movies, seed, min_length=3, max_length=8):
    """A random rated_movies table; movie num_movies - 1 is rated, so the catalogue has num_movies."""
    rng = np.random.default_rng(seed)
    genre_names = ["Action", "Comedy", "Drama", "Sci-Fi"]
    years = rng.choice([1950, 1975, 1990, 1995, 1998], size=num_movies)
    genres = [sorted(rng.choice(genre_names, size=int(rng.integers(1, 3)), replace=False).tolist())
              for _ in range(num_movies)]
    rows = []
    for user in range(num_users):
        ids = rng.choice(num_movies - 1, size=int(rng.integers(min_length, max_length + 1)), replace=False)
        ids = [int(m) for m in ids] + ([num_movies - 1] if user == 0 else [])
        rows.append({"user_id": user, "movie_id": ids, "year": [int(years[m]) for m in ids],
                     "genres": [list(genres[m]) for m in ids]})
    return pd.DataFrame(rows)


def _variable(value):
    """The tf.Variable behind an embedding (a tf.Variable, or a Keras variable holding one)."""
    if isinstance(value, tf.Variable):
        return value
    inner = getattr(value, "value", None)
    assert isinstance(inner, tf.Variable), f"expected a tf.Variable, got {type(value).__name__}"
    return inner


def _movie_variable(model):
    variables = getattr(model, "embedding_vars", None)
    assert isinstance(variables, dict), "the model has no embedding_vars dict"
    assert "movie_id" in variables, f"no embedding called 'movie_id' (got {sorted(variables)})"
    return _variable(variables["movie_id"])


def _watched(model):
    """The trainable variables the loss reads, and the loss."""
    with tf.GradientTape() as tape:
        loss = model.loss()
    return list(tape.watched_variables()), loss


# --- input_bags ----------------------------------------------------------------------------


def _reference_input_bags(multi_hot, rows, labels):
    """Each example's user's row of multi_hot with its own label set to 0 (TensorFlow, graph-friendly)."""
    bags = tf.gather(tf.convert_to_tensor(multi_hot, tf.float32), rows)
    return bags * (1.0 - tf.one_hot(labels, tf.shape(bags)[1], dtype=bags.dtype))


def _bags_case(seed, num_users, num_movies, batch_size, repeated=False):
    """A random multi-hot matrix (every user rated 2 or more movies), rows and labels.

    Without ``repeated`` the batch holds distinct users; with it, the same users several
    times, with other labels and once the same label twice.
    """
    rng = np.random.default_rng(seed)
    multi_hot = np.zeros((num_users, num_movies), np.float32)
    for user in range(num_users):
        count = int(rng.integers(2, max(3, num_movies // 2)))
        multi_hot[user, rng.choice(num_movies, size=count, replace=False)] = 1.0
    if repeated:
        users = rng.choice(num_users, size=max(2, batch_size // 3), replace=False)
        rows = np.concatenate([users, users, users[:1]])[:max(batch_size, 2 * len(users) + 1)]
    else:
        rows = rng.choice(num_users, size=min(batch_size, num_users), replace=False)
    labels = np.array([rng.choice(np.flatnonzero(multi_hot[row])) for row in rows])
    if repeated:
        labels[-1] = labels[0]  # the first user's first example, once more
    return multi_hot, rows.astype(np.int64), labels.astype(np.int64)


def _as_bags(result, shape):
    """The answer as a float64 numpy array, after checking it is a float32 tf.Tensor of ``shape``."""
    assert isinstance(result, tf.Tensor), f"expected a tf.Tensor, got {type(result).__name__}"
    assert result.dtype == tf.float32, f"expected float32, got {result.dtype}"
    assert tuple(result.shape) == tuple(shape), f"expected shape {tuple(shape)}, got {tuple(result.shape)}"
    return result.numpy().astype(np.float64)


def _as_array(result):
    """The answer's values as a float64 numpy array (any tensor or array), for value-only checks."""
    if isinstance(result, (tf.Tensor, tf.Variable)):
        result = result.numpy()
    assert isinstance(result, np.ndarray), f"expected a tensor, got {type(result).__name__}"
    return np.asarray(result, dtype=np.float64)
