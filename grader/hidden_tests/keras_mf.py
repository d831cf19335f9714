"""Hidden-test helpers of notebook 9 (matrix factorization in Keras, a split by time).

References written plainly (loops over users, float64), independent of
``recsys_course.splits`` and ``recsys_course.keras_mf``; random cases; the
weights of a student's model found by their shapes. Inlined into the hidden
cells at release (see ``grader/inline_hidden_helpers.py``): top-level
definitions only; Keras is imported inside functions. The guard against the library's versions
of the exercises is ``common.forbid_library`` (table ``common.LIBRARY_VERSIONS``).
"""

import os
import tempfile

import numpy as np
import pandas as pd
import tensorflow as tf

# --- split_by_time -------------------------------------------------------------------


def time_split_case(seed, num_users, ratings_per_user, num_timestamps):
    """A ratings frame in random row order with a shuffled, non-range index.

    User u has ``ratings_per_user[u]`` ratings (an int: the same for all);
    each row has its own ``movie_id``, so (user_id, movie_id) names a row.
    Few distinct timestamps (``num_timestamps``) make ties; None: no ties.
    """
    rng = np.random.default_rng(seed)
    counts = np.broadcast_to(np.asarray(ratings_per_user), (num_users,))
    users = np.repeat(np.arange(num_users), counts)
    rng.shuffle(users)
    size = len(users)
    if num_timestamps is None:  # every timestamp distinct
        timestamps = 10**8 + 37 * rng.permutation(size)
    else:
        timestamps = rng.integers(10**8, 10**8 + num_timestamps, size)
    frame = pd.DataFrame({
        "user_id": users.astype(np.int64),
        "movie_id": rng.permutation(size).astype(np.int64),
        "rating": rng.integers(1, 6, size).astype(np.float64),
        "timestamp": timestamps.astype(np.int64),
    })
    frame.index = rng.permutation(10 * size + 10)[:size] + 5
    return frame


def reference_time_test_keys(ratings, holdout_per_user):
    """(user_id, movie_id) of the rows the split holds out, by a plain loop over users."""
    keys = set()
    positions_by_user = {}
    for position, user in enumerate(ratings["user_id"].to_numpy()):
        positions_by_user.setdefault(int(user), []).append(position)
    timestamps = ratings["timestamp"].to_numpy()
    movies = ratings["movie_id"].to_numpy()
    for user, positions in positions_by_user.items():
        if len(positions) <= holdout_per_user:
            continue
        newest_first = sorted(positions, key=lambda p: (timestamps[p], p), reverse=True)
        keys |= {(user, int(movies[p])) for p in newest_first[:holdout_per_user]}
    return keys


def time_split_parts(result, ratings, what):
    """Check the answer returned two DataFrames; return them with their row keys (sets)."""
    assert isinstance(result, tuple) and len(result) == 2, (
        f"{what}: expected a tuple (train, test), got {type(result).__name__}")
    parts = []
    for name, part in zip(("train", "test"), result):
        assert isinstance(part, pd.DataFrame), f"{what}: {name} is a {type(part).__name__}, not a DataFrame"
        missing = {"user_id", "movie_id"} - set(part.columns)
        assert not missing, f"{what}: {name} has no columns {sorted(missing)}"
        keys = list(zip(part["user_id"].astype(np.int64), part["movie_id"].astype(np.int64)))
        assert len(set(keys)) == len(keys), f"{what}: {name} holds a rating twice"
        parts.append((part, {(int(u), int(m)) for u, m in keys}))
    return parts


def check_time_split(answer, ratings, holdout_per_user, what, pass_holdout=True):
    """Run the answer on ``ratings`` and compare its test and train rows with the reference.

    ``pass_holdout=False`` calls ``answer(ratings)``: the default must be 1.
    """
    result = answer(ratings, holdout_per_user) if pass_holdout else answer(ratings)
    (train, train_keys), (test, test_keys) = time_split_parts(result, ratings, what)
    expected_test = reference_time_test_keys(ratings, holdout_per_user)
    all_keys = {(int(u), int(m)) for u, m in zip(ratings["user_id"], ratings["movie_id"])}
    wrong_test = sorted(test_keys ^ expected_test)
    if wrong_test:
        user = wrong_test[0][0]
        rows = ratings[ratings["user_id"] == user]
        assert False, (
            f"{what}: user {user} (ratings at timestamps {rows['timestamp'].tolist()}, movies "
            f"{rows['movie_id'].tolist()} in row order) has test movies "
            f"{sorted(m for u, m in test_keys if u == user)}, expected "
            f"{sorted(m for u, m in expected_test if u == user)}")
    assert train_keys == all_keys - expected_test, (
        f"{what}: the training part should hold every other rating "
        f"({len(all_keys - expected_test)} rows), it holds {len(train_keys)}")
    return train, test


# --- build_keras_mf --------------------------------------------------------------------


