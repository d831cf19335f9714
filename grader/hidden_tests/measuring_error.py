"""Hidden-test helpers of notebook 3 (measuring the error): sparse_mean_square_error.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import numpy as np


def _random_case(seed, num_users, num_movies, num_ratings, dim):
    """Distinct random (user, movie) cells in random order, ratings 1-5, N(0, 1) embeddings."""
    rng = np.random.default_rng(seed)
    cells = rng.choice(num_users * num_movies, size=num_ratings, replace=False)
    indices = np.stack([cells // num_movies, cells % num_movies], axis=1).astype(np.int64)
    values = rng.integers(1, 6, size=num_ratings).astype(np.float32)
    users = rng.normal(0.0, 1.0, (num_users, dim)).astype(np.float32)
    movies = rng.normal(0.0, 1.0, (num_movies, dim)).astype(np.float32)
    return indices, values, users, movies


def _reference_mse(indices, values, users, movies):
    """The observed-only mean squared error, in float64."""
    predictions = np.einsum("ij,ij->i", users[indices[:, 0]].astype(np.float64),
                            movies[indices[:, 1]].astype(np.float64))
    return float(np.mean((values.astype(np.float64) - predictions) ** 2))
