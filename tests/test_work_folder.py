"""Students' answers live in my-notebooks/, seeded from notebooks/ and never overwritten."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from work_folder import seed_work_folder  # noqa: E402


def make_release(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def test_first_start_copies_every_notebook_and_skips_editor_debris(tmp_path):
    release = make_release(tmp_path / "notebooks", {
        "01_a/01_a.ipynb": "one", "02_b/02_b.ipynb": "two",
        "01_a/.ipynb_checkpoints/01_a-checkpoint.ipynb": "old", "02_b/__pycache__/x.pyc": "cache"})
    result = seed_work_folder(release, tmp_path / "work")
    assert result.added == ["01_a/01_a.ipynb", "02_b/02_b.ipynb", "nbgrader_config.py"]
    assert (tmp_path / "work" / "02_b" / "02_b.ipynb").read_text() == "two"
    # nbgrader's Validate button reads it: cells may run 300 s, their last output is awaited 60 s
    config = (tmp_path / "work" / "nbgrader_config.py").read_text()
    assert "c.Execute.timeout = 300" in config and "c.Execute.iopub_timeout = 60" in config
    assert not list((tmp_path / "work").rglob("*checkpoint*"))


def test_an_update_adds_new_notebooks_and_never_touches_answers(tmp_path):
    release = make_release(tmp_path / "notebooks", {"01_a/01_a.ipynb": "release v1"})
    work = tmp_path / "work"
    seed_work_folder(release, work)
    (work / "01_a" / "01_a.ipynb").write_text("my answers")
    (work / "nbgrader_config.py").write_text("c = get_config()  # my own settings")
    make_release(release, {"01_a/01_a.ipynb": "release v2", "08_new/08_new.ipynb": "new"})
    result = seed_work_folder(release, work)
    assert result.added == ["08_new/08_new.ipynb"]
    assert result.kept == ["01_a/01_a.ipynb"] and result.updated_upstream == ["01_a/01_a.ipynb"]
    assert (work / "01_a" / "01_a.ipynb").read_text() == "my answers"
    assert (work / "nbgrader_config.py").read_text() == "c = get_config()  # my own settings"
    assert not list(work.rglob(".*.partial"))


def test_a_missing_release_folder_is_a_clear_error(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "work_folder.py"), "--release",
                          str(tmp_path / "nowhere"), "--work", str(tmp_path / "work")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "no student notebooks here" in run.stderr


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "notebooks").iterdir() if p.is_dir()))
def test_the_course_release_seeds_each_assignment(tmp_path, assignment):
    result = seed_work_folder(ROOT / "notebooks", tmp_path / "work")
    assert f"{assignment}/{assignment}.ipynb" in result.added
