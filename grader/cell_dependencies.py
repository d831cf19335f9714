"""Which cells of a notebook grading may leave out: the ones nothing graded depends on.

Most of a notebook's run time under grading goes to demonstrations (training
models, drawing charts, timing routes) whose results no graded cell reads:
the hidden tests draw inputs of their own. This module finds those cells by
reading the code, not by trusting marks: a backward pass over the notebook
as it will run (the submission, with the hidden tests put back) keeps

- every graded cell (answers and tests, nbgrader's ``solution``/``grade``);
- every cell that binds or may change a name that a kept later cell reads;
- every cell that cannot be read safely: one that does not parse, runs
  IPython magics or shell escapes, changes global state (seeds,
  configuration, ``os.environ``), or reads names dynamically (``globals()``,
  ``eval``, ``exec``, ``Out``...). A ``global`` statement anywhere, or a
  dynamic read in a kept cell, keeps every cell before it;

and nothing after the last graded cell (a cell can only change what runs after it).

"May change" is read generously: ``x.attr = ...``, ``x[i] = ...``,
``x += ...``, ``del x[i]``, a method call on ``x`` (except read-only ones
such as ``groupby`` or ``predict``, and never with ``inplace=True``), and
``x`` passed to a function defined in the notebook itself (the course's
library does not change its arguments; a student's function might). So a
cell is left out only when leaving it out cannot change what a kept cell
sees, short of code that reaches values through other objects' references.

    python -m grader.cell_dependencies NOTEBOOK.ipynb    # which cells grading leaves out, and why not the rest
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
import symtable
import sys
from dataclasses import dataclass
from pathlib import Path

from .cells import nbgrader_meta
from .disk_memo import remembered

# Reading one of these names means any name may be read: nothing before may go.
DYNAMIC_NAMES = frozenset({
    "globals", "locals", "vars", "eval", "exec", "compile", "__import__", "__builtins__", "get_ipython",
    "In", "Out", "_", "__", "___", "_oh", "_ih", "_dh", "dir", "breakpoint",
})
# A module's function whose (dotted) name says it changes process-wide state: the cell stays.
GLOBAL_EFFECT = re.compile(r"(^|_)(seed|set|config|enable|disable|environ|chdir|setrecursionlimit|"
                           r"filterwarnings|simplefilter|register|patch|run_functions_eagerly|putenv)($|_)")
# Module functions that change the arrays they are given.
CHANGES_ARGUMENTS = frozenset({"shuffle", "fill_diagonal", "put", "putmask", "place", "copyto"})
BUILTIN_NAMES = frozenset(dir(builtins))
# Methods that leave their object as it is (pandas, NumPy, TensorFlow, Keras, str, dict).
READ_ONLY_METHODS = frozenset("""
    copy head tail groupby merge join sample sort_values sort_index to_numpy numpy value_counts unique nunique
    mean sum std var min max count describe query astype reset_index rename drop isin apply map agg aggregate
    pivot_table pivot items keys values get format split rsplit strip lower upper title startswith endswith
    predict evaluate reshape transpose dot argsort argmax argmin nlargest nsmallest set_index filter where
    round cumsum cumprod quantile median corr idxmax idxmin any all duplicated drop_duplicates dropna fillna
    select_dtypes explode melt stack unstack to_frame to_string to_dict to_list tolist iterrows itertuples
    properties mark_bar mark_point mark_line mark_circle mark_rect mark_text encode interactive
    transform_filter add_params resolve_scale configure_axis get_weights get_config summary
    nonzero ravel flatten squeeze clip prod abs mul add sub div rank diff shift replace assign between
