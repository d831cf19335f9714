"""Which exercises the helper library keeps a version of, and answers copied from it.

Later notebooks need earlier exercises' functions, so ``recsys_course`` keeps
a version of them; an answer that *calls* it earns nothing (the hidden tests
forbid it), and an answer that *copies its source* is flagged for the
instructor to review, not zeroed: the sheet's ``review`` column says
``copied from recsys_course.regularization.gravity``.

Copies are recognised by normalised syntax trees: docstrings, comments,
annotations, layout and the names of parameters and local variables do not
count (``gravity(U, V)`` with ``n = ...`` is the library's ``gravity(user_embeddings,
movie_embeddings)`` with ``num = ...``), the function's own name neither; the
library's source is read from its file, never imported (no TensorFlow start-up).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

from .cell_code import parse_cell

# Exercise (the function a notebook asks for) -> the library's version of it.
# One entry per graded function whose work the library keeps; add new notebooks' here.
LIBRARY_VERSIONS: dict[str, str] = {
    # 01_exploring_movielens (movie_rating_stats has no library version)
    "split_dataframe": "recsys_course.splits.split_dataframe",
    # 02_sparse_rating_matrix
    "build_rating_sparse_tensor": "recsys_course.sparse_ratings.build_rating_sparse_tensor",
    # 03_measuring_error
    "sparse_mean_square_error": "recsys_course.losses.observed_mse",
    # 04_matrix_factorization
    "build_model": "recsys_course.matrix_factorization.build_mf_model",
    # 05_inspecting_embeddings
    "compute_scores": "recsys_course.embeddings.compute_scores",
    # 06_regularization
    "gravity": "recsys_course.regularization.gravity",
    "build_regularized_model": "recsys_course.regularization.build_regularized_model",
    # 07_softmax_model
    "softmax_loss": "recsys_course.softmax.softmax_loss",
    "build_softmax_model": "recsys_course.softmax.build_softmax_model",
    # 08_evaluating_recommenders
    **{name: f"recsys_course.ranking_metrics.{name}" for name in (
        "precision_at_k", "recall_at_k", "ndcg_at_k", "novelty", "intra_list_diversity", "popularity_scores",
        "top_k_unseen")},
    # 09_keras_matrix_factorization
    "split_by_time": "recsys_course.splits.split_by_time",
    "build_keras_mf": "recsys_course.keras_mf.build_keras_mf",
    # 10_two_towers
    "in_batch_softmax_loss": "recsys_course.retrieval.in_batch_softmax_loss",
    "retrieve_top_k": "recsys_course.retrieval.retrieve_top_k",
    # 11_neighbourhoods_and_spark
    "item_similarity": "recsys_course.neighbours.item_similarity",
    "knn_predict": "recsys_course.neighbours.knn_predict",
}


def _module_file(module: str) -> Path | None:
    """The source file of ``recsys_course.<module>``, found without importing the package."""
    package, _, rest = module.partition(".")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder, *rest.split(".")).with_suffix(".py")
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=None)
def library_fingerprint(dotted: str) -> str | None:
    """The normalised tree of the library function ``package.module.function`` (None if not found)."""
    module, _, name = dotted.rpartition(".")
    path = _module_file(module)
    if path is None:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return function_fingerprint(node)
    return None


def function_fingerprint(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A function's syntax tree with what a copy may change taken out (see the module doc)."""
    function = _Normaliser().normalise(function)
    return ast.dump(function, annotate_fields=False, include_attributes=False)


def copied_from(answer_source: str, exercise: str) -> str | None:
    """The library function an answer cell's code copies (``recsys_course.x.f``), or None."""
    dotted = LIBRARY_VERSIONS.get(exercise)
    if dotted is None:
        return None
    library = library_fingerprint(dotted)
    tree = parse_cell(answer_source)
    if library is None or tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and function_fingerprint(node) == library:
            return dotted
    return None


def _strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body or [ast.Pass()]


class _Normaliser(ast.NodeTransformer):
    """Renames the names a function binds (parameters, locals) in order of appearance; drops
    docstrings and annotations. Free names (``tf``, ``np``, builtins, globals) and attributes stay."""

    def normalise(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
        import copy

        function = copy.deepcopy(function)
        self.bound = _bound_names(function)
        self.names: dict[str, str] = {}
        function.name = "_"
        function.decorator_list = []
        return self.visit(function)

    def _rename(self, name: str) -> str:
        if name not in self.bound:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_FunctionDef(self, node):  # noqa: N802 -- ast.NodeTransformer's naming
        node.returns = None
        node.body = _strip_docstring(node.body)
        if node.name != "_":
            node.name = self._rename(node.name)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815

    def visit_arg(self, node):
        node.arg, node.annotation, node.type_comment = self._rename(node.arg), None, None
        return node

    def visit_Name(self, node):  # noqa: N802
        node.id = self._rename(node.id)
        return node

    def visit_AnnAssign(self, node):  # noqa: N802
        self.generic_visit(node)
        if node.value is None:
            return None
        return ast.Assign(targets=[node.target], value=node.value)

    def visit_ExceptHandler(self, node):  # noqa: N802
        if node.name:
            node.name = self._rename(node.name)
        self.generic_visit(node)
        return node

    def visit_alias(self, node):
        if node.asname:
            node.asname = self._rename(node.asname)
        return node


def _bound_names(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names the function binds: its parameters and whatever its body assigns or defines."""
    bound: set[str] = set()
    for node in ast.walk(function):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return bound
