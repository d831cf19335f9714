"""Feedback that keeps hidden tests hidden.

nbgrader's feedback shows each test cell as it ran, hidden tests included,
and a failing hidden test's traceback quotes the hidden lines around the
failure (jupyter/nbgrader#1363, #917, #1156). Instructors reuse tests from
year to year, so by default :func:`hide_hidden_tests` rewrites an autograded
notebook before its feedback is rendered: a hidden test cell keeps its
visible part and its docstring (which says what it checks), its code is
replaced by one line saying it is hidden, and its outputs become one short
verdict, the exception's message without its traceback.

nbgrader's summary at the top of a feedback page lists "Test cell (Score: 0.0
/ 2.0)" once per test. :func:`feedback_summary` names each graded cell
instead, by its exercise (from the grade_id), its behaviour (the first clause
of its docstring) and whether it is visible or hidden, and totals the points
per exercise; the course's feedback template (:mod:`grader.feedback_exporter`)
shows it, in ``grade`` and in nbgrader's own ``generate_feedback``.
"""

from __future__ import annotations

import ast
import html
import io
import re
import tokenize
from dataclasses import dataclass, field

from nbformat import NotebookNode
from nbformat.v4 import new_output

from .cells import GRADE_ID_MARKERS, HIDDEN_BEGIN, HIDDEN_END, exercise_of, has_hidden_tests, nbgrader_meta


HIDDEN_NOTE = "# Hidden tests: their code is not shown."  # what replaces a hidden region


def cell_docstring(source: str) -> str:
    """The docstring a test cell opens with (also when it sits inside the hidden region).

    Read from the cell's first tokens, not a parse of the whole cell: the feedback of every
    graded notebook reads it for each hidden test cell.
    """
    cleaned = source.replace(HIDDEN_BEGIN, "").replace(HIDDEN_END, "")
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENCODING)
    try:
        tokens = (t for t in tokenize.generate_tokens(io.StringIO(cleaned).readline) if t.type not in skipped[:2])
        first = next((t for t in tokens if t.type not in skipped), None)
        after = next(tokens, None)
        if first is None or first.type != tokenize.STRING or (after and after.type not in (
                tokenize.NEWLINE, tokenize.ENDMARKER)):
            return ""  # no string first, or one that is part of an expression: no docstring
        value = ast.literal_eval(first.string)
    except (tokenize.TokenError, SyntaxError, ValueError, IndentationError):
        return ""
    return value.strip() if isinstance(value, str) else ""


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
        lines.append(HIDDEN_NOTE)
        cell.source = "\n".join(lines)
        points = meta.get("points", 0)
        summary = (f"Hidden test {'passed' if passed else 'failed'}"
                   f" ({points if passed else 0} of {points} points)"
                   + ("" if passed else f": {message}") + "\n")
        cell.outputs = [new_output("stream", name="stdout", text=summary)]
    return autograded



# --- The summary: each graded cell named by exercise and behaviour ----------------

# "Hidden test: ...", "Visible check (format only): ...": the kind of test, said by the grade_id too.
_KIND_PREFIX = re.compile(r"^\s*(hidden|visible)\s+(?:tests?|checks?)\s*(?:\(([^)]*)\))?\s*:\s*", re.IGNORECASE)
BEHAVIOUR_LENGTH = 90  # characters of a behaviour shown in the summary (the whole docstring is its tooltip)


def _clause_ends(text: str) -> list[int]:
    """Positions where a clause ends outside brackets and quotes: before ", ", "; ", ": ", ". ".

    ``<p_u, q_i>`` counts as brackets, ``a < b`` does not.
    """
    ends, depth, quoted = [], 0, False
    for position, char in enumerate(text):
        after, before = text[position + 1:position + 2], text[position - 1:position] if position else " "
        if char == "`":
            quoted = not quoted
        elif quoted:
            continue
        elif char in "([{" or (char == "<" and after not in (" ", "")):
            depth += 1
        elif char in ")]}" or (char == ">" and before != " "):
            depth = max(depth - 1, 0)
        elif char in ",;:." and not depth and after == " ":
            ends.append(position)
    return ends


