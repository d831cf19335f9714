"""Hidden-test helpers of notebook 5 (inspecting the embeddings): compute_scores.

Names start with an underscore: inlined, they live in the student's namespace.
"""

import numpy as np
import tensorflow as tf


def _as_scores(result, num_items):
    """The student's scores as a float64 vector (any container holding num_items numbers)."""
    if isinstance(result, (tf.Tensor, tf.Variable)):
        result = result.numpy()
    assert isinstance(result, (np.ndarray, list, tuple)), (
        f"expected a NumPy array of scores, got {type(result).__name__}")
    array = np.asarray(result, dtype=np.float64)
    assert array.size == num_items, f"expected {num_items} scores, got shape {array.shape}"
    return array.reshape(-1)


def _reference(query, items, measure):
    """Dot products of the query with every row, after normalising both for cosine."""
    query, items = np.asarray(query, dtype=np.float64), np.asarray(items, dtype=np.float64)
    if measure == "cosine":
        query = query / np.linalg.norm(query)
        items = items / np.linalg.norm(items, axis=1, keepdims=True)
    return items @ query


def _case(seed, num_items, dim):
    """A query whose norm is far from 1 and items with very different norms (N != d)."""
    rng = np.random.default_rng(seed)
    query = rng.normal(0.0, 1.0, dim) * rng.uniform(2.0, 4.0)
    items = rng.normal(0.0, 1.0, (num_items, dim)) * rng.uniform(0.2, 3.0, (num_items, 1))
    return query.astype(np.float32), items.astype(np.float32)


def _largest_error(got, expected):
    return float(np.max(np.abs(got - expected))) / max(1.0, float(np.max(np.abs(expected))))
