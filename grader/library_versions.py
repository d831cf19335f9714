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

GUARD_TABLE = Path(__file__).resolve().parent / "hidden_tests" / "common.py"


def _guard_table(path: Path = GUARD_TABLE) -> dict[str, tuple[str, ...]]:
    """``LIBRARY_VERSIONS`` of the hidden tests' guard, read as a literal (no TensorFlow start-up).

    One table for the course: the guard fails an answer that calls these
    functions, and this module flags an answer that copies one of them.
    """
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "LIBRARY_VERSIONS" for target in node.targets):
            return {exercise: tuple(names) for exercise, names in ast.literal_eval(node.value).items()}
    raise RuntimeError(f"{path}: no LIBRARY_VERSIONS table")


# Exercise (the function a notebook asks for) -> every library function that computes it,
# the exercise's own version first (grader/hidden_tests/common.py; add new notebooks' there).
ALL_LIBRARY_VERSIONS: dict[str, tuple[str, ...]] = _guard_table()
# Exercise -> the library's own version of it.
LIBRARY_VERSIONS: dict[str, str] = {exercise: names[0] for exercise, names in ALL_LIBRARY_VERSIONS.items()}


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
    tree = parse_cell(answer_source)
    if tree is None:
        return None
    answers = {function_fingerprint(node) for node in ast.walk(tree)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    # Only the exercise's own version: the other routes the guard forbids are short worked
    # examples (notebook 3's gather route is the natural answer, written the same way).
    dotted = LIBRARY_VERSIONS.get(exercise)
    if dotted is not None and library_fingerprint(dotted) in answers:
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
