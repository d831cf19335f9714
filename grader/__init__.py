"""Instructor tooling: generate the student notebooks and autograde with nbgrader.

- ``grader/nbgrader_config.py``: the course's nbgrader configuration;
- ``python -m grader.release [--check]``: ``solutions/`` -> ``notebooks/``;
- ``grader.nbgrader_helpers``: run nbgrader on the course or a throwaway copy.
"""
