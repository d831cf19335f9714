"""Notebook 11 (neighbourhoods and Spark): other correct routes, wrong answers, delegations."""
from __future__ import annotations
from .cases import Case
from .delegation import Exercise, constant, delegation_cases

SIMILARITY_SKLEARN = '''
from sklearn.metrics.pairwise import cosine_similarity
import scipy.sparse as sp

def item_similarity(ratings, num_movies):
    centred = ratings["rating"] - ratings.groupby("user_id")["rating"].transform("mean")
    matrix = sp.csr_matrix((centred.to_numpy(), (ratings["user_id"], ratings["movie_id"])),
                           shape=(ratings["user_id"].max() + 1, num_movies))
    matrix.eliminate_zeros()
    return cosine_similarity(matrix.T.tocsr(), dense_output=True)
'''
_SIM = '''
def item_similarity(ratings, num_movies):
    R = np.zeros((ratings.user_id.max() + 1, num_movies))
    R[ratings.user_id, ratings.movie_id] = VALUES
    n = np.linalg.norm(R, axis=0); s = np.where(n > 1e-9, n, 1)
    out = (R.T @ R) / np.outer(s, s)
    ZEROS
    return out
'''
def sim(values='ratings.rating - ratings.groupby("user_id")["rating"].transform("mean")',
        zeros="out[n <= 1e-9] = 0; out[:, n <= 1e-9] = 0"):
    return _SIM.replace("VALUES", values).replace("ZEROS", zeros)

SIMILARITY_NAN = '''
def item_similarity(ratings, num_movies):
    R = np.zeros((ratings.user_id.max() + 1, num_movies))
    R[ratings.user_id, ratings.movie_id] = ratings.rating - ratings.groupby("user_id")["rating"].transform("mean")
    n = np.linalg.norm(R, axis=0)
    with np.errstate(all="ignore"):
        return (R.T @ R) / np.outer(n, n)
'''
SIMILARITY_POSITIONAL_MEANS = '''
def item_similarity(ratings, num_movies):
    users = ratings.user_id.to_numpy(); means = ratings.groupby("user_id")["rating"].mean().to_numpy()
    R = np.zeros((users.max() + 1, num_movies))
    R[users, ratings.movie_id] = ratings.rating.to_numpy() - means[np.minimum(users, len(means) - 1)]
    n = np.linalg.norm(R, axis=0); s = np.where(n > 1e-9, n, 1)
    out = (R.T @ R) / np.outer(s, s); out[n <= 1e-9] = 0; out[:, n <= 1e-9] = 0
    return out
'''
KNN_PANDAS = '''
def knn_predict(similarity, train_ratings, user_id, movie_id, k=20):
    similarity = np.asarray(similarity)
    mine = train_ratings[train_ratings.user_id == user_id]
    if mine.empty:
        return float(train_ratings.rating.mean())
    cand = mine[mine.movie_id != movie_id].assign(sim=lambda d: similarity[movie_id, d.movie_id.to_numpy()])
    cand = cand[cand.sim > 0].sort_values(["sim", "movie_id"], ascending=[False, True]).head(k)
    if cand.empty:
        return float(mine.rating.mean())
    return float((cand.sim * cand.rating).sum() / cand.sim.sum())
'''
_KNN = '''
def knn_predict(similarity, train_ratings, user_id, movie_id, k=20):
    similarity = np.asarray(similarity, dtype=np.float64)
    mine = train_ratings[train_ratings["user_id"] == user_id]
    if len(mine) == 0:
        return NO_USER
    others = OTHERS
    ids = others["movie_id"].to_numpy(); ratings = others["rating"].to_numpy(dtype=np.float64)
    weights = similarity[movie_id, ids]
    keep = KEEP
    if not keep.any():
        return FALLBACK
    ids, ratings, weights = ids[keep], ratings[keep], weights[keep]
    nearest = ORDER[:k]
    return float(PREDICTION)
'''
_RIGHT = {"NO_USER": 'float(train_ratings["rating"].mean())', "OTHERS": 'mine[mine["movie_id"] != movie_id]',
          "KEEP": "weights > 0", "FALLBACK": 'float(mine["rating"].mean())', "ORDER": "np.lexsort((ids, -weights))",
          "PREDICTION": "np.sum(weights[nearest] * ratings[nearest]) / np.sum(weights[nearest])"}
def knn(**wrong):
    code = _KNN
    for key, value in {**_RIGHT, **wrong}.items():
        code = code.replace(key, value)
    return code

SIMILARITY = Exercise("item_similarity", "ratings, num_movies", "ratings, num_movies",
                      library=("recsys_course.neighbours.item_similarity",))
KNN = Exercise("knn_predict", "similarity, train_ratings, user_id, movie_id, k=20",
               "similarity, train_ratings, user_id, movie_id, k=k",
               library=("recsys_course.neighbours.knn_predict",))
ALL_SIM = ("item_similarity_visible_format item_similarity_hidden_values "
           "item_similarity_hidden_zero_vectors item_similarity_hidden_column_types")
ALL_KNN = ("knn_predict_visible_format knn_predict_hidden_values knn_predict_hidden_neighbour_choice "
           "knn_predict_hidden_fallbacks")
