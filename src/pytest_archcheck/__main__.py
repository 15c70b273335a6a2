"""`python -m pytest_archcheck` runs the `archcheck` CLI."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
