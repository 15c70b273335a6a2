"""Output formats for findings: full/concise text (rich), json, sarif, github."""

from __future__ import annotations

from .formats import FORMATS, render

__all__ = ["FORMATS", "render"]
