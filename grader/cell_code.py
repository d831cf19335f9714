"""What a cell's code is and defines, compared the way the grader compares it.

A cell's source is normalised (blank lines and spacing do not count) before
release and student cells are compared, and parsed as IPython would run it
(magics and ``!`` lines become calls) to see what it defines.
"""

from __future__ import annotations

import ast
from functools import lru_cache


def cell_text(source: object) -> str:
    """A cell source as one string (nbformat allows a list of lines)."""
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def line_keys(source: str) -> list[str]:
    """Non-blank lines with whitespace collapsed: indentation and trailing spaces don't count."""
    return [" ".join(line.split()) for line in source.splitlines() if line.strip()]


def normalise_source(source: str) -> str:
    """Source as compared between release and student: blank lines and spacing ignored."""
    return "\n".join(line_keys(source))


@lru_cache(maxsize=1)
def _ipython_transformer():
    """IPython's cell transformer (magics and ``!`` lines to calls), or None without IPython."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return None
    return TransformerManager()


def parse_cell(source: str) -> ast.Module | None:
    """Parse a cell as IPython would run it; None when it is not valid Python."""
    transformer = _ipython_transformer()
    try:
        if transformer is not None:
            source = transformer.transform_cell(source)
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    except Exception:  # IPython's transformer can fail on odd input: parse as plain Python
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError):
            return None


def _bound_targets(node: ast.stmt) -> list[ast.expr]:
    """Expressions a statement assigns to (not counting what it defines by name)."""
    if isinstance(node, ast.Assign):
        return list(node.targets)
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
        return [node.target]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [item.optional_vars for item in node.items if item.optional_vars is not None]
    return []


def _module_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements that run at module level: inside if/try/for/with, not inside functions."""
    statements = []
    for node in body:
        statements.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            statements.extend(_module_statements(getattr(node, name, None) or []))
        for handler in getattr(node, "handlers", None) or []:
            statements.extend(_module_statements(handler.body))
    return statements


def defined_names(source: str) -> set[str]:
    """Names a code cell binds at module level: functions, classes, imports, assignments.

    A cell that binds nothing (``df.head()``, a plot, ``!pip install``) cannot
    be what a later cell depends on.
    """
    tree = parse_cell(source)
    if tree is None:
        return set()
    names: set[str] = set()
    for node in _module_statements(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported = (alias.asname or alias.name for alias in node.names if alias.name != "*")
            names.update(name.split(".")[0] for name in imported)
        for target in _bound_targets(node):
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def function_names(source: str) -> set[str]:
    """Functions and classes a cell defines at top level: an answer cell's signature."""
    tree = parse_cell(source)
    if tree is None:
        return set()
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return {node.name for node in tree.body if isinstance(node, kinds)}