""".split())


@dataclass(frozen=True)
class CellUse:
    """What one cell's code does with names, as the notebook's other cells see it."""

    binds: frozenset[str]  # names the cell may (re)bind
    reads: frozenset[str]  # names it reads that an earlier cell may have bound
    changes: frozenset[str]  # names whose value it may change in place
    rebinds: frozenset[str] = frozenset()  # names it surely binds anew before reading them
    loads: frozenset[str] = frozenset()  # every name it reads anywhere (to find the functions it may call)
    function_reads: tuple = ()  # (function name, names its body reads when called) for each def
    later_reads: frozenset[str] = frozenset()  # names its classes' methods read, whenever they are called
    imports: frozenset = frozenset()  # (name bound, what, from which module) of each import
    pinned: str = ""  # why it must run whatever follows (empty: it may be left out)
    dynamic: bool = False  # reads names dynamically: everything before it stays if it stays
    declares_global: bool = False  # a `global` statement: leaves every cell of the notebook in


def python_source(source: str) -> str:
    """The cell as the kernel runs it: IPython's magics and shell escapes become ``get_ipython()`` calls."""
    try:
        ast.parse(source)
        return source  # plain Python: IPython leaves it as it is
    except SyntaxError:
        pass
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _parse(source: str) -> tuple[str, ast.Module] | None:
    """The cell's code as the kernel runs it and its syntax tree; None when it does not parse."""
    code = python_source(source)
    try:
        return code, ast.parse(code)
    except SyntaxError:
        return None


def read_cell(source: str, modules: frozenset[str] = frozenset(),
              notebook_functions: frozenset[str] = frozenset()) -> CellUse:
    """What ``source`` binds, reads and changes.

    ``modules``: names bound by an import anywhere in the notebook (calling a
    module's function does not change the module); ``notebook_functions``:
    names of the functions the notebook defines (they may change their arguments).
    """
    return _read_tree(_parse(source), modules, notebook_functions)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_READ_CACHE: dict[tuple, CellUse] = {}


def _read_cached(source: str, modules: set[str], functions: set[str], folder: Path | None = None) -> CellUse:
    """:func:`_read_tree`, remembered in memory and, with ``folder``, on disk (:mod:`grader.disk_memo`)."""
    words = _words(source)
    key = (source, frozenset(modules & words), frozenset(functions & words))
    if key in _READ_CACHE:
        return _READ_CACHE[key]
    if len(_READ_CACHE) > 4096:
        _READ_CACHE.clear()
    use = remembered(folder, repr((key[0], sorted(key[1]), sorted(key[2]))),
                   lambda: _read_tree(_parse(source), key[1], key[2]), CellUse)
    _READ_CACHE[key] = use
    return use


def _definitions_cached(source: str, folder: Path | None = None) -> tuple[frozenset[str], frozenset[str]]:
    """:func:`_definitions`, kept on disk too with ``folder``."""
    return remembered(folder, repr(("definitions", source)), lambda: _definitions(source), tuple)


@functools.lru_cache(maxsize=4096)
def _words(source: str) -> frozenset[str]:
    return frozenset(_IDENTIFIER.findall(source))


