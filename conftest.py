"""Marks for the solution notebooks that pytest runs with nbval (``--nbval-lax``).

Every cell of ``solutions/*/*.ipynb`` runs on the real data and the asserts
inside the notebooks check their key numbers; ``-m "not notebooks"`` skips them
during quick work.
"""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.notebooks)
