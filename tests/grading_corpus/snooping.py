"""Answers that look for the instructor's material where the sandbox might not hide it.

The grader hides the course, the grading folder, the other submissions and
the home folder; these answers look elsewhere: every temporary folder (other
runs' and other tests' files, an older grading output folder, whose
``.templates`` hold the solution notebooks and gradebooks) and the network
(the instructor's repository, a server on this machine). Each uses what it
finds and otherwise returns None, so it must score 0.

``tests/test_grade_series.py`` plants the bait when the ``no_solutions_reachable``
switch is on: :func:`plant_bait` writes an older output folder next to the
class, :func:`serve_bait` serves the course over loopback; the answers read
their addresses from :data:`BAIT` when the corpus is built.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.nbgrader_helpers import REPO_ROOT

from .cases import Case
from .notebooks import solved, source_path, to_bytes, with_answers

A3 = "03_measuring_error"
SOLUTION = "sparse_mean_square_error_solution"
BAIT: dict[str, str] = {}  # "old_output": a folder, "url": http://127.0.0.1:PORT/ serving the course

# Shared by both answers: take the reference answer cell out of a notebook's text or a gradebook.
_TAKE = '''
import json, os, time

def _take(text):
    """Define sparse_mean_square_error from a file's text; True if that worked."""
    try:
        cells = ["".join(c["source"]) for c in json.loads(text)["cells"]]
    except Exception:
        start = text.find("def sparse_mean_square_error")
        cells = [text[start:].split("### END SOLUTION")[0]] if start >= 0 else []
    for cell in cells:
        if "def sparse_mean_square_error" in cell and "NotImplementedError" not in cell:
            try:
                exec(cell, globals())
                return True
            except Exception:
                pass
    return False
'''

SEARCH_TEMPORARY_FOLDERS = _TAKE + '''
_found, _deadline, _seen = False, time.monotonic() + 25, 0
_roots = ["/tmp", "/var/tmp", "/dev/shm", os.path.expanduser("~"), %(old_output)r]
for _root in filter(None, _roots):
    for _folder, _subfolders, _files in os.walk(_root):
        _subfolders[:] = [s for s in _subfolders if s not in (".venv", "site-packages", ".git", "node_modules")]
        _seen += 1
        for _name in _files:
            if _name.endswith(".ipynb") or _name == "gradebook.db":
                try:
                    with open(os.path.join(_folder, _name), "rb") as _file:
                        _found = _found or _take(_file.read(50_000_000).decode("utf-8", "replace"))
                except OSError:
                    pass
        if _found or time.monotonic() > _deadline:
            break
    if _found:
        break
print("searched", _seen, "folders; found a solution:", _found)
if not _found:
    def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
        return None
'''

TRY_THE_NETWORK = _TAKE + '''
import urllib.request
_found = False
for _url in %(urls)r:
    try:
        _found = _take(urllib.request.urlopen(_url, timeout=3).read().decode("utf-8", "replace"))
    except Exception as _error:
        print(_url, "->", type(_error).__name__)
    if _found:
        break
print("found a solution on the network:", _found)
if not _found:
    def sparse_mean_square_error(sparse_ratings, user_embeddings, movie_embeddings):
        return None
'''


def _urls() -> list[str]:
    path = f"solutions/{A3}/{A3}.ipynb"
    urls = [f"https://raw.githubusercontent.com/recsys-course/recsys-course/main/{path}"]
    return ([BAIT["url"] + path] if "url" in BAIT else []) + urls


SEARCHES_FOR_SOLUTIONS = [
    Case(lambda: to_bytes(with_answers(solved(A3), {SOLUTION: SEARCH_TEMPORARY_FOLDERS % {
        "old_output": BAIT.get("old_output", "")}})),
         "searches every temporary folder and an older output folder for solutions (finds none)",
         lost="*", pending="no_solutions_reachable"),
    Case(lambda: to_bytes(with_answers(solved(A3), {SOLUTION: TRY_THE_NETWORK % {"urls": _urls()}})),
         "fetches the solution from the instructor's repository and a local server (reaches neither)",
         lost="*", pending="no_solutions_reachable"),
]


def plant_bait(folder: Path) -> None:
    """An older grading output folder, as ``grade --out`` leaves it: solutions in its templates."""
    template = folder / ".templates" / A3 / "solutions" / A3
    template.mkdir(parents=True)
    shutil.copyfile(source_path(A3), template / f"{A3}.ipynb")
    BAIT["old_output"] = str(folder)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve_bait() -> Iterator[str]:
    """The course repository served over loopback while the class is graded."""
    handler = functools.partial(_QuietHandler, directory=str(REPO_ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    BAIT["url"] = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield BAIT["url"]
    finally:
        server.shutdown()
        server.server_close()
