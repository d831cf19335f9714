"""Hidden-test helpers of notebook 6 (regularization): gravity and build_regularized_model.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import numpy as np
import tensorflow as tf

from grader.hidden_tests.common import as_number


def _naive_gravity(U, V):
    """The definition: the mean over all (user, movie) pairs of the squared dot product."""
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    return float(np.mean((U @ V.T) ** 2))


def _random_embeddings(seed, num_users, num_movies, dim):
    """Float32 embeddings with a shared offset, so that the mean prediction is far from 0."""
    rng = np.random.default_rng(seed)
    U = rng.normal(0.0, 1.0, (num_users, dim)) + rng.normal(0.0, 0.7, dim)
    V = rng.normal(0.0, 0.6, (num_movies, dim)) + rng.normal(0.0, 0.7, dim)
    return U.astype(np.float32), V.astype(np.float32)


def _embedding(model, name, shape):
    """The embedding variable called `name`, else the only one of that shape."""
    variables = getattr(model, "embedding_vars", None)
    assert isinstance(variables, dict), "the model has no embedding_vars dict"
    if name in variables:
        variable = variables[name]
    else:
        matches = [v for v in variables.values() if tuple(v.shape) == tuple(shape)]
        assert len(matches) == 1, f"no embedding called {name!r} (or of shape {shape})"
        variable = matches[0]
    assert isinstance(variable, tf.Variable), f"the {name!r} embedding is not a tf.Variable"
    assert tuple(variable.shape) == tuple(shape), (
        f"the {name!r} embedding has shape {tuple(variable.shape)}, expected {tuple(shape)}")
    return variable


def _terms(U, V):
    """r(U, V) and g(U, V) from their definitions, in float64."""
    U, V = np.asarray(U, dtype=np.float64), np.asarray(V, dtype=np.float64)
    return float(np.sum(U ** 2) / len(U) + np.sum(V ** 2) / len(V)), _naive_gravity(U, V)


class _Exact:
    """Embeddings with d = num_movies that predict every rating of the frame exactly.

    V is a random well-conditioned square matrix and U = R V^-T, so U V^T = R, the rating
    matrix (0 where unrated). `users_for(user, movie)` gives U for R with one rating raised by
    1: an error of exactly 1 on that rating and on no other.
    """

    def __init__(self, frame, num_users, num_movies, seed):
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.normal(size=(num_movies, num_movies)))
        self.V = q * rng.uniform(0.6, 1.4, num_movies)
        self.R = np.zeros((num_users, num_movies))
        self.R[frame["user_id"].to_numpy(), frame["movie_id"].to_numpy()] = frame["rating"].to_numpy()
        self._inverse_t = np.linalg.inv(self.V).T
        self.U = self.R @ self._inverse_t
        self.pairs = list(zip(frame["user_id"].to_numpy(), frame["movie_id"].to_numpy()))

    def users_for(self, user, movie):
        shifted = self.R.copy()
        shifted[user, movie] += 1.0
        return shifted @ self._inverse_t


def _residuals(model, exact, users_var, movies_var, reg_coeff, grav_coeff):
    """For each rating: the loss with an error of 1 on it alone, minus the reference terms.

    First checks that with exact predictions the loss is just the two weighted terms.
    """
    movies_var.assign(exact.V.astype(np.float32))
    users_var.assign(exact.U.astype(np.float32))
    r, g = _terms(users_var.numpy(), movies_var.numpy())
    loss, expected = as_number(model.loss()), reg_coeff * r + grav_coeff * g
    assert abs(loss - expected) <= 1e-4 * max(1.0, expected), (
        f"with embeddings that predict every rating exactly, the loss is {loss:.5f}, expected "
        f"{reg_coeff} * r(U, V) + {grav_coeff} * g(U, V) = {expected:.5f}")
    values = []
    for user, movie in exact.pairs:
        users_var.assign(exact.users_for(user, movie).astype(np.float32))
        r, g = _terms(users_var.numpy(), movies_var.numpy())
        values.append(as_number(model.loss()) - reg_coeff * r - grav_coeff * g)
    return np.array(values)


def _train_set(residuals, num_ratings):
    """Which ratings the observed part of the loss averages over, read from the residuals."""
    in_train = residuals > 0.5 * float(np.max(residuals))
    num_train = int(in_train.sum())
    assert 0.8 * num_ratings <= num_train <= 0.95 * num_ratings, (
        f"the loss sees {num_train} of {num_ratings} ratings: it should see the training ratings "
        "only (about 90%)")
    assert float(np.max(np.abs(residuals[in_train] - 1.0 / num_train))) < 1e-3 / num_train + 1e-4, (
        "an error of 1 on one training rating should raise the observed part of the loss by "
        f"1/{num_train}: the loss is not the observed MSE plus the two weighted terms")
    assert float(np.max(np.abs(residuals[~in_train]))) < 1e-4, (
        "an error on a held-out rating changed the loss")
    return in_train
