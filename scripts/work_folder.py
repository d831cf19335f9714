"""Seed a student's work folder from the course's student notebooks.

Students write their answers in ``my-notebooks/`` (git-ignored), never in the
tracked ``notebooks/``: pulling an updated course then never conflicts with
their work. Each start copies what is new (a notebook added by the update, a
data file beside it) and leaves every file the student already has exactly as
it is, even when the course's copy changed; it says which ones differ, so the
student can open the new version side by side.

Usage::

    python scripts/work_folder.py [--release notebooks] [--work my-notebooks]
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# nbgrader's Validate button and `nbgrader validate` read nbgrader_config.py from the folder
# they run in: without it they give a cell 30 s (training cells take longer) and a cell's
# last output 4 s (under load, a fatal error), and warn that no config was found.
VALIDATE_CONFIG = """\
# Settings of nbgrader's Validate button for this course (written once; yours to change).
c = get_config()
c.Execute.timeout = 300  # seconds a cell may run: training cells take more than the default 30
c.Execute.iopub_timeout = 60  # seconds to wait for a cell's last output on a busy laptop
"""


@dataclass
class Seeding:
    """What one seeding did, as paths relative to the work folder."""

    added: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # the student's copy, left as it was
    updated_upstream: list[str] = field(default_factory=list)  # kept, but the course's copy changed


def _release_files(release: Path) -> list[Path]:
    """The files students receive, without editor debris (checkpoints, caches, hidden files)."""
    return sorted(
        path for path in release.rglob("*")
        if path.is_file() and not any(
            part.startswith(".") or part == "__pycache__" for part in path.relative_to(release).parts)
    )


def seed_work_folder(release: Path, work: Path) -> Seeding:
    """Copy into ``work`` every file of ``release`` that ``work`` does not have yet.

    Never overwrites: a file that exists in ``work`` is the student's, whatever
    it holds. The copy goes through a temporary name and a rename, so an
    interrupted start leaves either no file or a whole one.
    """
    if not release.is_dir():
        raise FileNotFoundError(f"{release}: no student notebooks here (is this the course repository?)")
    result = Seeding()
    for source in _release_files(release):
        relative = source.relative_to(release)
        target = work / relative
        if target.exists():
            result.kept.append(relative.as_posix())
            if not filecmp.cmp(source, target, shallow=False):
                result.updated_upstream.append(relative.as_posix())
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copy2(source, partial)
        partial.replace(target)
        result.added.append(relative.as_posix())
    config = work / "nbgrader_config.py"
    if not config.exists():
        config.write_text(VALIDATE_CONFIG)
        result.added.append(config.name)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, default=ROOT / "notebooks")
    parser.add_argument("--work", type=Path, default=ROOT / "my-notebooks")
    args = parser.parse_args(argv)
    try:
        result = seed_work_folder(args.release, args.work)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = args.work.name
    if result.added:
        print(f"==> {where}/: {len(result.added)} new file(s): " + ", ".join(result.added))
    if result.updated_upstream:
        print(f"==> {where}/: your copy kept; the course has a newer version of: "
              + ", ".join(result.updated_upstream)
              + f" (in {args.release.name}/, open it beside yours)")
    if not result.added and not result.updated_upstream:
        print(f"==> {where}/: up to date ({len(result.kept)} file(s), all yours)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
