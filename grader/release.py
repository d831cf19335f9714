"""Generate the student notebooks (``notebooks/``) from the sources (``solutions/``).

Usage::

    python -m grader.release [ASSIGNMENT ...]          # regenerate (default: all)
    python -m grader.release --check [ASSIGNMENT ...]  # exit 1 if notebooks/ is stale

Regeneration runs ``nbgrader generate_assignment --force`` with
``grader/nbgrader_config.py`` (which also records the assignment and its
hidden tests in the git-ignored gradebook, as autograde needs), then
normalises each released notebook: no outputs, no execution counts, no
run-time metadata, canonical JSON. The same sources therefore give the same
bytes on any machine, which is what ``--check`` relies on: it generates into a
temp dir and compares with the files in ``notebooks/``.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as `python grader/release.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

try:
    import nbformat
except ImportError:  # not the course's environment
    sys.exit(
        "error: nbformat is missing: run with the course environment, e.g. "
        ".venv/bin/python -m grader.release (pip install -e '.[course]')"
    )

from grader.nbgrader_helpers import (  # noqa: E402
    RELEASE_DIR,
    SOURCE_DIR,
    NbgraderError,
    copy_assignment_source,
    course_root,
    list_assignments,
    nbgrader_env,
    run_nbgrader,
    source_notebook,
)

# Cell metadata written by front ends while running a notebook, not by authors.
VOLATILE_CELL_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")
# Notebook metadata of the same kind (saved widget state).
VOLATILE_NOTEBOOK_METADATA = ("widgets",)


def normalize_notebook(path: Path) -> None:
    """Rewrite a released notebook in canonical form (idempotent)."""
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for key in VOLATILE_NOTEBOOK_METADATA:
        notebook.metadata.pop(key, None)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
    nbformat.validate(notebook)
    # Jupyter's own layout (one-space indent, sorted keys, final newline), and
    # "\n" line ends written as bytes so that no platform turns them into "\r\n".
    text = nbformat.writes(notebook, version=nbformat.NO_CONVERT).rstrip("\n") + "\n"
    path.write_bytes(text.encode("utf-8"))


def generate(root: Path, assignments: Sequence[str], all_assignments: bool = False) -> None:
    """Regenerate ``<root>/notebooks/<assignment>/`` for each assignment.

    ``all_assignments`` lets nbgrader do them all in one run (it starts
    slowly), which is what an argument-less ``release`` asks for.
    """
    for assignment in assignments:
        source_notebook(root, assignment)  # clear error on a bad layout, before nbgrader
    env = nbgrader_env(root)
    try:
        if all_assignments:
            run_nbgrader(["generate_assignment", "--assignment=*", "--force"], env)
        else:
            for assignment in assignments:
                run_nbgrader(["generate_assignment", f"--assignment={assignment}", "--force"], env)
    finally:
        # When nbgrader fails on one notebook it still writes the others:
        # leave none of them in a non-canonical form.
        for assignment in assignments:
            for notebook in sorted((root / RELEASE_DIR / assignment).rglob("*.ipynb")):
                normalize_notebook(notebook)


def _files(folder: Path) -> dict[str, Path]:
    """Files under ``folder`` by relative path ({} if it does not exist).

    Hidden files and caches (``.ipynb_checkpoints`` from opening a student
    notebook, ``__pycache__``) are git-ignored and never generated: skipped.
    """
    if not folder.is_dir():
        return {}
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(
            part.startswith(".") or part == "__pycache__" for part in relative.parts
        ):
            files[relative.as_posix()] = path
    return files


def _short_diff(expected: Path, actual: Path, limit: int = 30) -> str:
    """The first lines of a unified diff, to show in a failure report."""
    try:
        lines = list(
            difflib.unified_diff(
                actual.read_text(encoding="utf-8").splitlines(),
                expected.read_text(encoding="utf-8").splitlines(),
                "committed",
                "generated",
                n=1,
                lineterm="",
            )
        )
    except UnicodeDecodeError:
        return "    (binary files differ)"
    more = f"\n    ... {len(lines) - limit} more diff lines" if len(lines) > limit else ""
    return "\n".join("    " + line for line in lines[:limit]) + more


def compare_release(generated: Path, committed: Path, assignment: str) -> list[str]:
    """Differences between a generated and a committed ``notebooks/<assignment>/``."""
    new, old = _files(generated), _files(committed)
    problems = []
    for name in sorted(new.keys() - old.keys()):
        problems.append(f"{assignment}/{name}: missing from {RELEASE_DIR}/ (not generated yet?)")
    for name in sorted(old.keys() - new.keys()):
        problems.append(f"{assignment}/{name}: in {RELEASE_DIR}/ but not generated from {SOURCE_DIR}/")
    for name in sorted(new.keys() & old.keys()):
        if new[name].read_bytes() != old[name].read_bytes():
            problems.append(
                f"{assignment}/{name}: differs from what its source generates\n"
                + _short_diff(new[name], old[name])
            )
    return problems


def check(root: Path, assignments: Sequence[str], all_assignments: bool = False) -> list[str]:
    """Generate into a temp dir and list how ``<root>/notebooks/`` differs."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="recsys-release-check-") as tmp:
        scratch = Path(tmp)
        for assignment in assignments:
            copy_assignment_source(root, scratch, assignment)
        generate(scratch, assignments, all_assignments)
        for assignment in assignments:
            problems += compare_release(
                scratch / RELEASE_DIR / assignment, root / RELEASE_DIR / assignment, assignment
            )
    if all_assignments:
        for orphan in orphan_releases(root):
            problems.append(f"{orphan}: in {RELEASE_DIR}/ but has no {SOURCE_DIR}/{orphan}/")
    return problems


def orphan_releases(root: Path) -> list[str]:
    """Folders of ``notebooks/`` whose source folder is gone."""
    release = root / RELEASE_DIR
    if not release.is_dir():
        return []
    sources = set(list_assignments(root))
    folders = [p.name for p in release.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(name for name in folders if name not in sources)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader.release",
        description=f"Generate {RELEASE_DIR}/ (student versions) from {SOURCE_DIR}/ with nbgrader.",
    )
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"do not write; exit 1 if {RELEASE_DIR}/ differs from what the sources generate",
    )
    args = parser.parse_args(argv)

    root = course_root()
    known = list_assignments(root)
    unknown = sorted(set(args.assignments) - set(known))
    if unknown:
        parser.error(f"no such assignment in {root / SOURCE_DIR}: {', '.join(unknown)}")
    assignments = sorted(set(args.assignments)) or known
    all_assignments = not args.assignments
    if not assignments:
        print(f"No assignments in {root / SOURCE_DIR}: nothing to do.")
        return 0

    try:
        if args.check:
            problems = check(root, assignments, all_assignments)
            if problems:
                print(f"{RELEASE_DIR}/ is out of date; run `python -m grader.release`:")
                print("\n".join(f"- {p}" for p in problems))
                return 1
            print(f"{RELEASE_DIR}/ matches {SOURCE_DIR}/ ({len(assignments)} assignment(s)).")
            return 0
        generate(root, assignments, all_assignments)
    except NbgraderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for assignment in assignments:
        print(f"generated {RELEASE_DIR}/{assignment}/")
    if all_assignments:
        for orphan in orphan_releases(root):
            print(f"warning: {RELEASE_DIR}/{orphan}/ has no source any more; `git rm -r` it", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
