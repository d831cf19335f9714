"""One call at the top of every notebook: ``setup_notebook()``.

It makes runs repeatable (seeds) and quiet: nbgrader scores a test cell 0 if
anything reaches stderr, and TensorFlow writes notices there. Call it before
the first ``import tensorflow`` of the notebook.

It also makes altair's charts draw without a network connection, in
JupyterLab and in exported HTML (nbconvert, nbgrader feedback): see
:func:`use_offline_charts`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import json
import logging
import os
import random
import sys
import uuid
import warnings
from pathlib import Path

import numpy as np

DEFAULT_SEED = 42


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ and Python notices out of cell outputs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow's C++ core loads
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # silences the oneDNN rounding notice
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", module="keras")
    warnings.filterwarnings("ignore", module="tensorflow")


@contextlib.contextmanager
def _c_level_stderr_silenced():
    """Send what C code writes to file descriptor 2 to the null device for a while.

    TensorFlow's C++ core prints CUDA probing notices while it loads, before
    any log level applies; Jupyter would show them in red under the cell.
    """
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tensorflow_quietly():
    """Import TensorFlow with its start-up notices silenced; return the module."""
    quiet_tensorflow()
    with _c_level_stderr_silenced():
        import tensorflow as tf
    return tf


def seed_everything(seed: int = DEFAULT_SEED, tensorflow: bool = True) -> None:
    """Seed Python, NumPy and, if ``tensorflow``, TensorFlow and Keras."""
    random.seed(seed)
    np.random.seed(seed)
    if tensorflow:
        import_tensorflow_quietly().keras.utils.set_random_seed(seed)


def setup_notebook(seed: int = DEFAULT_SEED, tensorflow: bool = True) -> None:
    """Quiet TensorFlow, seed every generator, and let altair chart the course's tables.

    A notebook that does not use TensorFlow passes ``tensorflow=False`` and
    saves its import (20 s on a slow laptop). The course's tables have up to
    100,000 rows; altair refuses more than 5,000 by default, so the limit is
    lifted (charts aggregate before drawing). Charts draw offline
    (:func:`use_offline_charts`), except in Colab, whose own renderer is kept.
    """
    quiet_tensorflow()
    seed_everything(seed, tensorflow)
    skip_iri_grammar()
    import altair as alt

    alt.data_transformers.disable_max_rows()
    use_offline_charts()


def skip_iri_grammar() -> None:
    """Spare altair's import the 1.5 s grammar build of ``rfc3987_syntax`` (a fifth of a notebook's start).

    altair imports jsonschema, which imports ``rfc3987_syntax`` when it is installed (JupyterLab's
    packages bring it) only to check strings of the "iri" format, which no chart of the course has;
    made unimportable, jsonschema leaves that one format unchecked. Not done once it is imported.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


# --- Charts that draw offline ------------------------------------------------------
#
# altair's default renderer writes HTML that loads Vega from a CDN (blank charts
# without a network), and JupyterLab's own Vega renderer knows Vega-Lite only
# up to version 5, while altair 6 writes version 6. So the course renders
# charts itself, as HTML that needs nothing from outside:
#
# - setup_notebook() displays, once, a script holding the JavaScript of Vega,
#   Vega-Lite and vega-embed (the bundle vl-convert-python builds, about 0.9 MB,
#   gzipped and base64-encoded to about 0.4 MB) in the setup cell's output;
# - each chart's output is its spec plus a few lines of script that draw it
#   with that library as soon as it is loaded (a chart rendered before the
#   library, as when a saved notebook is reopened, waits in a queue).
#
# The same outputs work in JupyterLab (trusted outputs run their scripts) and
# in any HTML export of the executed notebook (nbconvert, nbgrader feedback).

OFFLINE_RENDERER = "recsys_course_offline"
_REGISTRY = "recsysCourseVega"  # window[_REGISTRY][vega-lite version] = vegaEmbed
_QUEUE = "recsysCourseVegaQueue"  # window[_QUEUE][vega-lite version] = [draw, ...]
_LOADING = "recsysCourseVegaLoading"
# SVG rather than vega-embed's default canvas: sharp at any zoom, and each mark
# is an element (the browser test finds them). The actions menu keeps its
# exports and views of the spec, less 'Open in Vega Editor' (a web site).
DEFAULT_EMBED_OPTIONS = {"renderer": "svg",
                         "actions": {"export": True, "source": True, "compiled": True, "editor": False}}


