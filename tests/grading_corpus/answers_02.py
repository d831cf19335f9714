"""Notebook 2 (the rating matrix as a sparse tensor): other correct routes, wrong answers, pending cases."""

from __future__ import annotations

from .cases import Case
from .delegation import Exercise, constant, delegation_cases

SPARSE_STACK = '''
def build_rating_sparse_tensor(ratings_df, num_users, num_movies):
    indices = np.stack([ratings_df["user_id"].to_numpy(), ratings_df["movie_id"].to_numpy()], axis=1)
    matrix = tf.SparseTensor(indices=tf.constant(indices, tf.int64),
                             values=tf.constant(ratings_df["rating"].to_numpy(), tf.float32),
                             dense_shape=[num_users, num_movies])
    return tf.sparse.reorder(matrix)
'''
SPARSE_SWAPPED = '''
def build_rating_sparse_tensor(ratings_df, num_users, num_movies):
    indices = ratings_df[["movie_id", "user_id"]].to_numpy(dtype=np.int64)
    values = ratings_df["rating"].to_numpy(dtype=np.float32)
    return tf.SparseTensor(indices=indices, values=values, dense_shape=[num_movies, num_users])
'''
SPARSE_FLOAT64 = '''
def build_rating_sparse_tensor(ratings_df, num_users, num_movies):
    indices = ratings_df[["user_id", "movie_id"]].to_numpy(dtype=np.int64)
    values = ratings_df["rating"].to_numpy(dtype=np.float64)
    return tf.SparseTensor(indices=indices, values=values, dense_shape=[num_users, num_movies])
'''

SPARSE = Exercise("build_rating_sparse_tensor", "ratings_df, num_users, num_movies", "ratings_df, num_users, num_movies",
                  library=("recsys_course.sparse_ratings.build_rating_sparse_tensor",))
SOLUTION = SPARSE.solution_id

OTHER_ROUTE = {SOLUTION: SPARSE_STACK}

CASES = [
    Case({SOLUTION: SPARSE_STACK}, "stack + reorder", student="s03"),
    Case({SOLUTION: SPARSE_SWAPPED}, "users and movies swapped", student="s05",
         lost="build_rating_sparse_tensor"),
    Case({SOLUTION: SPARSE_FLOAT64}, "float64 values", student="s06",
         lost="build_rating_sparse_tensor_visible_format build_rating_sparse_tensor_hidden_types"),
]

# Real grading takes two forms of delegation here (delegation.graded_forms); the dry run all of them.
DELEGATED, MORE_DELEGATED = delegation_cases(2, SPARSE, what="handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(SPARSE, value="0"), "returns 0", lost="*", pending="values_before_structure"),
    Case(constant(SPARSE, value="None"), "returns None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    *MORE_DELEGATED,
]
