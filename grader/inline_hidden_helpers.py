"""Inline the hidden tests' shared helpers into each hidden test cell.

Hidden test cells of the sources import their helpers from the package
``grader.hidden_tests`` (written once there, tested in
``tests/test_hidden_tests_helpers.py``)::

    ### BEGIN HIDDEN TESTS
    from grader.hidden_tests.common import as_number, forbid_library
    ...

The notebooks run under nbval with that import as it stands (``grader`` is
installed with the course). Graded kernels cannot import ``grader``: the
sandbox hides the course repository, and instructors reuse the tests from
year to year. So at release, :class:`InlineHiddenTestHelpers` replaces each
such import, inside the hidden block, by the source of the names it imports
plus every top-level definition of the package those use (found by name,
transitively), and the module-level imports they need, each emitted once per
cell, dependencies first. It runs first in ``generate_assignment`` (see
``nbgrader_config.py``), before nbgrader records the cells, so the gradebook,
hence autograde, holds self-contained hidden tests. The student version never
sees any of it: nbgrader strips the hidden block.

Rules for the modules of ``grader.hidden_tests`` (checked here): top-level
functions, classes, constants and imports only, nothing conditional; a
module may import names of another module of the package (absolute or
relative), which are resolved the same way.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from nbconvert.preprocessors import Preprocessor

PACKAGE = "grader.hidden_tests"
PACKAGE_DIR = Path(__file__).resolve().parent / "hidden_tests"
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"  # as nbgrader matches them
# Any mention of the package in code: an import the inliner must see (or refuse).
_MENTION = re.compile(r"\bgrader\s*\.\s*hidden_tests\b|\bfrom\s+grader\s+import\b|\bimport\s+grader\b")


class HiddenHelperError(ValueError):
    """A hidden-test import the inliner cannot (or must not) inline."""


# --- The package's modules, indexed ----------------------------------------------


@dataclass
class _Definition:
    module: str        # short module name, e.g. "common"
    name: str
    text: str          # source lines of the definition
    uses: set[str]     # names it mentions (a superset of the top-level names it needs)
    order: int         # position in its module


@dataclass
class _Module:
    name: str
    definitions: dict[str, _Definition] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)        # bound name -> import statement
    reexports: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, name)


def _module_of(statement: ast.ImportFrom, current: str | None = None) -> str | None:
    """Short name of the package module an ImportFrom reads, or None for any other module."""
    if statement.level:  # relative: only inside the package
        if current is None or statement.level != 1 or not statement.module:
            raise HiddenHelperError("relative imports in grader.hidden_tests name a sibling module: "
                                    "`from .common import name`")
        return statement.module
    module = statement.module or ""
    if module == PACKAGE:
        raise HiddenHelperError(
            f"import names from a module of {PACKAGE} (`from {PACKAGE}.common import as_number`), "
            f"not the package or a module object")
    if module.startswith(PACKAGE + "."):
        rest = module[len(PACKAGE) + 1:]
        if "." in rest:
            raise HiddenHelperError(f"{module}: {PACKAGE} has no subpackages")
        return rest
    if module == "grader" or module.startswith("grader."):
        raise HiddenHelperError(
            f"`from {module} import ...`: hidden tests may import from {PACKAGE}.<module> only "
            f"(the grading kernel cannot import the grader)")
    return None


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@lru_cache(maxsize=None)
def _load_module(name: str, package_dir: Path = PACKAGE_DIR) -> _Module:
    path = package_dir / f"{name}.py"
    if not re.fullmatch(r"[A-Za-z_]\w*", name) or not path.is_file():
        raise HiddenHelperError(f"no module {PACKAGE}.{name} (looked for {path})")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    module = _Module(name)
    for order, statement in enumerate(ast.parse(text, filename=str(path)).body):
        start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        source = "\n".join(lines[start - 1:statement.end_lineno])
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the module's docstring
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue
        if isinstance(statement, ast.ImportFrom) and (sibling := _module_of(statement, name)) is not None:
            for alias in statement.names:
                module.reexports[alias.asname or alias.name] = (sibling, alias.name)
            continue
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            for alias in statement.names:
                if alias.name == "*":
                    raise HiddenHelperError(f"{path.name}: no star imports")
                bound = alias.asname or alias.name.split(".")[0]
                module.imports[bound] = (ast.unparse(ast.Import([alias])) if isinstance(statement, ast.Import)
                                         else ast.unparse(ast.ImportFrom(statement.module, [alias], 0)))
            continue
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = [statement.name]
        elif isinstance(statement, (ast.Assign, ast.AnnAssign)):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                raise HiddenHelperError(f"{path.name}:{statement.lineno}: assign top-level constants to plain names")
            bound = [t.id for t in targets]
        else:
            raise HiddenHelperError(
                f"{path.name}:{statement.lineno}: {PACKAGE} modules hold top-level functions, classes, "
                f"constants and imports only (found {type(statement).__name__})")
        for bound_name in bound:
            if bound_name in module.definitions:
                raise HiddenHelperError(f"{path.name}: {bound_name} is defined twice")
            module.definitions[bound_name] = _Definition(name, bound_name, source, _names_used(statement), order)
    return module


# --- Inlining one cell -------------------------------------------------------------


class _Inliner:
    """Emits definitions for one cell, each once, dependencies first."""

    def __init__(self, package_dir: Path):
        self.package_dir = package_dir
        self.emitted: set[tuple[str, str]] = set()   # (module, name) of definitions
        self.emitted_imports: set[str] = set()
        self.bound: dict[str, tuple[str, str]] = {}   # name in the cell -> its definition

    def resolve(self, module: str, name: str, chain: tuple = ()) -> _Definition:
        """The definition ``name`` of ``module``, following imports between the package's modules."""
        if (module, name) in chain:
            raise HiddenHelperError(f"{PACKAGE}: circular import of {name} ({' -> '.join(m for m, _ in chain)})")
        loaded = _load_module(module, self.package_dir)
        if name in loaded.definitions:
            return loaded.definitions[name]
        if name in loaded.reexports:
            return self.resolve(*loaded.reexports[name], chain + ((module, name),))
        raise HiddenHelperError(f"{PACKAGE}.{module} has no top-level definition {name!r}")

    def emit(self, definition: _Definition, out_imports: list[str], out_defs: list[str],
             visiting: set | None = None) -> None:
        key = (definition.module, definition.name)
        if key in self.emitted:
            return
        visiting = set() if visiting is None else visiting
        if key in visiting:  # mutual recursion between functions: emitted once, order is free
            return
        visiting.add(key)
        module = _load_module(definition.module, self.package_dir)
        dependencies = []
        for used in sorted(definition.uses - {definition.name}):
            if used in module.imports:
                statement = module.imports[used]
                if statement not in self.emitted_imports:
                    self.emitted_imports.add(statement)
                    out_imports.append(statement)
            elif used in module.definitions or used in module.reexports:
                dependencies.append(self.resolve(definition.module, used))
        for dependency in sorted(dependencies, key=lambda d: (d.module != definition.module, d.order)):
            self.emit(dependency, out_imports, out_defs, visiting)
        if key in self.emitted:
            return
        # Two definitions of one name from different modules would silently overwrite each other.
        if definition.name in self.bound and self.bound[definition.name] != key:
            other = self.bound[definition.name]
            raise HiddenHelperError(
                f"{definition.name} is defined both in {PACKAGE}.{other[0]} and in {PACKAGE}.{key[0]}")
        self.bound[definition.name] = key
        self.emitted.add(key)
        out_defs.append(definition.text)

    def replacement(self, statement: ast.ImportFrom) -> str:
        module = _module_of(statement)
        imports, definitions, names = [], [], []
        for alias in statement.names:
            if alias.name == "*":
                raise HiddenHelperError(f"`from {statement.module} import *`: name what the test uses")
            if alias.asname and alias.asname != alias.name:
                raise HiddenHelperError(
                    f"`import {alias.name} as {alias.asname}` from {PACKAGE}: use the helper's own name")
            names.append(alias.name)
            self.emit(self.resolve(module, alias.name), imports, definitions)
        header = f"# from {PACKAGE}.{module}: {', '.join(names)} (inlined at release)"
        return "\n".join([header, *imports, *(("\n" + d) for d in definitions), ""]) + "\n"


