"""Charts draw in a real browser, without the network: JupyterLab and nbgrader feedback.

Headless Chromium (Debian's ``chromium`` and ``chromedriver``, which
``.ci/run`` installs) driven by Selenium:

- JupyterLab on a copy of ``solutions/01_exploring_movielens`` and the real
  data: run every cell, then every altair chart has drawn its marks, the
  dropdown filter and the hover tooltips work, and no cell shows an error or
  stderr;
- the nbgrader feedback of a real autograde of the same assignment (on the
  synthetic data), opened as a file: every chart has drawn, every formula is
  typeset by the MathJax inside the page (grader/mathjax_offline.py), and its
  summary names the tests.

In both, no request may leave the machine. Chromium's DevTools log records
every request the pages make (``goog:loggingPrefs``), and a host resolver rule
makes any name other than ``localhost`` fail to resolve, so that a chart that
needs a CDN stays blank here as it would offline. The ``browser`` fixture
first checks that a request to a CDN is indeed recorded.

Screenshots go to ``artifacts/screenshots/`` (with the page's console log and
HTML when a check fails).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ASSIGNMENT = "01_exploring_movielens"  # altair charts with selections, no TensorFlow: fast
CHART = ".recsys-course-chart"  # the element recsys_course.notebook's renderer draws into
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about", "file", "chrome", "chrome-error", "devtools"}
CANARY_URL = "https://cdn.jsdelivr.net/npm/vega@6"  # what altair's default renderer loads
# Feedback pages carry MathJax (grader/feedback_exporter.py): none may remain.
FEEDBACK_MATHJAX_CDNS = ("cdnjs.cloudflare.com/ajax/libs/mathjax", "cdn.jsdelivr.net/npm/mathjax")

SERVER_TIMEOUT = 90  # JupyterLab answering
KERNEL_TIMEOUT = 120  # notebook open, kernel idle
RUN_TIMEOUT = 300  # every cell of the notebook run (about 20 s on 2 cores)
DRAW_TIMEOUT = 60  # charts drawn once their cell has run


def _require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    message = (f"{' and '.join(missing)} missing: apt-get install -y chromium chromium-driver "
               "(.ci/run does it)")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES or not parts.scheme:
        return False
    return (parts.hostname or "") not in LOCAL_HOSTS


class Browser:
    """A Selenium Chrome driver that keeps every URL the pages requested."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.requested: list[str] = []
        self.console: list[dict] = []

    def collect(self) -> None:
        """Move what Chromium logged since the last call into ``requested`` and ``console``."""
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self.requested.append(message["params"]["request"]["url"])
            elif message.get("method") == "Network.webSocketCreated":
                self.requested.append(message["params"]["url"])
        self.console.extend(self.driver.get_log("browser"))

    def reset(self) -> None:
        self.collect()
        self.requested.clear()
        self.console.clear()

    def external_requests(self) -> list[str]:
        self.collect()
        return sorted({url for url in self.requested if _is_external(url)})

    def console_errors(self) -> list[str]:
        self.collect()
        return [entry["message"] for entry in self.console if entry.get("level") == "SEVERE"]

    def wait(self, what: str, condition: Callable[[], object], timeout: float, poll: float = 0.5):
        """Return ``condition()`` once truthy; fail after ``timeout`` seconds saying ``what``."""
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(self.driver, timeout, poll_frequency=poll,
                             ignored_exceptions=(StaleElementReferenceException,))
        try:
            return wait.until(lambda _: condition())
        except TimeoutException:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None
        except Exception as error:
            raise AssertionError(f"failed while waiting for {what}: {error!r}") from error

    def screenshot(self, name: str, element=None) -> Path:
        """Save the window (or one element) as ``artifacts/screenshots/<name>.png``."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        if element is None:
            self.driver.save_screenshot(str(path))
        else:
            element.screenshot(str(path))
        return path

    def chart_screenshot(self, name: str, element) -> Path:
        """Screenshot of one chart's output, whole: in a window tall enough to show it."""
        size = self.driver.get_window_size()
        self.driver.set_window_size(size["width"], max(size["height"], 1800))
        try:
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
            time.sleep(0.3)  # let the page lay out at its new size (the screenshot is all that waits)
            return self.screenshot(name, element)
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def dump(self, name: str) -> str:
        """Save a screenshot, the page's HTML and console log; return where, and the log."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with_log = []
        try:
            self.collect()
            self.driver.save_screenshot(str(ARTIFACTS / f"{name}-failure.png"))
            (ARTIFACTS / f"{name}-failure.html").write_text(self.driver.page_source)
        except Exception as error:  # the browser itself may be what failed
            with_log.append(f"(could not save the page: {error!r})")
        log = "\n".join(f"  [{entry.get('level')}] {entry.get('message')}" for entry in self.console)
        (ARTIFACTS / f"{name}-console.log").write_text(log + "\n")
        with_log.append(f"screenshot, page and console log in {ARTIFACTS}/{name}-failure.*")
        with_log.append("browser console:\n" + (log or "  (empty)"))
        return "\n".join(with_log)

    @contextlib.contextmanager
    def diagnosing(self, name: str) -> Iterator[None]:
        """On a failed check, save the page and add its console log to the failure."""
        try:
            yield
        except Exception as error:
            raise AssertionError(f"{error}\n{self.dump(name)}") from error


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium that cannot resolve any host but localhost; checked to record requests."""
    _require_browser()
    for stale in ARTIFACTS.glob("*-failure.*"):
        stale.unlink()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--disable-extensions", "--disable-component-update",
                     "--disable-default-apps", "--disable-sync", "--no-first-run",
                     "--window-size=1400,1000", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER),
                      log_output=str(tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(120)
    driver.set_script_timeout(60)
    browser = Browser(driver)
    try:
        # Self-check: a request to a CDN must show up as external.
        driver.get("data:text/html,<title>canary</title>")
        driver.execute_script(f"fetch({json.dumps(CANARY_URL)}).catch(function () {{}});")
        browser.wait("the canary request in the DevTools log",
                     lambda: CANARY_URL in [url.rstrip("/") for url in browser.external_requests()], 20)
        browser.reset()
        yield browser
    finally:
        driver.quit()


# --- JupyterLab -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lab_settings(settings: Path) -> None:
    """User settings: no news toast (it would ask to fetch a web feed)."""
    folder = settings / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True)
    (folder / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory, movielens_dir: Path) -> Iterator[str]:
    """JupyterLab on a copy of the assignment's solution, reading the real data; yields its URL."""
    home = tmp_path_factory.mktemp("jupyterlab")
    work = home / "work"
    work.mkdir()
    shutil.copy(REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", work)
    _lab_settings(home / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ,
           "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
           "RECSYS_COURSE_DATA": str(movielens_dir.parent),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    log = (home / "jupyterlab.log").open("w")
    server = subprocess.Popen(
        [str(bin_dir / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read the model
         "--allow-root",  # CI runs as root
         "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"JupyterLab exited ({server.returncode}):\n"
                                 f"{(home / 'jupyterlab.log').read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        deadline = time.monotonic() + SERVER_TIMEOUT
        while not answering():
            if time.monotonic() > deadline:
                raise AssertionError(f"JupyterLab did not answer within {SERVER_TIMEOUT} s:\n"
                                     f"{(home / 'jupyterlab.log').read_text()[-4000:]}")
            time.sleep(0.5)
        yield f"{base}/lab/tree/{ASSIGNMENT}.ipynb?token={token}"
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# JavaScript run in JupyterLab's page (window.jupyterapp is exposed by the server option).
_NOTEBOOK = "var panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
KERNEL_IDLE_JS = _NOTEBOOK + """
var kernel = panel && panel.sessionContext && panel.sessionContext.session
             && panel.sessionContext.session.kernel;
return !!(kernel && kernel.status === 'idle' && panel.content && panel.content.model);
"""
RUN_STATE_JS = _NOTEBOOK + """
var kernel = panel.sessionContext.session.kernel;
var cells = panel.content.model.cells, code = 0, done = 0, errors = [], stderr = [], charts = 0;
for (var i = 0; i < cells.length; i++) {
  var cell = cells.get(i);
  if (cell.type !== 'code') continue;
  code += 1;
  if (cell.executionCount !== null && cell.executionCount !== undefined) done += 1;
  for (var j = 0; j < cell.outputs.length; j++) {
    var output = cell.outputs.get(j).toJSON();
    if (output.output_type === 'error') errors.push('cell ' + i + ': ' + output.ename + ': ' + output.evalue);
    if (output.output_type === 'stream' && output.name === 'stderr') stderr.push('cell ' + i + ': ' + output.text);
    var html = output.data && output.data['text/html'];
    if (html && String(html).indexOf('recsys-course-chart') >= 0) charts += 1;
  }
}
return {kernel: kernel ? kernel.status : 'none', code: code, done: done, errors: errors, stderr: stderr,
        charts: charts};
"""
# Per chart: number of drawn marks (SVG paths, symbols, texts inside mark groups) and any error text.
CHARTS_JS = """
return Array.from(document.querySelectorAll('%s')).map(function (chart) {
  var svg = chart.querySelector('svg');
  return {marks: svg ? svg.querySelectorAll('g[class*="mark-"] path, g[class*="mark-"] line').length : 0,
          text: chart.textContent.slice(0, 200)};
});
""" % CHART


def _run_all_cells(browser: Browser) -> dict:
    driver = browser.driver
    browser.wait("the notebook open with an idle kernel", lambda: driver.execute_script(KERNEL_IDLE_JS),
                 KERNEL_TIMEOUT)
    # From a clean slate (no execution counts), so that 'every cell ran' means this run.
    driver.execute_script("return window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');")
    browser.wait("the outputs to be cleared", lambda: driver.execute_script(
        "return (function () {" + RUN_STATE_JS + "})().done === 0"), 30)
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def finished():
        state = driver.execute_script("return (function () {" + RUN_STATE_JS + "})();")
        stopped = state["kernel"] == "idle" and (state["done"] == state["code"] or state["errors"])
        return state if stopped else None

    # Give the run a moment to start, so that 'idle' is not the state from before it.
    browser.wait("the kernel to start running", lambda: driver.execute_script(
        "return (function () {" + RUN_STATE_JS + "})().done > 0"), 60, poll=0.2)
    return browser.wait("every cell to run", finished, RUN_TIMEOUT)


def _wait_for_charts(browser: Browser, expected: int) -> list[dict]:
    def drawn():
        charts = browser.driver.execute_script(CHARTS_JS)
        return charts if len(charts) >= expected and all(c["marks"] > 0 for c in charts) else None

    try:
        return browser.wait(f"{expected} charts to draw", drawn, DRAW_TIMEOUT)
    except AssertionError as error:
        raise AssertionError(f"{error}; charts: {browser.driver.execute_script(CHARTS_JS)}") from None


def _bar_fills(chart) -> list[str]:
    """Fill colours of the category bars (the chart's first mark group)."""
    return [path.get_attribute("fill") for path in
            chart.find_elements("css selector", "svg g.mark-rect")[0].find_elements("css selector", "path")]


def _histogram_shapes(chart) -> list[str]:
    """The outlines of the histograms' bars (every mark group but the first)."""
    groups = chart.find_elements("css selector", "svg g.mark-rect")[1:]
    return [path.get_attribute("d") for group in groups for path in group.find_elements("css selector", "path")]


def test_jupyterlab_draws_charts_offline(browser: Browser, jupyterlab: str) -> None:
    with browser.diagnosing("jupyterlab"):
        _check_jupyterlab(browser, jupyterlab)


def _check_jupyterlab(browser: Browser, jupyterlab: str) -> None:
    driver = browser.driver
    driver.get(jupyterlab)
    state = _run_all_cells(browser)
    assert not state["errors"], f"cells raised: {state['errors']}"
    assert state["done"] == state["code"], f"only {state['done']} of {state['code']} code cells ran"
    assert not state["stderr"], f"cells wrote to stderr: {state['stderr']}"
    assert state["charts"] >= 2, f"expected the occupation and genre charts, the outputs hold {state['charts']}"
    charts = _wait_for_charts(browser, state["charts"])
    assert len(charts) == state["charts"]
    shown = driver.find_elements("css selector", '[data-mime-type="application/vnd.jupyter.stderr"]')
    assert not shown, f"error or stderr outputs shown: {[element.text[:300] for element in shown]}"

    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});",
                          driver.find_elements("css selector", CHART)[0])
    browser.screenshot("jupyterlab-notebook")

    # In a window tall enough for the whole chart and its cell.
    size = driver.get_window_size()
    driver.set_window_size(size["width"], 1300)
    try:
        _check_chart_interaction(browser)
    finally:
        driver.set_window_size(size["width"], size["height"])

    # Saved and opened again (the outputs are trusted, their scripts run in page order):
    # the charts draw again from the saved outputs, without running anything.
    driver.execute_script("window.jupyterapp.commands.execute('docmanager:save');")
    browser.wait("the notebook to be saved", lambda: driver.execute_script(
        _NOTEBOOK + "return !panel.context.model.dirty;"), 60)
    driver.refresh()
    browser.wait("the notebook to open again", lambda: driver.execute_script(
        _NOTEBOOK + "return !!(panel && panel.content && panel.content.model && panel.context.isReady);"),
        KERNEL_TIMEOUT)
    _wait_for_charts(browser, state["charts"])

    assert browser.external_requests() == [], "requests left the machine"
    vega_errors = [message for message in browser.console_errors()
                   if "recsys_course" in message or "vega" in message.lower()]
    assert not vega_errors, f"chart errors in the console: {vega_errors}"


def _check_chart_interaction(browser: Browser) -> None:
    """The occupation chart: its dropdown filters the histograms, its bars have tooltips."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select

    driver = browser.driver
    user_chart = driver.find_elements("css selector", CHART)[0]
    driver.execute_script("arguments[0].closest('.jp-Cell').scrollIntoView({block: 'start'});", user_chart)
    browser.screenshot("jupyterlab-user-chart", user_chart)

    # The dropdown under the chart filters the histograms and greys out the other bars.
    fills, shapes = _bar_fills(user_chart), _histogram_shapes(user_chart)
    dropdown = Select(user_chart.find_element("css selector", ".vega-bindings select"))
    options = [option.get_attribute("text") for option in dropdown.options]
    assert options[0] == "All" and len(options) > 2, f"dropdown options: {options}"
    choice = "programmer" if "programmer" in options else options[1]
    dropdown.select_by_visible_text(choice)
    browser.wait(f"the histograms to show only {choice!r}",
                 lambda: _histogram_shapes(user_chart) != shapes and _bar_fills(user_chart) != fills, 20)
    browser.screenshot("jupyterlab-user-chart-filtered", user_chart)

    # Hovering a bar shows its tooltip, with the fields' titles.
    bars = user_chart.find_elements("css selector", "svg g.mark-rect")[0].find_elements("css selector", "path")
    bar = next((bar for bar in bars if bar.get_attribute("fill") == "steelblue"), bars[0])  # the chosen one
    ActionChains(driver).move_to_element(bar).perform()
    tooltip = browser.wait("the tooltip of a bar", lambda: driver.execute_script(
        "var t = document.getElementById('vg-tooltip-element');"
        "return t && t.classList.contains('visible') ? t.textContent : null;"), 20)
    assert "Occupation" in tooltip and "Users" in tooltip, f"tooltip: {tooltip!r}"
    browser.screenshot("jupyterlab-chart-filtered-tooltip")


# --- nbgrader feedback ------------------------------------------------------------------


@pytest.fixture(scope="module")
def feedback_html(tmp_path_factory: pytest.TempPathFactory, synthetic_dir: Path) -> Path:
    """The feedback page nbgrader writes for a student who handed in the solution (synthetic data)."""
    from grader.nbgrader_helpers import (
        ThrowawayCourse,
        fill_in_solutions,
        read_notebook,
        run_nbgrader,
    )

    course = ThrowawayCourse.create(tmp_path_factory.mktemp("course"), [ASSIGNMENT],
                                    kernel_env={"RECSYS_COURSE_DATA": str(synthetic_dir.parent)})
    course.generate(ASSIGNMENT)
    released = read_notebook(course.root / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    source = read_notebook(course.root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    course.submit(ASSIGNMENT, "student", fill_in_solutions(released, source))
    course.autograde(ASSIGNMENT, "student", timeout=600)
    # The course's exporter, which grader/nbgrader_config.py sets too (named here as well, so
    # that this test checks the page whatever that file says).
    run_nbgrader(["generate_feedback", f"--assignment={ASSIGNMENT}", "--student=student", "--force",
                  "--GenerateFeedback.exporter_class=grader.feedback_exporter.FeedbackExporter"],
                 course.env)
    feedback = (course.root / course.config.CourseDirectory["feedback_directory"] / "student"
                / ASSIGNMENT / f"{ASSIGNMENT}.html")
    assert feedback.is_file(), f"nbgrader wrote no feedback at {feedback}"
    return feedback


@pytest.mark.grader  # a real nbgrader autograde makes the page
def test_feedback_html_draws_charts_offline(browser: Browser, feedback_html: Path) -> None:
    with browser.diagnosing("feedback"):
        _check_feedback(browser, feedback_html)


def _check_feedback(browser: Browser, feedback_html: Path) -> None:
    driver = browser.driver
    browser.reset()
    driver.get(feedback_html.as_uri())
    html = feedback_html.read_text()
    expected = html.count('class="recsys-course-chart"')
    assert expected >= 2, f"the feedback holds {expected} chart outputs, expected the occupation and genre charts"
    assert "cdn.jsdelivr.net" not in html, "the feedback page loads Vega from a CDN"
    charts = _wait_for_charts(browser, expected)
    assert len(charts) == expected
    first = driver.find_elements("css selector", CHART)[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", first)
    browser.screenshot("feedback-page")
    browser.chart_screenshot("feedback-user-chart", first)
    _check_feedback_formulas(browser, html)
    assert browser.external_requests() == [], "requests left the machine"


# Once MathJax has typeset the page: what it drew, how long it took, and any TeX left as text.
FORMULAS_JS = """
var done = arguments[arguments.length - 1];
if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) { done(null); return; }
MathJax.startup.promise.then(function () {
  var text = Array.from(document.querySelectorAll('.text_cell_render'))
    .map(function (element) { return element.innerText; }).join('\\n');
  done({typeset: document.querySelectorAll('mjx-container svg').length,
        errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
        raw: (text.match(/\\$[^$\\n]{1,80}\\$/g) || []).slice(0, 5),
        ms: Math.round(performance.now())});
});
"""


def _check_feedback_formulas(browser: Browser, html: str) -> None:
    """The page's formulas are typeset offline by the MathJax inside it; the summary names the tests."""
    driver = browser.driver
    assert not any(cdn in html for cdn in FEEDBACK_MATHJAX_CDNS), "the feedback page loads MathJax from a CDN"
    state = browser.wait("MathJax to typeset the page",
                         lambda: driver.execute_async_script(FORMULAS_JS), DRAW_TIMEOUT)
    assert state["typeset"] >= 10, f"only {state['typeset']} formulas typeset (notebook 1 has 21): {state}"
    assert state["errors"] == 0, f"MathJax reported errors: {state}"
    assert state["raw"] == [], f"TeX left as text: {state['raw']}"
    print(f"feedback page: {len(html.encode()) / 1e6:.2f} MB, {state['typeset']} formulas typeset "
          f"{state['ms'] / 1000:.1f} s after the page started loading")
    summary = driver.find_element("css selector", "table.recsys-summary")
    text = summary.text
    assert "movie_rating_stats" in text and "split_dataframe" in text and "Test cell" not in text, text
    assert "(hidden)" in text and "(visible, format only)" in text, text
    browser.screenshot("feedback-summary", summary)
    widest = max(driver.find_elements("css selector", ".text_cell_render mjx-container"),
                 key=lambda formula: formula.size["width"])
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", widest)
    browser.screenshot("feedback-formulas")
