"""setup_notebook()'s chart renderer: charts that need nothing from the network.

Cheap checks of what the renderer writes; tests/test_browser.py checks that a
browser draws it.
"""

from __future__ import annotations

import base64
import gzip
import re
import sys
import types

import altair as alt
import pytest

from recsys_course import notebook

CDN_HOSTS = ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "esm.sh", "skypack")


@pytest.fixture
def renderer():
    """Restore altair's renderer (and its options) after the test."""
    active, options = alt.renderers.active, dict(alt.renderers.options)
    yield
    alt.renderers.enable(active, **options)


def _chart(title: str = "ratings") -> alt.Chart:
    selection = alt.selection_point(fields=["genre"], bind=alt.binding_select(options=[None, "Drama", "Comedy"]))
    data = alt.Data(values=[{"genre": "Drama", "n": 3}, {"genre": "Comedy", "n": 2}])
    return (alt.Chart(data, title=title).mark_bar()
            .encode(x="n:Q", y="genre:N", tooltip=[alt.Tooltip("genre:N", title="Genre")])
            .add_params(selection))


def _urls(text: str) -> list[str]:
    return re.findall(r"https?://[^\s\"'<>)]+", text)


def test_charts_use_the_offline_renderer(renderer) -> None:
    assert notebook.use_offline_charts() == notebook.OFFLINE_RENDERER
    assert alt.renderers.active == notebook.OFFLINE_RENDERER
    bundle = _chart()._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    html = bundle["text/html"]
    assert "recsys-course-chart" in html
    # Nothing loaded from anywhere: no script or stylesheet with a source, no CDN,
    # and the only URL is the spec's $schema (an identifier, never fetched).
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", html)
    assert not any(host in html for host in CDN_HOSTS), html[:500]
    assert all(url.startswith("https://vega.github.io/schema/vega-lite/") for url in _urls(html)), _urls(html)
    assert "requirejs" not in html and "import(" not in html
    assert len(html) < 20_000, "a tiny chart's output should be its spec and a few lines of script"


def test_loader_holds_the_whole_library() -> None:
    html = notebook.vega_loader_html()
    assert not re.search(r"<(script|link)[^>]*\s(src|href)=", html)
    data = re.search(r'"([A-Za-z0-9+/=]{100000,})"', html)
    assert data, "the loader holds no base64 library"
    script = gzip.decompress(base64.b64decode(data[1])).decode()
    version = notebook.vegalite_version()
    # The bundle registers vega-embed for this Vega-Lite version, and loads no module from anywhere.
    assert re.search(rf"""window\.recsysCourseVega\[["']{re.escape(version)}["']\]\s*=""", script), script[-300:]
    assert not re.search(r"""\bimport\s*\(\s*["'`]https?:""", script)
    assert not re.search(r"""^\s*import\s""", script, re.MULTILINE)
    assert 300_000 < len(html) < 1_000_000, f"loader is {len(html):,} characters"


def test_spec_cannot_close_the_script_element(renderer) -> None:
    notebook.use_offline_charts()
    html = _chart(title="</script><script>alert(1)</script>")._repr_mimebundle_()["text/html"]
    assert html.count("</script>") == 1
    assert "\\u003c/script\\u003e" in html


def test_embed_options_reach_vega_embed(renderer) -> None:
    notebook.use_offline_charts()
    alt.renderers.set_embed_options(theme="dark")
    html = _chart()._repr_mimebundle_()["text/html"]
    assert '"theme":"dark"' in html and '"renderer":"svg"' in html and '"editor":false' in html


def test_colab_keeps_its_own_renderer(renderer, monkeypatch) -> None:
    alt.renderers.enable("default")
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert notebook.in_colab()
    assert notebook.use_offline_charts() == "default"
    assert alt.renderers.active == "default"


def test_setup_notebook_displays_the_loader_only_in_a_kernel(renderer, capsys) -> None:
    notebook.setup_notebook(tensorflow=False)
    assert alt.renderers.active == notebook.OFFLINE_RENDERER
    assert capsys.readouterr().out == "", "outside a kernel nothing is displayed (nor printed)"


def test_vegalite_version_picks_what_vl_convert_bundles(monkeypatch) -> None:
    import vl_convert

    monkeypatch.setattr(vl_convert, "get_vegalite_versions", lambda: ["5.8", "5.20", "5.21", "6.1", "6.4"])
    monkeypatch.setattr(alt, "SCHEMA_VERSION", "v5.20.1")
    assert notebook.vegalite_version() == "5.20"
    monkeypatch.setattr(alt, "SCHEMA_VERSION", "v6.3.0")
    assert notebook.vegalite_version() == "6.1"  # the closest older one
    monkeypatch.setattr(alt, "SCHEMA_VERSION", "v7.0.0")
    with pytest.raises(ImportError):
        notebook.vegalite_version()


def _bundle_without_building(monkeypatch, version: str) -> bytes:
    """vega_bundle_gzip(version) read afresh, failing if it builds the library instead of reading it."""
    import vl_convert

    def no_build(*args, **kwargs):
        raise AssertionError("built the library although a saved copy exists")

    monkeypatch.setattr(vl_convert, "javascript_bundle", no_build)
    notebook.vega_bundle_gzip.cache_clear()
    try:
        return notebook.vega_bundle_gzip(version)
    finally:
        notebook.vega_bundle_gzip.cache_clear()


def test_a_saved_library_is_what_setup_reads(tmp_path, monkeypatch) -> None:
    """What save_chart_library writes is found by a kernel whose cache folder it is."""
    path = notebook.save_chart_library(tmp_path / "recsys_course")
    version = notebook.vegalite_version()
    assert path.parent == tmp_path / "recsys_course" and path.read_bytes() == notebook.vega_bundle_gzip(version)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _bundle_without_building(monkeypatch, version) == path.read_bytes()


def test_an_empty_home_reads_the_environments_copy(tmp_path, monkeypatch) -> None:
    """A kernel with a fresh home (as the grader runs them) reads the copy setup.sh saved in the environment."""
    version = notebook.vegalite_version()
    saved = notebook.save_chart_library(tmp_path / "env" / "share" / "recsys_course")
    monkeypatch.setattr(notebook, "environment_chart_folder", lambda: saved.parent)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-home-cache"))
    assert _bundle_without_building(monkeypatch, version) == saved.read_bytes()


def test_a_failing_library_build_falls_back_to_altair(renderer, monkeypatch, capsys) -> None:
    alt.renderers.enable("default")

    def broken(version=None):
        raise ValueError("no JavaScript today")

    monkeypatch.setattr(notebook, "vega_loader_html", broken)
    assert notebook.use_offline_charts() == "default"
    assert "network" in capsys.readouterr().out


def test_setup_spares_the_iri_grammar_and_charts_still_validate() -> None:
    """In a fresh interpreter: setup_notebook keeps rfc3987_syntax out, and altair still checks a chart."""
    import subprocess

    code = ("import sys\nimport recsys_course as rc\nrc.setup_notebook(tensorflow=False)\n"
            "import altair as alt, pandas as pd\n"
            "assert sys.modules.get('rfc3987_syntax') is None, 'rfc3987_syntax was imported'\n"
            "alt.Chart(pd.DataFrame({'a': [1, 2]})).mark_point().encode(x='a:Q').to_dict()\n"
            "try:\n    alt.Chart(pd.DataFrame({'a': [1]})).mark_point(opacity='half').encode(x='a:Q').to_dict()\n"
            "except alt.utils.schemapi.SchemaValidationError:\n    print('refused')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused" in result.stdout, "altair no longer validates charts"
