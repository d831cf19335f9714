"""Answers that hand the exercise to the helper library's own version, in every form.

The library keeps a version of most graded functions because later notebooks
build on them (``recsys_course.splits.split_dataframe``, ...). An answer that
calls, imports or wraps it must earn nothing for that exercise (CURRICULUM,
Grading); :func:`delegations` writes such an answer in each of :data:`FORMS`,
so that a module lists them in one line per exercise. :func:`constant` writes
the ``return 0`` / ``return None`` answers, which must score 0 too.

Cost: real grading takes, per notebook, only two forms (:func:`graded_forms`,
rotating through :data:`FORMS` so that every form is graded on at least two
notebooks of the course); :func:`delegation_cases` puts the other forms in the
module's ``DRY_RUN_CASES``, which only the dry run checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .cases import Case

FORMS = ("call", "alias", "import_as", "attribute", "importlib", "wrapper", "partial", "lambda", "class_method")


@dataclass(frozen=True)
class Exercise:
    """A graded function as the notebook asks for it."""

    function: str  # its name: split_dataframe
    params: str  # its parameters as in the notebook: df, holdout_fraction=0.1, seed=42
    args: str  # how a body passes them on: df, holdout_fraction=holdout_fraction, seed=seed
    library: tuple[str, ...]  # the library's versions, "module.name": recsys_course.splits.split_dataframe

    @property
    def solution_id(self) -> str:
        return f"{self.function}_solution"


def delegate(exercise: Exercise, form: str, target: str | None = None) -> str:
    """An answer cell whose ``exercise.function`` is the library's ``target`` in the given ``form``."""
    module, name = (target or exercise.library[0]).rsplit(".", 1)
    short = module.rsplit(".", 1)[1]
    f, params, args = exercise.function, exercise.params, exercise.args
    if form == "call":  # imported and called inside the function
        return (f'def {f}({params}):\n    """Hands the work to the course\'s own version."""\n'
                f"    from {module} import {name}\n    return {name}({args})\n")
    if form == "alias":  # the library's function under the exercise's name
        return f"import {module}\n\n{f} = {module}.{name}\n"
    if form == "import_as":
        return f"from {module} import {name}\n" if name == f else f"from {module} import {name} as {f}\n"
    if form == "attribute":  # a module attribute looked up at call time
        return f"import {module} as course_{short}\n\n\ndef {f}({params}):\n    return course_{short}.{name}({args})\n"
    if form == "importlib":  # no import statement, no name of the library in the code
        half = len(name) // 2
        return (f"import importlib\n\n\ndef {f}({params}):\n"
                f'    helpers = importlib.import_module("recsys_" + "course.{short}")\n'
                f'    return getattr(helpers, "{name[:half]}" + "{name[half:]}")({args})\n')
    if form == "wrapper":  # a decorator that keeps the library function's name and docstring
        return (f"import functools\nfrom {module} import {name} as _library_version\n\n\n"
                "def _logged(function):\n    @functools.wraps(function)\n"
                "    def wrapper(*args, **kwargs):\n        return function(*args, **kwargs)\n    return wrapper\n\n\n"
                f"{f} = _logged(_library_version)\n")
    if form == "partial":
        return f"import functools\nimport {module}\n\n{f} = functools.partial({module}.{name})\n"
    if form == "lambda":
        return f"from {module} import {name} as _library_version\n\n{f} = lambda {params}: _library_version({args})\n"
    if form == "class_method":
        return (f"from {module} import {name} as _library_version\n\n\nclass _Solver:\n    @classmethod\n"
                f"    def solve(cls, {params}):\n        return _library_version({args})\n\n\n{f} = _Solver.solve\n")
    raise ValueError(f"unknown form {form!r}; known: {FORMS}")


def delegations(*exercises: Exercise) -> list[tuple[str, dict[str, str]]]:
    """One answer set per form: every exercise handed to the library in that form.

    Where an exercise's function has several library versions, the forms
    take them in turn. Returns ``(form, {solution grade_id: cell})``.
    """
    return [(form, {e.solution_id: delegate(e, form, e.library[i % len(e.library)]) for e in exercises})
            for i, form in enumerate(FORMS)]


def constant(*exercises: Exercise, value: str) -> dict[str, str]:
    """Every exercise's function returns ``value`` (``"0"``, ``"None"``)."""
    return {e.solution_id: f"def {e.function}({e.params}):\n    return {value}\n" for e in exercises}


def graded_forms(number: int) -> tuple[str, str]:
    """The two forms real grading takes on notebook ``number`` (1, 2, ...): FORMS in turn, two by two."""
    first = 2 * (number - 1)
    return FORMS[first % len(FORMS)], FORMS[(first + 1) % len(FORMS)]


def delegation_cases(number: int, *exercises: Exercise, what: str, lost: str = "*") -> tuple[list[Case], list[Case]]:
    """``(graded, dry_run_only)``: one case per form, every exercise handed to the library in it.

    ``graded`` holds the two forms of :func:`graded_forms` (for ``PENDING_CASES``), ``dry_run_only``
    the others (for ``DRY_RUN_CASES``).
    """
    graded, dry_run_only = [], []
    for form, answers in delegations(*exercises):
        case = Case(answers, f"{what} ({form})", lost=lost, pending="library_guard")
        (graded if form in graded_forms(number) else dry_run_only).append(case)
    return graded, dry_run_only