KNN3 = "knn_predict_hidden_values knn_predict_hidden_neighbour_choice knn_predict_hidden_fallbacks"
OTHER_ROUTE = {"item_similarity_solution": SIMILARITY_SKLEARN, "knn_predict_solution": KNN_PANDAS}


# Graded by the real test: a wrong similarity and a wrong prediction share a notebook (the hidden
# tests of knn_predict take a similarity of their own).
CASES = [
    Case(OTHER_ROUTE, "sklearn cosine on a sparse centred matrix; pandas sort"),
    Case({"item_similarity_solution": sim(values="ratings.rating", zeros="out[n == 0] = 0; out[:, n == 0] = 0"),
          "knn_predict_solution": knn(OTHERS="mine")},
         "no centring (plain cosine); the movie is its own neighbour", lost=ALL_SIM + " " + KNN3),
    Case({"item_similarity_solution": SIMILARITY_NAN, "knn_predict_solution": knn(ORDER="np.argsort(-weights, kind='stable')")},
         "NaN for all-zero vectors; ties in row order", lost=ALL_SIM + " knn_predict_hidden_neighbour_choice"),
    Case({"item_similarity_solution": SIMILARITY_POSITIONAL_MEANS,
          "knn_predict_solution": knn(PREDICTION="np.mean(ratings[nearest])")},
         "user means by position; unweighted mean", lost="item_similarity_hidden_values " + ALL_KNN),
    Case({"item_similarity_solution": sim(zeros="np.fill_diagonal(out, 1.0)"),
          "knn_predict_solution": knn(FALLBACK='float(train_ratings["rating"].mean())')},
         "diagonal 1 everywhere; global mean where the user's mean is asked",
         lost=ALL_SIM + " knn_predict_hidden_fallbacks"),
    Case({"knn_predict_solution": knn(ORDER="np.arange(len(weights))")}, "the first k rows, not the k most similar",
         lost="knn_predict_hidden_values knn_predict_hidden_neighbour_choice"),
    Case({"knn_predict_solution": "from recsys_course.neighbours import KnnPredictor\n\n"
          "def knn_predict(similarity, train_ratings, user_id, movie_id, k=20):\n"
          "    return KnnPredictor(similarity, train_ratings, k).predict_one(user_id, movie_id)\n"},
         "knn_predict through the library's KnnPredictor", lost="knn_predict"),
]

# Every cell of both exercises fails under the guard (the visible checks end with a hidden guard block).
DELEGATED, MORE_DELEGATED = delegation_cases(11, SIMILARITY, KNN, what="both handed to the library")

PENDING_CASES = [
    *DELEGATED,
    Case(constant(SIMILARITY, KNN, value="0"), "both return 0", lost="*", pending="values_before_structure"),
    Case(constant(SIMILARITY, KNN, value="None"), "both return None", lost="*", pending="values_before_structure"),
]

# Checked by the dry run only.
DRY_RUN_CASES = [
    Case({"item_similarity_solution": sim(values="ratings.rating", zeros="out[n == 0] = 0; out[:, n == 0] = 0")},
         "no centring (plain cosine)", lost=ALL_SIM),
    Case({"item_similarity_solution": sim(values='ratings.rating - ratings.groupby("movie_id")["rating"].transform("mean")')},
         "centred by the movie's mean", lost=ALL_SIM),
    Case({"item_similarity_solution": SIMILARITY_NAN}, "NaN for all-zero vectors", lost=ALL_SIM),
    Case({"item_similarity_solution": sim(zeros="np.fill_diagonal(out, 1.0)")}, "diagonal 1 everywhere", lost=ALL_SIM),
    Case({"item_similarity_solution": SIMILARITY_POSITIONAL_MEANS}, "user means by position",
         lost="item_similarity_hidden_values"),
    Case({"knn_predict_solution": knn(OTHERS="mine")}, "the movie is its own neighbour", lost=KNN3),
    Case({"knn_predict_solution": knn(KEEP="weights != 0")}, "negative similarities kept", lost=KNN3),
    Case({"knn_predict_solution": knn(ORDER="np.argsort(-weights, kind='stable')")}, "ties in row order",
         lost="knn_predict_hidden_neighbour_choice"),
    Case({"knn_predict_solution": knn(ORDER="np.lexsort((-ids, -weights))")}, "ties by the larger id",
         lost="knn_predict_hidden_neighbour_choice"),
    Case({"knn_predict_solution": knn(PREDICTION="np.mean(ratings[nearest])")}, "unweighted mean", lost=ALL_KNN),
    Case({"knn_predict_solution": knn(PREDICTION="np.sum(weights[nearest] * ratings[nearest]) / k")}, "divided by k",
         lost=ALL_KNN),
    Case({"knn_predict_solution": knn(FALLBACK='float(train_ratings["rating"].mean())')},
         "global mean where the user's mean is asked", lost="knn_predict_hidden_fallbacks"),
    Case({"knn_predict_solution": knn(NO_USER="0.0")}, "0 for a user without ratings",
         lost="knn_predict_hidden_fallbacks"),
    *MORE_DELEGATED,
]
