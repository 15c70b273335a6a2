"""Every rule code, importable without the rules themselves (they import pydantic and the
formulas): the CLI validates --select/--ignore with it before deciding whether the cache alone
can answer. It is read from the rule files' names (`rules/arcNNN_<name>.py`), one directory
listing and no import, so that adding a rule file adds its code here too;
tests/cli/test_cache.py asserts it equals `rules.RULES`."""

from __future__ import annotations

import os
import re

_RULES_DIR = os.path.join(os.path.dirname(__file__), "rules")


RULE_FILE = re.compile(r"arc(\d{3})_(\w+)")


def _names() -> dict[str, str]:
    """Code -> the rule's name, from its file name (arc101_train_memory_over_budget.py ->
    "train-memory-over-budget")."""
    names = {}
    for entry in os.listdir(_RULES_DIR):
        stem, ext = os.path.splitext(entry)
        m = RULE_FILE.fullmatch(stem)
        if m and ext == ".py":
            names[f"ARC{m.group(1)}"] = m.group(2).replace("_", "-")
    return dict(sorted(names.items()))


RULE_NAMES: dict[str, str] = _names()
RULE_CODES: tuple[str, ...] = tuple(RULE_NAMES)

# Selectors (selection.py), here so that the CLI can spell them without importing pydantic:
EXTEND = "+"  # `--extend-select ARC205` travels as "+ARC205" beside the --select codes
ALL = "ARC"  # every rule, as a selector (the shortest prefix all codes share)
