"""The solution notebooks run on the libraries Google Colab ships, not only on the lock's.

Students on Colab ``pip install`` the helper package into Colab's stack
(older pandas, numpy, TensorFlow, altair 5, ...). ``requirements-colab.txt``
pins that stack; this module builds it in ``.venv-colab/`` with uv (rebuilt
only when the pin file changes: a stamp file holds the pins it was built
from), installs the helper package there with ``--no-deps``, and runs every
notebook of ``solutions/`` with ``pytest --nbval-lax`` in that environment on
the real data: the notebooks' own asserts check their results (two notebooks at a time, each
in its own pytest process: a notebook's kernel keeps about one core busy). Outside Colab
the notebooks draw their charts with the course's offline renderer, so
tests/test_notebook_setup.py runs there too, on altair 5.

A cheap test also checks that pyproject.toml's dependency ranges accept the
pinned stack, so that installing the package on Colab upgrades nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from nbval_runner import report, run_all

REPO = Path(__file__).resolve().parent.parent
PINS = REPO / "requirements-colab.txt"
ENV = REPO / ".venv-colab"
STAMP = ENV / ".installed-colab"
PYTHON = ENV / "bin" / "python"
# The CPU-only build stands in for Colab's `tensorflow`: the same package for pip's purposes.
SAME_PACKAGE = {"tensorflow-cpu": "tensorflow"}
SAME_PACKAGE_INVERSE = {value: key for key, value in SAME_PACKAGE.items()}
BUILD_TIMEOUT = 1200  # a fresh machine downloads TensorFlow (about 250 MB)
NOTEBOOK_TIMEOUT = 600  # one notebook (or the renderer's tests) in its own pytest process
# The notebooks run in this many pytest processes at once (the CI machine has 2 cores).
WORKERS = 2
# Measured seconds of each solution notebook here (2 cores, CI): only the order of the jobs
# depends on them (the slowest first, so that the workers finish together); a notebook not
# listed is taken as the slowest. The test prints the times it measures.
MEASURED_SECONDS = {
    "11_neighbourhoods_and_spark": 100, "09_keras_matrix_factorization": 95, "10_two_towers": 50,
    "06_regularization": 40, "07_softmax_model": 35, "08_evaluating_recommenders": 35,
    "05_inspecting_embeddings": 30, "04_matrix_factorization": 25, "03_measuring_error": 16,
    "01_exploring_movielens": 12, "02_sparse_rating_matrix": 11, "test_notebook_setup": 2,
}


def colab_pins() -> dict[str, str]:
    """``{name: version}`` of requirements-colab.txt, the CPU build of TensorFlow named ``tensorflow``."""
    pins = {}
    for line in PINS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        if match:
            name = canonicalize_name(match[1])
            pins[SAME_PACKAGE.get(name, name)] = match[2]
    return pins


def test_dependency_ranges_accept_the_colab_stack() -> None:
    """Installing the helper package into Colab's stack must leave that stack as it is."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = colab_pins()
    rejected = []
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} (a dependency of the package) is not pinned in {PINS.name}"
        if not requirement.specifier.contains(pins[name], prereleases=True):
            rejected.append(f"{spec} rejects Colab's {name}=={pins[name]}")
    assert not rejected, "pip would change Colab's libraries: " + "; ".join(rejected)


def _uv() -> str:
    uv = Path(sys.executable).with_name("uv")
    if not uv.exists():
        pytest.fail(f"uv not found next to {sys.executable}: run bash scripts/setup.sh")
    return str(uv)


def _run(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert result.returncode == 0, (f"{' '.join(command)} failed ({result.returncode}):\n"
                                    f"{(result.stdout + result.stderr)[-6000:]}")
    return result


@pytest.fixture(scope="session")
def colab_python() -> Path:
    """Python of .venv-colab, built from requirements-colab.txt unless built from these pins already."""
    pins = PINS.read_text()
    if not (PYTHON.exists() and STAMP.is_file() and STAMP.read_text() == pins):
        uv, env = _uv(), {**os.environ, "VIRTUAL_ENV": str(ENV)}
        _run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(ENV)], 120)
        _run([uv, "pip", "install", "--quiet", "--python", str(PYTHON), "-r", str(PINS)],
             BUILD_TIMEOUT, env=env)
        _run([uv, "pip", "install", "--quiet", "--python", str(PYTHON), "--no-deps", "-e", str(REPO)],
             300, env=env)
        STAMP.write_text(pins)
    # The helper package in .venv-colab is this checkout (an editable install of another one would lie).
    located = _run([str(PYTHON), "-c", "import recsys_course; print(recsys_course.__file__)"], 120)
    assert Path(located.stdout.strip()).resolve().is_relative_to(REPO), located.stdout
    return PYTHON


@pytest.mark.slow
@pytest.mark.notebooks
def test_colab_environment_has_colab_versions(colab_python: Path) -> None:
    """What .venv-colab holds is what the pins say (uv resolved nothing else)."""
    pins = colab_pins()
    names = {SAME_PACKAGE_INVERSE.get(name, name): name for name in pins}
    code = ("import json, sys; from importlib.metadata import version; "
            "print(json.dumps({name: version(name) for name in sys.argv[1:]}))")
    result = _run([str(colab_python), "-c", code, *names], 120)
    installed = {names[name]: version for name, version in json.loads(result.stdout).items()}
    wrong = {name: (installed[name], pins[name]) for name in pins if installed[name] != pins[name]}
    assert not wrong, f"installed versions differ from the pins (installed, pinned): {wrong}"


@pytest.mark.slow
@pytest.mark.notebooks
def test_solution_notebooks_run_on_the_colab_stack(colab_python: Path, movielens_dir: Path) -> None:
    """Every solution notebook, executed with nbval in .venv-colab on the real data.

    The chart renderer's own tests run there too (altair 5 there, 6 in the lock). Each
    notebook runs in its own pytest process, ``WORKERS`` of them at a time.
    """
    notebooks = sorted((REPO / "solutions").glob("*/*.ipynb"))
    assert notebooks, "no solution notebooks found"
    env = {**os.environ,
           "PATH": os.pathsep.join([str(colab_python.parent), os.environ.get("PATH", "")]),
           "VIRTUAL_ENV": str(ENV),
           "RECSYS_COURSE_DATA": str(movielens_dir.parent),
           "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # ipykernel 6.17's debugger notice on stderr
           "JUPYTER_PLATFORM_DIRS": "1"}
    results = run_all(colab_python, [REPO / "tests" / "test_notebook_setup.py", *notebooks], env,
                      workers=WORKERS, timeout=NOTEBOOK_TIMEOUT, measured=MEASURED_SECONDS)
    failures = report(results, f"on the Colab stack ({PINS.name})")
    assert not failures, "\n\n".join(failures)