def in_colab() -> bool:
    """True inside Google Colab, whose kernel has imported ``google.colab``."""
    return "google.colab" in sys.modules


def use_offline_charts() -> str:
    """Make altair draw charts with JavaScript held in the notebook; return the renderer's name.

    In Colab nothing changes (Colab's renderer works there). Without
    vl-convert-python (a dependency of the ``course`` extra), altair's own
    renderer stays, which needs a network connection; so it does, with a
    note on stdout, if the library cannot be built.
    """
    import altair as alt

    if in_colab():
        return alt.renderers.active
    try:
        loader = vega_loader_html()
    except ImportError:
        return alt.renderers.active
    except Exception as error:  # never let the charts stop a notebook's setup
        print(f"recsys_course: charts will need a network connection ({type(error).__name__}: {error})")
        return alt.renderers.active
    alt.renderers.register(OFFLINE_RENDERER, offline_chart_renderer)
    alt.renderers.enable(OFFLINE_RENDERER)
    _display_in_kernel({"text/html": loader, "text/plain": ""})
    return OFFLINE_RENDERER


def _display_in_kernel(bundle: dict) -> None:
    """Display a MIME bundle when running in a Jupyter kernel (not in plain Python or a terminal)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        display(bundle, raw=True)


def vegalite_version() -> str:
    """The Vega-Lite version whose JavaScript draws altair's charts: ``'6.4'`` for altair 6.3.

    altair's schema version (``v6.4.1``), or the closest older version of the
    same major version that vl-convert-python bundles.
    """
    import altair as alt
    import vl_convert

    wanted = tuple(int(part) for part in alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    available = sorted(tuple(int(part) for part in version.split("."))
                       for version in vl_convert.get_vegalite_versions())
    same_major = [version for version in available if version[0] == wanted[0]]
    if not same_major:
        raise ImportError(f"vl-convert-python bundles no Vega-Lite {wanted[0]} (altair {alt.__version__})")
    older = [version for version in same_major if version <= wanted]
    return ".".join(map(str, (older or same_major)[-1]))


def _cache_dir() -> Path | None:
    from .data_home import cache_home

    try:
        return cache_home()
    except RuntimeError:  # no home folder
        return None


def environment_chart_folder() -> Path:
    """``<environment>/share/recsys_course``: a copy of the library for every user of the environment.

    ``scripts/setup.sh`` fills it once (:func:`save_chart_library`), so that
    kernels with an empty home folder (the grader gives each submission one)
    read the library instead of building it; they see it read-only.
    """
    return Path(sys.prefix) / "share" / "recsys_course"


def _read_bundle(path: Path) -> bytes | None:
    """The saved library at ``path``, or None if it is missing or damaged."""
    try:
        data = path.read_bytes()
        return data if _REGISTRY.encode() in gzip.decompress(data) else None
    except Exception:  # missing, unreadable or damaged: build it again
        return None


def _bundle_name(version: str) -> str:
    from importlib.metadata import version as package_version

    return f"vega-embed-vl{version}-vlconvert{package_version('vl-convert-python')}.js.gz"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.replace(path)


@functools.lru_cache(maxsize=None)
def vega_bundle_gzip(version: str) -> bytes:
    """Vega, Vega-Lite ``version`` and vega-embed as one gzipped script (about 0.3 MB).

    The script sets ``window.recsysCourseVega[version]`` to ``vegaEmbed``.
    vl-convert-python takes a few seconds (and 120 MB) to build it, so it is
    kept in ``~/.cache/recsys_course`` (``$XDG_CACHE_HOME``) when that is
    writable, and read from :func:`environment_chart_folder` when there.
    """
    name = _bundle_name(version)
    cache = _cache_dir()
    path = cache / name if cache is not None else None
    for candidate in (path, environment_chart_folder() / name):
        data = _read_bundle(candidate) if candidate is not None else None
        if data is not None:
            return data
    import vl_convert

    snippet = (f"window.{_REGISTRY} = window.{_REGISTRY} || {{}};\n"
               f"window.{_REGISTRY}[{json.dumps(version)}] = vegaEmbed;")
    script = vl_convert.javascript_bundle(snippet=snippet, vl_version=version)
    data = gzip.compress(script.encode(), compresslevel=9, mtime=0)
    if path is not None:
        with contextlib.suppress(OSError):
            _write_atomically(path, data)
    return data


def save_chart_library(cache_folder: Path) -> Path:
    """Put the chart library in ``cache_folder``, where a kernel whose cache that is finds it.

    For a grader that gives each kernel a fresh home folder: call it once per
    kernel with ``<home>/.cache/recsys_course`` (or ``$XDG_CACHE_HOME/recsys_course``),
    so that the kernel's ``setup_notebook()`` reads the library instead of
    spending seconds building it. Returns the file written.
    """
    version = vegalite_version()
    path = Path(cache_folder) / _bundle_name(version)
    _write_atomically(path, vega_bundle_gzip(version))
    return path


_LOADER = """\
<script type="text/javascript">
// recsys_course: Vega, Vega-Lite %(version)s and vega-embed for the charts of this notebook (no network needed).
(function (version, gzipped) {
  var registry = window.%(registry)s = window.%(registry)s || {};
  var queues = window.%(queue)s = window.%(queue)s || {};
  var loading = window.%(loading)s = window.%(loading)s || {};
  function drawQueued() {
    var queue = queues[version] || [];
    queues[version] = [];
    queue.forEach(function (draw) { draw(registry[version]); });
  }
  if (registry[version]) { drawQueued(); return; }
  if (loading[version]) return;
  loading[version] = true;
  var bytes = Uint8Array.from(atob(gzipped), function (c) { return c.charCodeAt(0); });
  var text = new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  text.then(function (code) {
    new Function(code)();
    drawQueued();
  }).catch(function (error) {
    loading[version] = false;
    console.error("recsys_course: could not load the chart library", error);
  });
})(%(version_json)s, "%(data)s");
</script>
"""


def vega_loader_html(version: str | None = None) -> str:
    """HTML with the script that loads the chart library; ``setup_notebook`` displays it once."""
    version = version or vegalite_version()
    return _LOADER % {"version": version, "version_json": json.dumps(version), "registry": _REGISTRY,
                      "queue": _QUEUE, "loading": _LOADING,
                      "data": base64.b64encode(vega_bundle_gzip(version)).decode("ascii")}


_CHART = """\
<div id="%(id)s" class="recsys-course-chart"><p style="color: gray">[chart: drawn by the JavaScript
that <code>setup_notebook()</code> puts in the setup cell's output; if it stays empty, run the setup cell, then this cell]</p></div>
<script type="text/javascript">
(function (version, spec, embedOptions) {
  var element = document.currentScript && document.currentScript.previousElementSibling;
  if (!element || element.id !== "%(id)s") element = document.getElementById("%(id)s");
  function draw(vegaEmbed) {
    if (!element) return;
    element.textContent = "";
    vegaEmbed(element, spec, embedOptions).catch(function (error) {
      element.textContent = "The chart could not be drawn: " + error;
      console.error(error);
    });
  }
  var registry = window.%(registry)s || {};
  if (registry[version]) { draw(registry[version]); return; }
  var queues = window.%(queue)s = window.%(queue)s || {};
  (queues[version] = queues[version] || []).push(draw);
})(%(version_json)s, %(spec)s, %(embed_options)s);
</script>
"""


def _script_json(value) -> str:
    """JSON that can sit inside a ``<script>`` element (no ``</script>`` in a title can end it)."""
    return (json.dumps(value, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def offline_chart_renderer(spec: dict, embed_options: dict | None = None, **metadata) -> dict:
    """altair renderer: the chart as HTML drawn by the library :func:`vega_loader_html` loads."""
    version = vegalite_version()
    options = {**DEFAULT_EMBED_OPTIONS, "mode": "vega-lite", **(embed_options or {})}
    html = _CHART % {"id": f"recsys-course-chart-{uuid.uuid4().hex}", "registry": _REGISTRY,
                     "queue": _QUEUE, "version_json": json.dumps(version),
                     "spec": _script_json(spec), "embed_options": _script_json(options)}
    return {"text/html": html, "text/plain": f"<altair chart (Vega-Lite {version})>"}
