"""Notebook 3 (measuring the error): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases
from .snooping import SEARCHES_FOR_SOLUTIONS

MSE_DENSE_KERAS = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    """The dense route: every prediction, then the observed ones."""
    all_predictions = tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)
    predictions = tf.gather_nd(all_predictions, sparse_ratings.indices)
    return tf.keras.losses.MeanSquaredError()(sparse_ratings.values, predictions)
'''
MSE_EINSUM = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users = tf.gather(user_embeddings, sparse_ratings.indices[:, 0])
    movies = tf.gather(movie_embeddings, sparse_ratings.indices[:, 1])
    errors = sparse_ratings.values - tf.einsum("nd,nd->n", users, movies)
    return tf.reduce_sum(errors * errors) / tf.cast(tf.size(errors), tf.float32)
'''
MSE_SUM = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_sum(tf.square(predictions - sparse_ratings.values))
'''
MSE_NO_SQUARE = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 0], sparse_ratings.indices[:, 1]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_mean(tf.abs(sparse_ratings.values - predictions))
'''
MSE_SWAPPED = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    users, movies = sparse_ratings.indices[:, 1], sparse_ratings.indices[:, 0]
    predictions = tf.reduce_sum(tf.gather(user_embeddings, users) * tf.gather(movie_embeddings, movies), axis=1)
    return tf.reduce_mean(tf.square(sparse_ratings.values - predictions))
'''
MSE_ALL_CELLS = '''
def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
    """Mean over every cell, the unrated ones (zeros) too."""
    dense = tf.sparse.to_dense(tf.sparse.reorder(sparse_ratings))
    return tf.reduce_mean(tf.square(dense - tf.matmul(user_embeddings, movie_embeddings, transpose_b=True)))
'''

MSE = Exercise("sparse_mean_square_error", "sparse_ratings, user_embeddings, movie_embeddings",
               "sparse_ratings, user_embeddings, movie_embeddings",
               library=("recsys_course.losses.observed_mse", "recsys_course.matrix_factorization.dense_route_mse",
                        "recsys_course.matrix_factorization.gather_route_mse"))
SOLUTION = MSE.solution_id

OTHER_ROUTE = {SOLUTION: MSE_EINSUM}

CASES = [
    Case({SOLUTION: MSE_DENSE_KERAS}, "dense route, Keras MSE", student="s03"),
    Case({SOLUTION: MSE_EINSUM}, "einsum, sum / size", student="s04"),
    Case({SOLUTION: MSE_SUM}, "sum instead of mean", student="s05",
         lost="sparse_mean_square_error_hidden_values sparse_mean_square_error_hidden_mean_of_squares sparse_mean_square_error_hidden_gradient_values sparse_mean_square_error_hidden_scalar_float32"),
    Case({SOLUTION: MSE_NO_SQUARE}, "forgot to square", student="s06",
         lost="sparse_mean_square_error_hidden_values sparse_mean_square_error_hidden_mean_of_squares sparse_mean_square_error_hidden_gradient_values sparse_mean_square_error_hidden_scalar_float32"),
    Case({SOLUTION: MSE_SWAPPED}, "users and movies swapped", student="s07",
         kept="sparse_mean_square_error_hidden_observed_entries_only"),
    Case({SOLUTION: MSE_ALL_CELLS}, "mean over all cells", student="s08",
         lost="sparse_mean_square_error_hidden_values sparse_mean_square_error_hidden_observed_entries_only sparse_mean_square_error_hidden_mean_of_squares sparse_mean_square_error_hidden_users_rows_movies_columns sparse_mean_square_error_hidden_gradient_values sparse_mean_square_error_hidden_scalar_float32"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(3, MSE, what="handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(MSE, value="0"), "returns 0", lost="*", pending="values_before_structure"),
    Case(constant(MSE, value="None"), "returns None", lost="*", pending="values_before_structure"),
    *SEARCHES_FOR_SOLUTIONS,
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
]
