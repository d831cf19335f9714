"""pyproject.toml, requirements.lock and environment.yml agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lock)


def test_every_direct_dependency_is_pinned_in_the_lock():
    pins = lock.lock_pins((ROOT / "requirements.lock").read_text())
    missing = [name for name in lock.direct_dependencies() if name not in pins]
    assert not missing, f"run `python scripts/lock.py`: {missing} are not in requirements.lock"


def test_environment_yml_pins_the_same_versions_as_the_lock():
    pins = lock.lock_pins((ROOT / "requirements.lock").read_text())
    conda = lock.lock_pins((ROOT / "environment.yml").read_text().replace("      - ", ""))
    assert conda == {name: pins[name] for name in lock.direct_dependencies()}, (
        "environment.yml disagrees with requirements.lock: run `python scripts/lock.py`")
    assert (ROOT / "environment.yml").read_text() == lock.environment_yml(pins)


def test_the_installed_packages_are_the_locked_ones():
    from importlib.metadata import PackageNotFoundError, version

    pins = lock.lock_pins((ROOT / "requirements.lock").read_text())
    wrong = {}
    for name in lock.direct_dependencies():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = None
        if installed != pins[name]:
            wrong[name] = (installed, pins[name])
    assert not wrong, f"installed vs locked: {wrong}; run `bash scripts/setup.sh`"