def _hidden_line_ranges(lines: list[str]) -> list[tuple[int, int]]:
    """0-based (first, last) line numbers strictly inside each hidden block."""
    ranges, start = [], None
    for number, line in enumerate(lines):
        if HIDDEN_BEGIN in line:
            start = number + 1
        elif HIDDEN_END in line and start is not None:
            ranges.append((start, number - 1))
            start = None
    if start is not None:
        raise HiddenHelperError(f"### {HIDDEN_BEGIN} without ### {HIDDEN_END}")
    return ranges


def inline_hidden_helpers(source: str, where: str = "cell", package_dir: Path = PACKAGE_DIR) -> str:
    """``source`` with each ``from grader.hidden_tests.<module> import ...`` of its hidden
    blocks replaced by the definitions it imports (see the module docstring).

    Raises :class:`HiddenHelperError` (naming ``where``) for an unknown module or
    name, an import of the grader outside ``grader.hidden_tests``, or any mention
    of the package outside a hidden block.
    """
    lines = source.split("\n")
    ranges = _hidden_line_ranges(lines)
    inside = {n for first, last in ranges for n in range(first, last + 1)}
    for number, line in enumerate(lines):
        if number not in inside and _MENTION.search(line.split("#")[0]):
            raise HiddenHelperError(
                f"{where}, line {number + 1}: hidden-test helpers are imported inside "
                f"### {HIDDEN_BEGIN} / ### {HIDDEN_END} only (students cannot import the grader): {line.strip()!r}")
    if not ranges:
        return source
    inliner = _Inliner(package_dir)
    replacements = []  # (first line, last line, text), in reading order
    for first, last in ranges:
        block = "\n".join(lines[first:last + 1])
        try:
            tree = ast.parse(block)
        except SyntaxError as error:
            if not _MENTION.search(block):
                continue  # not ours to judge; nbval reports it
            raise HiddenHelperError(f"{where}: hidden block does not parse: {error}") from None
        top_level = set(map(id, tree.body))
        edits = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(
                    a.name == "grader" or a.name.startswith("grader.") for a in node.names):
                raise HiddenHelperError(
                    f"{where}, line {first + node.lineno}: write `from {PACKAGE}.<module> import name`, "
                    f"not `import {node.names[0].name}`")
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            try:
                module = _module_of(node)
            except HiddenHelperError as error:
                raise HiddenHelperError(f"{where}, line {first + node.lineno}: {error}") from None
            if module is None:
                continue
            if id(node) not in top_level or node.col_offset:
                raise HiddenHelperError(
                    f"{where}, line {first + node.lineno}: import hidden-test helpers at the top level of "
                    f"the hidden block, not inside a function, loop or condition")
            edits.append(node)
        # Imports the block itself makes before its first helper import need no repeating.
        if edits:
            first_edit = min(node.lineno for node in edits)
            for node in tree.body:
                if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno < first_edit \
                        and not getattr(node, "level", 0) and node not in edits:
                    for alias in node.names:
                        inliner.emitted_imports.add(
                            ast.unparse(ast.Import([alias])) if isinstance(node, ast.Import)
                            else ast.unparse(ast.ImportFrom(node.module, [alias], 0)))
        # Emit in reading order (the first import brings what later ones share), replace bottom-up.
        texts = {}
        for node in sorted(edits, key=lambda n: n.lineno):
            try:
                texts[id(node)] = inliner.replacement(node)
            except HiddenHelperError as error:
                raise HiddenHelperError(f"{where}, line {first + node.lineno}: {error}") from None
        for node in edits:
            replacements.append((first + node.lineno - 1, first + node.end_lineno - 1, texts[id(node)]))
    replaced = list(lines)
    for start, end, text in sorted(replacements, reverse=True):
        replaced[start:end + 1] = text.rstrip("\n").split("\n") + [""]
    return "\n".join(replaced)


def inline_notebook(nb, name: str = "notebook", package_dir: Path = PACKAGE_DIR):
    """Inline every code cell of ``nb`` in place (also cells without nbgrader metadata)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        where = f"{name}, cell {index}" + (f" ({grade_id})" if grade_id else "")
        cell.source = inline_hidden_helpers(cell.source, where, package_dir)
    return nb


def inlined_source_notebook(path):
    """The source notebook at ``path`` (an ``nbformat`` notebook) as the gradebook records
    it: helpers inlined.

    For any code that takes hidden tests from ``solutions/`` rather than from
    the gradebook, or that keys a cache on what the hidden tests are (a change
    of ``grader/hidden_tests`` changes them without changing the source file).
    """
    import nbformat

    return inline_notebook(nbformat.read(str(path), as_version=4), Path(path).stem)


class InlineHiddenTestHelpers(Preprocessor):
    """Replace ``from grader.hidden_tests.<module> import ...`` in hidden blocks by the source."""

    enabled = True  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        notebook = resources.get("nbgrader", {}).get("notebook") or "notebook"
        return inline_notebook(nb, notebook), resources
