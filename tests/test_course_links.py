"""The "Open in Colab" links and the Colab branch of every setup cell.

The sources say ``{{ colab_url }}`` and ``{{ repository_url }}``; nbgrader
fills them in from ``pyproject.toml`` while generating the student versions
(grader/course_links.py), with the student edition's address, never the
private instructor repository's. The last test runs a release setup cell the way
Colab would: in a fresh environment where ``google.colab`` is importable, the
helper package not installed and no data on disk.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from grader.course_links import colab_url, fill_links, instructor_repository_url, repository_url

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(ROOT.glob("solutions/*/*.ipynb"))
RELEASES = sorted(ROOT.glob("notebooks/*/*.ipynb"))


def cell_texts(path: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]]


def test_fill_links_replaces_both_placeholders():
    text = "[Open]({{ colab_url }}) and pip install git+{{repository_url}}"
    filled = fill_links(text, "03_measuring_error", "03_measuring_error", "https://github.com/me/fork")
    assert filled == (
        "[Open](https://colab.research.google.com/github/me/fork/blob/main/notebooks/"
        "03_measuring_error/03_measuring_error.ipynb) and pip install git+https://github.com/me/fork")


def test_the_student_edition_must_be_a_github_address(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project.urls]\n"Student edition" = "https://gitlab.com/me/fork"\n')
    with pytest.raises(ValueError, match=r"\[project.urls\] Student edition must be a GitHub"):
        repository_url(pyproject)
    # The instructor repository is no substitute: it is private, Colab could not install from it.
    pyproject.write_text('[project.urls]\nRepository = "https://github.com/me/course"\n')
    with pytest.raises(ValueError, match="Student edition .* not ''"):
        repository_url(pyproject)
    assert instructor_repository_url(pyproject) == "https://github.com/me/course"


def test_students_are_sent_to_the_student_edition_not_the_instructor_repository():
    assert repository_url() != instructor_repository_url()


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.parent.name)
def test_sources_link_to_colab_and_install_from_the_repository(source):
    title, setup = cell_texts(source)[:2]
    assert "({{ colab_url }})" in title, "the title cell has no Open in Colab link"
    assert 'if "google.colab" in sys.modules:' in setup
    assert "git+{{ repository_url }}" in setup
    assert setup.index("google.colab") < setup.index("rc.setup_notebook("), (
        "Colab must install the package before the notebook imports it")


@pytest.mark.parametrize("release", RELEASES, ids=lambda p: p.parent.name)
def test_student_versions_carry_the_filled_in_links(release):
    texts = cell_texts(release)
    assert not any("{{" in text and "_url }}" in text for text in texts), "a placeholder is left"
    own_link = colab_url(release.parent.name, release.stem)
    assert f"({own_link})" in texts[0]
    assert f"git+{repository_url()}" in texts[1]
    instructor = instructor_repository_url().removeprefix("https://github.com/")
    leaking = [text for text in texts if re.search(re.escape(instructor) + r"(?![\w.-])", text)]
    assert not leaking, "a student notebook points at the private instructor repository"


def colab_like_environment(venv: Path, stack: Path) -> Path:
    """A venv that sees the course venv's packages (Colab has its own stack) but not the course.

    ``stack`` gets a link to every entry of the course venv's site-packages
    except the helper package's own (its metadata and editable-install
    hooks), so that pip sees the dependencies as installed and the package
    as missing, as in a fresh Colab session.
    """
    # --upgrade-deps: a current pip, as Colab has (the one Python 3.11 bundles rejects git+file URLs)
    subprocess.run([sys.executable, "-m", "venv", "--upgrade-deps", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    stack.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower().replace("-", "_")
        if "recsys_course" not in name and not name.endswith(".pth"):
            (stack / entry.name).symlink_to(entry)
    (Path(site) / "colab_stack.pth").write_text(f"{stack}\n")
    return python


@pytest.mark.slow
@pytest.mark.network
def test_colab_setup_cell_installs_the_package_and_fetches_the_data(tmp_path):
    """Runs notebook 3's released setup cell with google.colab present, from a clone of this repo."""
    clone = tmp_path / "clone"  # a full clone: pip hangs cloning a shallow one
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    venv = tmp_path / "colab"
    python = colab_like_environment(venv, tmp_path / "stack")
    home = tmp_path / "home"
    home.mkdir()
    release = ROOT / "notebooks/03_measuring_error/03_measuring_error.ipynb"
    setup = cell_texts(release)[1].replace(repository_url(), clone.as_uri())
    script = textwrap.dedent(f"""
        import sys, types
        sys.modules["google.colab"] = types.ModuleType("google.colab")  # what Colab has
        try:
            import recsys_course
        except ImportError:
            pass
        else:
            sys.exit("recsys_course was importable before the setup cell ran: " + recsys_course.__file__)
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_cell({setup!r}).raise_error()
        ratings, num_users, num_movies = (shell.user_ns[name] for name in ("ratings", "num_users", "num_movies"))
        import recsys_course
        print("INSTALLED", recsys_course.__file__)
        print("RATINGS", len(ratings), "USERS", num_users, "MOVIES", num_movies)
    """)
    env = {key: value for key, value in os.environ.items()
           if key not in ("RECSYS_COURSE_DATA", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = subprocess.run([str(python), "-c", script], cwd=home, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"INSTALLED {venv}" in result.stdout, result.stdout[-2000:]
    assert "RATINGS 100000 USERS 943 MOVIES 1682" in result.stdout, result.stdout[-2000:]
    assert (home / "recsys_course_data" / "ml-100k" / "u.data").is_file()
