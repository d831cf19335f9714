"""Extract a zip export safely, and tell OS and editor debris from submissions.

No absolute paths or ``..`` (zip slip), no symlinks, real bytes counted
against a per-file and a total cap (zip bombs), encrypted entries refused,
``__MACOSX`` and ``.ipynb_checkpoints`` skipped. Each entry not extracted is
returned as a :class:`SkippedEntry` saying why; nothing raises for one bad entry.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .statuses import IntakeStatus

IGNORED, UNSAFE_PATH, TOO_LARGE, UNREADABLE = (
    IntakeStatus.IGNORED, IntakeStatus.UNSAFE_PATH, IntakeStatus.TOO_LARGE, IntakeStatus.UNREADABLE)


@dataclass(frozen=True)
class ExtractLimits:
    """Caps against zip bombs: bytes actually written, not the sizes the archive claims."""

    max_file_bytes: int = 256 * 1024**2
    max_total_bytes: int = 4 * 1024**3
    max_entries: int = 100_000


@dataclass(frozen=True)
class SkippedEntry:
    """An entry of the archive left out, and why."""

    relpath: str
    status: IntakeStatus
    message: str


IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
_IGNORED_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def ignored_reason(parts: tuple[str, ...]) -> str | None:
    if any(part in IGNORED_PARTS for part in parts[:-1]):
        return "editor, OS or archiver debris folder"
    if parts[-1] in _IGNORED_FILES or parts[-1].startswith("._"):
        return "OS metadata file"
    return None


def _safe_parts(name: str) -> tuple[str, ...] | str:
    """The path parts of a zip entry, or why it may not be extracted."""
    name = name.replace("\\", "/")  # archives made on Windows
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path in the archive"
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        return "'..' in the path: it would be written outside the extraction folder (zip slip)"
    if not parts or any("\x00" in p or len(p.encode()) > 255 for p in parts):
        return "unusable file name"
    return parts


def extract_zip(archive: Path, dest: Path, limits: ExtractLimits = ExtractLimits()) -> list[SkippedEntry]:
    """Extract ``archive`` into ``dest`` safely; return records of the entries not extracted."""
    records: list[SkippedEntry] = []
    total = 0
    dest = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        entries = [i for i in zf.infolist() if not i.is_dir()]
        for number, info in enumerate(entries):
            relpath = info.filename.replace("\\", "/")

            parts = _safe_parts(info.filename)
            if number >= limits.max_entries:
                records.append(SkippedEntry(relpath, TOO_LARGE, f"more than {limits.max_entries} entries in the archive"))
                continue
            if isinstance(parts, str):
                records.append(SkippedEntry(relpath, UNSAFE_PATH, parts))
                continue
            relpath = "/".join(parts)
            target = dest.joinpath(*parts)
            if stat.S_ISLNK(info.external_attr >> 16):
                records.append(SkippedEntry(relpath, UNSAFE_PATH, "symbolic link in the archive"))
            elif reason := ignored_reason(parts):
                records.append(SkippedEntry(relpath, IGNORED, reason))
            elif info.flag_bits & 0x1:
                records.append(SkippedEntry(relpath, UNREADABLE, "encrypted entry (password-protected zip)"))
            elif not target.resolve().is_relative_to(dest):  # belt and braces: parts are clean already
                records.append(SkippedEntry(relpath, UNSAFE_PATH, "resolves outside the extraction folder"))
            elif target.exists():
                records.append(SkippedEntry(relpath, IGNORED, "a second entry with the same name"))
            else:
                budget = min(limits.max_file_bytes, limits.max_total_bytes - total)
                try:
                    written = _copy_capped(zf, info, target, budget)
                except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as error:
                    target.unlink(missing_ok=True)
                    records.append(SkippedEntry(relpath, UNREADABLE, f"cannot extract: {error}"))
                    continue
                if written is None:
                    cap = "the per-file cap" if budget == limits.max_file_bytes else "the total size cap"
                    records.append(SkippedEntry(relpath, TOO_LARGE, f"larger than {cap} ({budget} bytes)"))
                else:
                    total += written
    return records


def _copy_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, budget: int) -> int | None:
    """Copy one entry, counting real bytes; None (and nothing left behind) past the budget."""
    target.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(info) as source, open(target, "wb") as sink:
        while chunk := source.read(1024 * 1024):
            written += len(chunk)
            if written > budget:
                break
            sink.write(chunk)
    if written > budget:
        target.unlink()
        return None
    return written
