"""Every rule code, importable without the rules themselves (they import pydantic and the
formulas): the CLI validates --select/--ignore with it before deciding whether the cache alone
can answer. It is read from the rule files' names (`rules/arcNNN_<name>.py`), one directory
listing and no import, so that adding a rule file adds its code here too;
tests/cli/test_cache.py asserts it equals `rules.RULES`."""

from __future__ import annotations

import os
import re

RULE_FILE = re.compile(r"arc(\d{3})_\w+")
_RULES_DIR = os.path.join(os.path.dirname(__file__), "rules")


def _codes() -> tuple[str, ...]:
    codes = set()
    for entry in os.listdir(_RULES_DIR):
        stem, ext = os.path.splitext(entry)
        m = RULE_FILE.fullmatch(stem)
        if m and ext == ".py":
            codes.add(f"ARC{m.group(1)}")
    return tuple(sorted(codes))


RULE_CODES: tuple[str, ...] = _codes()
