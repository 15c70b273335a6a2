"""The package version: the one source (pyproject.toml reads it, `dynamic = ["version"]`).

A plain assignment, so that setuptools reads it without importing the package, and so that
`import pytest_archcheck` needs no `importlib.metadata` (which imports email, zipfile and
csv: about 12 ms of every `archcheck` run and pre-commit hook call, more than the whole warm
static check of a small repository).
"""

__version__ = "0.1.0"
