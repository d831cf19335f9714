"""Values kept on disk between the grading workers of one run.

Each notebook's worker is a new process, so what it computes in memory is
lost when it exits; the same cells (the course's test cells, the unchanged
parts of the release) come back in every notebook of an assignment. A value
computed from a cell's text alone is kept in a folder of the run, named by the
hash of its key, written whole or not at all (other workers write at once).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def remembered(folder: Path | None, key: str, compute: Callable[[], T], kind: type) -> T:
    """``compute()``, read from ``folder`` if an earlier worker kept it there under ``key``.

    A missing, unreadable or foreign file (not a ``kind``) is computed again
    and replaced. ``folder`` None: no disk, just ``compute()``.
    """
    stored = Path(folder) / (hashlib.sha256(key.encode()).hexdigest() + ".pickle") if folder else None
    try:
        value = pickle.loads(stored.read_bytes()) if stored else None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError):
        value = None
    if isinstance(value, kind):
        return value
    value = compute()
    if stored:
        try:
            stored.parent.mkdir(parents=True, exist_ok=True)
            partial = stored.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(pickle.dumps(value))
            os.replace(partial, stored)
        except OSError:
            pass  # only a head start for the next worker
    return value
