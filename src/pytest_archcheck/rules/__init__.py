"""All rules. Importing this package imports every `arcNNN_*.py` module in it, and each
registers its rule in `registry.RULES`: adding a rule is adding one file (as in ruff)."""

from __future__ import annotations

import importlib
import pkgutil

from ..codes import RULE_FILE
from .load import load_findings
from .registry import CONCERNS, RULES, Concern, Rule, codes_of, document, rule


def _discover() -> None:
    """Import every rule module of this package, in code order (RULES is ordered by code)."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if RULE_FILE.fullmatch(info.name):
            importlib.import_module(f"{__name__}.{info.name}")


_discover()

__all__ = ["CONCERNS", "RULES", "Concern", "Rule", "codes_of", "document", "load_findings", "rule"]