@functools.lru_cache(maxsize=4096)
def _definitions(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """The names a cell binds by import (modules, mostly) and the functions it defines."""
    parsed = _parse(source)
    if parsed is None:
        return frozenset(), frozenset()
    imported, defined = set(), set()
    for node in ast.walk(parsed[1]):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
    return frozenset(imported), frozenset(defined)


def _read_tree(parsed: tuple[str, ast.Module] | None, modules: frozenset[str],
               notebook_functions: frozenset[str]) -> CellUse:
    try:
        code, tree = parsed
        table = symtable.symtable(code, "<cell>", "exec")
    except (TypeError, SyntaxError):
        return CellUse(frozenset(), frozenset(), frozenset(), pinned="does not parse")
    changes: set[str] = set()
    pinned, dynamic, declares_global = "", False, False
    # (node, names local to the functions around it): a change to a function's own variable is not
    # a change to the notebook's.
    stack: list[tuple[ast.AST, frozenset[str]]] = [(tree, frozenset())]
    while stack:
        node, local = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            inner = local | _local_names(node)
            stack += [(child, inner) for child in ast.iter_child_nodes(node)]
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            inner = local | {n for g in node.generators for n in _stores_here(g.target)}
            stack += [(child, inner) for child in ast.iter_child_nodes(node)]
            continue
        stack += [(child, local) for child in ast.iter_child_nodes(node)]
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in DYNAMIC_NAMES:
            dynamic = True
            if node.id == "get_ipython":
                pinned = pinned or "runs IPython magics or shell commands"
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declares_global = True
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for part in (part for target in targets for part in _flatten(target)):
                root = _root_name(part) if isinstance(part, (ast.Attribute, ast.Subscript)) else (
                    part.id if isinstance(node, ast.AugAssign) and isinstance(part, ast.Name) else "")
                if not root or root in local:
                    continue
                if root in modules and not isinstance(part, ast.Name):
                    pinned = pinned or f"changes module state ({ast.unparse(part)[:40]})"
                else:
                    changes.add(root)
        elif isinstance(node, ast.Call):
            found: set[str] = set()
            pinned = pinned or _call_effect(node, modules - local, notebook_functions - local, found)
            changes |= found - local
    binds = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    surely_bound: set[str] = set()
    reads = _module_reads(tree.body, surely_bound)
    function_reads, later_reads = [], set()
    defined = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for child in table.get_children():
        if child.get_type() == "function" and child.get_name() in defined:
            function_reads.append((child.get_name(), frozenset(_global_reads(child))))
        elif child.get_type() == "class":
            reads |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
            for method in child.get_children():
                later_reads |= _global_reads(method)
        else:  # comprehensions and lambdas: they read the notebook's names now (a lambda: also later)
            reads |= _global_reads(child)
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    rebinds = surely_bound - reads
    imports = {((alias.asname or alias.name).split(".")[0], alias.name if alias.asname else alias.name.split(".")[0],
                getattr(n, "module", None)) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               for alias in n.names}
    # A change needs the value first: one to a name the cell had not bound yet is a change of the
    # notebook's value (a change inside a function happens when it is called: see plan()).
    return CellUse(frozenset(binds), frozenset(reads), frozenset(changes & reads), rebinds=frozenset(rebinds),
                   loads=frozenset(loads), imports=frozenset(imports),
                   function_reads=tuple(function_reads), later_reads=frozenset(later_reads),
                   pinned=pinned, dynamic=dynamic, declares_global=declares_global)


def _local_names(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """A function's parameters and the names its body binds (its local variables)."""
    arguments = function.args
    names = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}
    names |= {a.arg for a in (arguments.vararg, arguments.kwarg) if a is not None}
    body = function.body if isinstance(function.body, list) else [function.body]
    for statement in body:
        names |= _stores_here(statement)
        for inner in ast.walk(statement):
            if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(inner.name)
    return names


def _global_reads(table: symtable.SymbolTable) -> set[str]:
    """Names a scope (and the scopes inside it) reads from the notebook's namespace."""
    names = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    for child in table.get_children():
        names |= _global_reads(child)
    return names


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _loads_here(node: ast.AST) -> set[str]:
    """Names read by ``node`` in the cell's own scope (not inside functions, lambdas, comprehensions;
    a definition's decorators, defaults and base classes are read here)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and isinstance(current.ctx, ast.Load):
            found.add(current.id)
        elif isinstance(current, ast.AugAssign) and isinstance(current.target, ast.Name):
            found.add(current.target.id)  # x += 1 reads x
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack += [*current.decorator_list, *current.args.defaults,
                      *(d for d in current.args.kw_defaults if d is not None)]
        elif isinstance(current, ast.ClassDef):
            stack += [*current.decorator_list, *current.bases, *(k.value for k in current.keywords)]
        elif isinstance(current, ast.Lambda):
            stack += [*current.args.defaults, *(d for d in current.args.kw_defaults if d is not None)]
        elif isinstance(current, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            stack.append(current.generators[0].iter)  # evaluated in the enclosing scope
        else:
            stack += list(ast.iter_child_nodes(current))
    return found


def _stores_here(node: ast.AST) -> set[str]:
    """Names ``node`` binds in the cell's own scope."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    found: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Name) and not isinstance(current.ctx, ast.Load):
            found.add(current.id)
        elif isinstance(current, ast.NamedExpr):
            found.add(current.target.id)
        if not isinstance(current, _SCOPES):
            stack += list(ast.iter_child_nodes(current))
    return found


def _module_reads(statements: list[ast.stmt], bound: set[str]) -> set[str]:
    """Names the statements read before the cell itself has surely bound them.

    ``bound`` (updated): names bound so far by statements that always run.
    A name bound only inside ``if``, ``while`` or ``try`` still counts as read
    from before; a ``for`` or ``with`` target counts as bound in its body.
    """
    reads: set[str] = set()
    for statement in statements:
        if isinstance(statement, (ast.For, ast.AsyncFor)):
            reads |= _loads_here(statement.iter) - bound
            inside = bound | _stores_here(statement.target)
            reads |= _module_reads(statement.body, set(inside)) | _module_reads(statement.orelse, set(inside))
        elif isinstance(statement, (ast.With, ast.AsyncWith)):
            for item in statement.items:
                reads |= _loads_here(item.context_expr) - bound
                if item.optional_vars is not None:
                    bound |= _stores_here(item.optional_vars)
            reads |= _module_reads(statement.body, bound)
        elif isinstance(statement, (ast.If, ast.While, ast.Try, ast.Match) + (
                (ast.TryStar,) if hasattr(ast, "TryStar") else ())):
            reads |= _loads_here(statement) - bound
        else:
            reads |= _loads_here(statement) - bound
            bound |= _stores_here(statement)
    return reads


def _flatten(target: ast.AST):
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _flatten(element)
    elif isinstance(target, ast.Starred):
        yield from _flatten(target.value)
    else:
        yield target


def _root_name(node: ast.AST) -> str:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else ""


def _call_effect(call: ast.Call, modules: frozenset[str], notebook_functions: frozenset[str],
                 changes: set[str]) -> str:
    """Adds to ``changes`` the names ``call`` may change; returns a reason when it changes global state."""
    root = _root_name(call.func)
    name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    # The values passed (a name, or a part of one); a call's result is a new value.
    arguments = [_root_name(v) if isinstance(v, (ast.Name, ast.Attribute, ast.Subscript)) else ""
                 for v in (a.value if isinstance(a, ast.Starred) else a
                           for a in [*call.args, *(k.value for k in call.keywords)])]
    if root in modules:  # a module's function (or a function imported from one)
        words = ast.unparse(call.func).split(".")
        if any(GLOBAL_EFFECT.search(word) for word in words):
            return f"changes global state ({ast.unparse(call.func)[:40]})"
        if name in CHANGES_ARGUMENTS:
            changes.update(a for a in arguments if a)
        return ""
    if isinstance(call.func, ast.Name) and name in {"setattr", "delattr"} and arguments and arguments[0]:
        changes.add(arguments[0])
    if isinstance(call.func, ast.Attribute) and root:  # a method of a value
        in_place = any(k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                       for k in call.keywords)
        if in_place or name not in READ_ONLY_METHODS:
            changes.add(root)
    if isinstance(call.func, ast.Name) and name in notebook_functions:
        changes.update(a for a in arguments if a)
    return ""


@dataclass(frozen=True)
class Decision:
    index: int  # position among the notebook's cells
    run: bool
    reason: str


def is_graded(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution") or meta.get("grade"))


def is_test(cell) -> bool:
    """A test cell: its code comes from the course's source, never from the submission (nbgrader restores it)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def plan(cells, always_run=lambda cell: False, cache_folder: Path | None = None) -> list[Decision]:
    """For each code cell of ``cells`` (notebook order): run it or leave it out, and why.

    ``always_run(cell)``: cells of the grader's own to keep whatever they do;
    ``cache_folder``: where to keep each cell's reading for the next notebooks
    (only the grader writes there: graded kernels do not see it).
    """
    code = [(index, cell) for index, cell in enumerate(cells) if cell.cell_type == "code"]
    modules, functions = set(), set()
    for _, cell in code:
        imported, defined = _definitions_cached(cell.source, cache_folder)
        modules |= imported
        functions |= defined
    uses = {index: _read_cached(cell.source, modules, functions, cache_folder) for index, cell in code}
    if any(use.declares_global for use in uses.values()):
        return [Decision(index, True, "the notebook has a `global` statement: every cell runs") for index, _ in code]
    called = _function_reads(uses.values())
    # Before each position: the imports of the cells before it, and what their classes' methods read.
    imports_before, later_reads_before = [set()], [set()]
    for _, use in ((i, uses[i]) for i, _ in code):
        imports_before.append(imports_before[-1] | use.imports)
        later_reads_before.append(later_reads_before[-1] | use.later_reads)
    decisions: list[Decision] = []
    needed: set[str] = set()
    everything = False  # a kept cell reads names dynamically: every earlier cell runs
    graded_after = False  # a graded cell comes later: what a cell does can matter
    for position in range(len(code) - 1, -1, -1):
        index, cell = code[position]
        use = uses[index]
        # Importing again what an earlier cell imported under the same name makes nothing new.
        imported_before = {name for name, *_ in use.imports & imports_before[position]}
        # Calling one of the notebook's functions may change what its body reads (not functions, modules).
        changes = set(use.changes)
        for name in use.loads & called.keys():
            changes |= called[name] - functions - modules - BUILTIN_NAMES
        made = ((use.binds - imported_before) | changes) & needed
        if always_run(cell):
            run, reason = True, "the grader's own cell"
        elif is_graded(cell):
            run, reason = True, "graded"
        elif not graded_after:
            run, reason = False, "after the last graded cell"
        elif everything:
            run, reason = True, "a later cell reads names dynamically"
        elif use.pinned:
            run, reason = True, use.pinned
        elif made:
            run, reason = True, "makes or changes " + ", ".join(sorted(made)[:4])
        else:
            run, reason = False, "empty" if not cell.source.strip() else "nothing that runs after it reads what it makes"
        if run:
            # What it reads: its own reads, what the notebook's functions it may call read, and
            # what the methods of classes defined before it read.
            reads = set(use.reads) | changes
            for name in use.loads & called.keys():
                reads |= called[name]
            reads |= later_reads_before[position]
            needed = (needed - (use.rebinds - reads)) | reads
            # The course's test cells read globals() only to swap a reference function in and out.
            everything = everything or (use.dynamic and not is_test(cell))
        graded_after = graded_after or is_graded(cell)
        decisions.append(Decision(index, run, reason))
    return decisions[::-1]


def _function_reads(uses) -> dict[str, set[str]]:
    """For each function the notebook defines: the names it reads when called, through the functions it calls."""
    direct: dict[str, set[str]] = {}
    for use in uses:
        for name, reads in use.function_reads:
            direct.setdefault(name, set()).update(reads)
    closure = {name: set(reads) for name, reads in direct.items()}
    changed = True
    while changed:
        changed = False
        for name, reads in closure.items():
            more = set().union(*(closure[other] for other in reads & closure.keys() if other != name)) - reads
            if more:
                reads |= more
                changed = True
    return closure


def main(argv: list[str]) -> int:
    import nbformat

    for path in argv:
        notebook = nbformat.read(path, as_version=4)
        decisions = plan(notebook.cells)
        left_out = [d for d in decisions if not d.run]
        print(f"{path}: {len(left_out)} of {len(decisions)} code cells left out under grading")
        for decision in decisions:
            cell = notebook.cells[decision.index]
            first = next((line for line in cell.source.splitlines() if line.strip()), "")[:60]
            grade_id = nbgrader_meta(cell).get("grade_id", "")
            print(f"  {'run ' if decision.run else 'OUT '} [{decision.index:>2}] {grade_id:38} {decision.reason[:50]:50} {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
