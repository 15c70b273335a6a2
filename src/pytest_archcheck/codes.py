"""Every rule code, importable without the rules themselves (they import pydantic and the
formulas): the CLI validates --select/--ignore with it before deciding whether the cache alone
can answer. tests/cli/test_cache.py asserts it equals `rules.RULES`."""

from __future__ import annotations

RULE_CODES: tuple[str, ...] = (
    *(f"ARC{n}" for n in range(101, 107)),
    *(f"ARC{n}" for n in range(201, 213)),
    *(f"ARC{n}" for n in range(301, 307)),
)
