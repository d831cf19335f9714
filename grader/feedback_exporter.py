"""The exporter nbgrader's ``generate_feedback`` uses for the course's feedback pages.

``grader/nbgrader_config.py`` sets ``GenerateFeedback.exporter_class`` to
:class:`FeedbackExporter`, so ``grade`` (which runs nbgrader's converter,
:mod:`grader.grade_one`) and an instructor's ``nbgrader generate_feedback``
or the formgrader's "Generate feedback" button on a hub write the same page:
nbgrader's feedback template (``grader/templates/recsys_feedback``) with

- a summary naming each graded cell by exercise and behaviour and totalling
  the points per exercise (:func:`grader.feedback.feedback_summary`);
- MathJax inside the page (:mod:`grader.mathjax_offline`), so that formulas
  typeset without a network, when the notebook has any.

nbgrader's formgrader forces ``HTMLExporter.template_name = 'feedback'``
when it generates feedback; this exporter sets its template itself, so that
setting does not bring back nbgrader's page.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from jinja2 import BytecodeCache, FileSystemLoader, PrefixLoader
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat import NotebookNode
from traitlets import Enum

from . import mathjax_offline
from .disk_memo import remembered
from .feedback import feedback_summary, format_points

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "recsys_feedback"

_log = logging.getLogger(__name__)

# Markdown math as Jupyter reads it: $…$, $$…$$, \(…\), \[…\], \begin{…}.
_MATH = re.compile(r"\$[^$\n]+\$|\$\$|\\\(|\\\[|\\begin\{")
_MATH_OUTPUTS = ("text/latex", "text/markdown")


def nbgrader_templates() -> str:
    """The folder of nbgrader's own templates (its ``feedback`` template is our base)."""
    import nbgrader

    return str(Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates")


def _bootstrap_css() -> str:
    return str(Path(nbgrader_templates()).parent / "static" / "node_modules" / "bootstrap" / "dist" / "css")


def has_math(notebook: NotebookNode) -> bool:
    """Whether any markdown cell or output of ``notebook`` holds TeX for MathJax."""
    for cell in notebook.cells:
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown" and _MATH.search(source):
            return True
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if any(kind in data for kind in _MATH_OUTPUTS):
                return True
    return False


def inline_mathjax() -> str:
    """The script with MathJax inside, or (with a warning) from its CDN when it cannot be installed."""
    try:
        return mathjax_offline.loader_html()
    except (mathjax_offline.MathJaxError, OSError) as error:
        _log.warning("feedback formulas will need a network: %s (run: python -m grader.mathjax_offline)", error)
        return mathjax_offline.cdn_loader_html()


class _CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory: a grading worker compiles the page's twenty templates once,
    not once per notebook (jinja2 checks each template's source checksum before reusing it)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self._code:
            bucket.bytecode_from_string(self._code[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()


class _RememberedHighlight:
    """nbconvert's code highlighting, each cell's result kept on disk for the run's other workers.

    Most code cells of a feedback page are the course's (test cells, given code) and the same in
    every notebook of an assignment; highlighting them is a third of rendering a page. The folder
    is the run's cache (``RECSYS_GRADER_CELL_ANALYSIS_CACHE``, set by the grader); without it,
    nothing is kept.
    """

    def __init__(self, highlight: Highlight2HTML):
        self.highlight = highlight
        cache = os.environ.get("RECSYS_GRADER_CELL_ANALYSIS_CACHE")
        self.folder = Path(cache) / "highlighted" if cache else None

    def __call__(self, source, language=None, metadata=None):
        magics = (metadata or {}).get("magics_language")  # the one field of metadata nbconvert reads
        key = repr((source, language, magics, self.highlight.pygments_lexer, self.highlight.extra_formatter_options))
        return remembered(self.folder, key, lambda: self.highlight(source, language, metadata), str)
_MATHJAX_MARK = "<!-- recsys-feedback: MathJax goes here -->"
_IMAGE_WITHOUT_ALT = re.compile(r"<img(?![^>]*\salt=)", re.IGNORECASE)
_NO_ALT_TEXT = "No description has been provided for this image"  # HTMLExporter's words


class FeedbackExporter(HTMLExporter):
    """HTMLExporter with the course's feedback template and its filters."""

    mathjax = Enum(["inline", "cdn"], default_value="inline", help=(
        "inline: MathJax inside each page with formulas (+0.96 MB a page, typesets offline, also when a "
        "student downloads the page alone); cdn: MathJax 3 from its CDN (small pages, formulas need a "
        "network).")).tag(config=True)

    def __init__(self, config=None, **kw):
        # Before HTMLExporter's constructor: it reads the template's conf.json
        # (its template paths are fixed from then on).
        kw.setdefault("template_name", TEMPLATE_NAME)
        kw.setdefault("extra_template_basedirs", [str(TEMPLATES), nbgrader_templates()])
        # Our template extends nbgrader's by the name nbgrader/feedback/index.html.j2;
        # nbgrader's includes bootstrap.min.css, which GenerateFeedback finds for it
        # (found here too, so that the exporter also works on its own).
        kw.setdefault("extra_loaders", [PrefixLoader({"nbgrader": FileSystemLoader(nbgrader_templates())}),
                                        FileSystemLoader(_bootstrap_css())])
        super().__init__(config=config, **kw)

    def _create_environment(self):
        environment = super()._create_environment()
        environment.bytecode_cache = _COMPILED_TEMPLATES
        return environment

    def default_filters(self):
        yield from super().default_filters()
        yield ("feedback_summary", feedback_summary)
        yield ("format_points", format_points)
        yield ("feedback_mathjax", self.mathjax_html)

    def mathjax_html(self, notebook: NotebookNode) -> str:
        """What the page's end gets: a mark where MathJax goes, when the notebook has formulas."""
        return _MATHJAX_MARK if has_math(notebook) else ""

    def from_notebook_node(self, nb, resources=None, **kw):
        """The page, without HTMLExporter's last pass.

        That pass parses the whole page with BeautifulSoup to give images an
        alt text and JupyterLab's cells a ``tabindex``: a third of a grading
        worker's CPU time, for a page (nbgrader's feedback, on nbconvert's
        classic template) that has no JupyterLab cells. Images get their alt
        text here by a regular expression; MathJax goes in last.
        """
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        resources = self._init_resources(resources)
        # The two filters HTMLExporter registers before rendering, as it does.
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", _RememberedHighlight(Highlight2HTML(pygments_lexer=lexer, parent=self))))
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        html = _IMAGE_WITHOUT_ALT.sub(f'<img alt="{_NO_ALT_TEXT}"', html)
        if _MATHJAX_MARK in html:
            script = inline_mathjax() if self.mathjax == "inline" else mathjax_offline.cdn_loader_html()
            html = html.replace(_MATHJAX_MARK, script, 1)
        return html, resources


def compile_templates() -> None:
    """Render a one-cell page, so that the templates are compiled in this process (a grading
    worker template calls it: each notebook's worker, forked from it, then starts with them)."""
    from nbformat.v4 import new_code_cell, new_notebook

    resources = {"nbgrader": {"notebook": "warm-up", "score": 0, "max_score": 0, "late_penalty": 0}}
    try:
        FeedbackExporter().from_notebook_node(new_notebook(cells=[new_code_cell("pass")]), resources=resources)
    except Exception as error:  # noqa: BLE001 -- only a head start: the real pages compile them anyway
        _log.debug("feedback templates not compiled ahead: %s", error)