def short_behaviour(docstring: str, limit: int = BEHAVIOUR_LENGTH) -> tuple[str, str]:
    """(kind detail, behaviour) of a test docstring: its "Hidden test (...):" prefix removed, cut short.

    The behaviour is the docstring's first sentence; when that is longer than
    ``limit``, it ends at the last clause that fits if that keeps at least
    half of it, else at a word, with "…".
    """
    text = " ".join(docstring.split())
    detail = ""
    prefix = _KIND_PREFIX.match(text)
    if prefix:
        detail, text = (prefix.group(2) or "").strip(), text[prefix.end():]
    sentence_end = next((end for end in _clause_ends(text) if text[end] == "."), None)
    if sentence_end is not None:
        text = text[:sentence_end]
    text = text.rstrip(".")
    if len(text) > limit:
        fitting = [end for end in _clause_ends(text) if limit // 2 <= end <= limit]
        if fitting:
            text = text[:fitting[-1]]
        else:
            text = text[:limit].rsplit(" ", 1)[0] + "…"
    return detail, text


@dataclass
class GradedCell:
    """One graded cell of a feedback page, as the summary names it."""

    grade_id: str
    exercise: str
    behaviour: str  # what it checks, in a few words
    kind: str  # "hidden", "visible, format only", "written answer", ...
    points: float
    score: float | None  # None: not graded yet (a written answer waiting for a human)
    description: str = ""  # the whole docstring

    @property
    def label(self) -> str:
        """``gravity — the value equals the definition (hidden)``."""
        return f"{self.exercise} — {self.behaviour} ({self.kind})"

    @property
    def behaviour_html(self) -> str:
        """The behaviour, HTML-escaped, with its `quoted` names as code."""
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.behaviour, quote=False))

    @property
    def outcome(self) -> str:
        """``passed``, ``failed``, ``partial`` or ``pending``."""
        if self.score is None:
            return "pending"
        if self.score >= self.points:
            return "passed"
        return "failed" if self.score <= 0 else "partial"

    def line(self) -> str:
        """``gravity — the value equals the definition (hidden): 0 / 3``."""
        return f"{self.label}: {format_points(self.score)} / {format_points(self.points)}"


@dataclass
class ExerciseSummary:
    """The graded cells of one exercise, in notebook order, and their total."""

    exercise: str
    cells: list[GradedCell] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(cell.points for cell in self.cells)

    @property
    def score(self) -> float:
        return sum(cell.score or 0 for cell in self.cells)

    @property
    def pending(self) -> bool:
        """Some cell still waits for a human grade."""
        return any(cell.score is None for cell in self.cells)

    def line(self) -> str:
        """``gravity: 4 / 9``."""
        return f"{self.exercise}: {format_points(self.score)} / {format_points(self.points)}"


def format_points(value: float | None) -> str:
    """3.0 -> "3", 1.5 -> "1.5", None -> "?"."""
    if value is None:
        return "?"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def graded_cell(cell: NotebookNode) -> GradedCell | None:
    """The summary's view of a cell, None for an ungraded one."""
    meta = nbgrader_meta(cell)
    grade_id = str(meta.get("grade_id") or "")
    if not (meta.get("grade") or meta.get("task")) or not grade_id:
        return None
    source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
    is_code = cell.get("cell_type") == "code"
    docstring = cell_docstring(source) if is_code else ""
    detail, behaviour = short_behaviour(docstring) if docstring else ("", "")
    after = next((grade_id.split(marker, 1)[1] for marker in GRADE_ID_MARKERS if marker in grade_id), "")
    if meta.get("task"):
        kind = "task"
    elif meta.get("solution"):
        kind = "code answer" if is_code else "written answer"
    elif "_visible" in grade_id:
        kind = "visible"
    elif "_hidden" in grade_id or HIDDEN_BEGIN in source or HIDDEN_NOTE in source:
        kind = "hidden"
    else:
        kind = "visible"
    if detail:
        kind = f"{kind}, {detail}"
    if not behaviour:
        behaviour = after.strip("_").replace("_", " ") or ("your answer" if meta.get("solution") else grade_id)
    score = meta.get("score")
    return GradedCell(grade_id=grade_id, exercise=exercise_of(grade_id), behaviour=behaviour, kind=kind,
                      points=float(meta.get("points") or 0),
                      score=None if score is None else float(score), description=docstring)


def feedback_summary(notebook: NotebookNode) -> list[ExerciseSummary]:
    """The graded cells grouped by exercise, in the order the exercises first appear.

    Scores are the ``score`` nbgrader's GetGrades puts in each cell's
    metadata while it renders feedback (None where it has none).
    """
    exercises: dict[str, ExerciseSummary] = {}
    for cell in notebook.cells:
        graded = graded_cell(cell)
        if graded is not None:
            exercises.setdefault(graded.exercise, ExerciseSummary(graded.exercise)).cells.append(graded)
    return list(exercises.values())