def mf_case_ids(seed, num_users, num_movies, batch):
    """Random (user_ids, movie_ids) int32 arrays of length ``batch``, every id reachable."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, num_users, batch).astype(np.int32)
    movies = rng.integers(0, num_movies, batch).astype(np.int32)
    if batch >= 2:
        users[:2], movies[:2] = [0, num_users - 1], [num_movies - 1, 0]
    return users, movies


def mf_predictions(model, users, movies):
    """The model's output for the pairs, as a float64 numpy array (its shape kept)."""
    import keras

    assert isinstance(model, keras.Model), f"expected a keras.Model, got {type(model).__name__}"
    output = model({"user_id": tf.constant(users, tf.int32), "movie_id": tf.constant(movies, tf.int32)})
    assert isinstance(output, (tf.Tensor, np.ndarray)), (
        f"the model should output one tensor of predicted ratings, got {type(output).__name__}")
    return np.asarray(output, dtype=np.float64)


def mf_weight_roles(model, num_users, num_movies, embedding_dim, use_biases=True, require_global=True):
    """The model's weights by role, told apart by their shapes (sizes chosen so none collide).

    Roles: user_embedding [N, d], movie_embedding [M, d], and with biases user_bias (N values),
    movie_bias (M values), global_bias (1 value; may be missing unless ``require_global``, so
    that a forgotten global bias costs the points of the cells about it only).
    """
    shapes = {"user_embedding": (num_users, embedding_dim), "movie_embedding": (num_movies, embedding_dim)}
    sizes = {"user_bias": num_users, "movie_bias": num_movies, "global_bias": 1} if use_biases else {}
    roles = {}
    for weight in model.weights:
        shape = tuple(int(n) for n in weight.shape)
        squeezed = tuple(n for n in shape if n != 1)
        role = next((name for name, wanted in shapes.items() if squeezed == wanted or shape == wanted), None)
        if role is None:
            role = next((name for name, size in sizes.items() if int(np.prod(shape)) == size
                         and len(squeezed) <= 1), None)
        assert role is not None, (
            f"the model has a weight {weight.path} of shape {shape} that is none of the "
            f"{'five' if use_biases else 'two'} tables of the exercise (N={num_users}, M={num_movies}, "
            f"d={embedding_dim})")
        assert role not in roles, f"the model has two weights that look like its {role} ({shape})"
        roles[role] = weight
    missing = sorted((set(shapes) | set(sizes)) - set(roles) - (set() if require_global else {"global_bias"}))
    assert not missing, f"the model has no weights for {', '.join(missing)}"
    return roles


def set_mf_weights(roles, seed, scale=0.7):
    """Assign random values to every role; return them as float64 arrays (biases flattened)."""
    rng = np.random.default_rng(seed)
    values = {}
    for role, weight in roles.items():
        shape = tuple(int(n) for n in weight.shape)
        value = (scale * rng.normal(size=shape)).astype(np.float32)
        weight.assign(value)
        values[role] = value.astype(np.float64) if "embedding" in role else value.astype(np.float64).reshape(-1)
    return values


def reference_mf_predictions(values, users, movies):
    """<p_u, q_i> (+ b_u + b_i + b when the values have biases), in float64 with a loop."""
    expected = np.zeros(len(users))
    for row, (user, movie) in enumerate(zip(users, movies)):
        expected[row] = float(np.dot(values["user_embedding"][user], values["movie_embedding"][movie]))
        if "user_bias" in values:
            expected[row] += values["user_bias"][user] + values["movie_bias"][movie]
        if "global_bias" in values:
            expected[row] += values["global_bias"][0]
    return expected


def check_mf_values(model, num_users, num_movies, embedding_dim, seed, use_biases=True, batch=12,
                    require_global=True):
    """Set random weights, compare the predictions (flattened) with the reference.

    Returns the output (its shape as the model gave it) and the weights' values.
    """
    roles = mf_weight_roles(model, num_users, num_movies, embedding_dim, use_biases, require_global)
    values = set_mf_weights(roles, seed)
    users, movies = mf_case_ids(seed + 1, num_users, num_movies, batch)
    output = mf_predictions(model, users, movies)
    expected = reference_mf_predictions(values, users, movies)
    assert output.size == batch, f"{batch} pairs in, {output.size} predictions out (shape {output.shape})"
    error = np.abs(output.reshape(-1) - expected)
    worst = int(np.argmax(error))
    assert error[worst] <= 1e-4 * max(1.0, abs(expected[worst])), (
        f"N={num_users}, M={num_movies}, d={embedding_dim}, use_biases={use_biases}: for user "
        f"{users[worst]} and movie {movies[worst]} the model predicts {output.reshape(-1)[worst]:.5f}, "
        f"expected {expected[worst]:.5f}"
        + (" (<p_u, q_i> + b_u + b_i + b)" if use_biases else " (<p_u, q_i>)"))
    return output, values


def mf_penalty(model):
    """The sum of the model's losses (its regularization penalties) as a float; 0 when none."""
    return float(sum(float(np.asarray(loss, dtype=np.float64)) for loss in model.losses))


def saved_and_loaded(model):
    """The model saved to a .keras file and loaded back with keras.models.load_model alone."""
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        return keras.models.load_model(path)
