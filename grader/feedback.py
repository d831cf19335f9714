"""Feedback that keeps hidden tests hidden.

nbgrader's feedback shows each test cell as it ran, hidden tests included,
and a failing hidden test's traceback quotes the hidden lines around the
failure (jupyter/nbgrader#1363, #917, #1156). Instructors reuse tests from
year to year, so by default :func:`hide_hidden_tests` rewrites an autograded
notebook before its feedback is rendered: a hidden test cell keeps its
visible part and its docstring (which says what it checks), its code is
replaced by one line saying it is hidden, and its outputs become one short
verdict, the exception's message without its traceback.
"""

from __future__ import annotations

import ast

from nbformat import NotebookNode
from nbformat.v4 import new_output

from .cells import HIDDEN_BEGIN, HIDDEN_END, has_hidden_tests, nbgrader_meta


def cell_docstring(source: str) -> str:
    """The docstring a test cell opens with (also when it sits inside the hidden region)."""
    cleaned = source.replace(HIDDEN_BEGIN, "").replace(HIDDEN_END, "")
    try:
        body = ast.parse(cleaned).body
    except SyntaxError:
        return ""
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[0].value.value.strip()
    return ""


def hidden_test_ids(source_notebook: NotebookNode) -> set[str]:
    """grade_ids of the source's test cells that contain hidden tests."""
    return {nbgrader_meta(cell)["grade_id"] for cell in source_notebook.cells if has_hidden_tests(cell)}


def verdict(cell: NotebookNode) -> tuple[bool, str]:
    """(passed, short message) of an executed test cell: no traceback, no source lines."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            message = str(output.get("evalue", "")).strip().splitlines()
            first = message[0][:300] if message else ""
            return False, f"{output.get('ename', 'Error')}: {first}" if first else output.get("ename", "Error")
    return True, "passed"


def hide_hidden_tests(autograded: NotebookNode, source_notebook: NotebookNode) -> NotebookNode:
    """Rewrite (in place) every hidden test cell of ``autograded`` for student eyes."""
    hidden = hidden_test_ids(source_notebook)
    for cell in autograded.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade_id") not in hidden:
            continue
        passed, message = verdict(cell)
        visible = cell.source.split(HIDDEN_BEGIN)[0].rstrip()
        doc = cell_docstring(cell.source)
        lines = [visible] if visible else ([f'"""{doc}"""'] if doc else [])
        lines.append("# Hidden tests: their code is not shown.")
        cell.source = "\n".join(lines)
        points = meta.get("points", 0)
        summary = (f"Hidden test {'passed' if passed else 'failed'}"
                   f" ({points if passed else 0} of {points} points)"
                   + ("" if passed else f": {message}") + "\n")
        cell.outputs = [new_output("stream", name="stdout", text=summary)]
    return autograded

