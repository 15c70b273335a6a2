"""All rules. Importing this package registers every rule in `registry.RULES`."""

from __future__ import annotations

from . import budgets, config, pitfalls  # noqa: F401  (registration side effect)
from .registry import RULES, Rule, rule

__all__ = ["RULES", "Rule", "rule"]
