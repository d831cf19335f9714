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
