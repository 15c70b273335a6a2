"""`pytest --archcheck examples/` (issue 17, "Done when"): an item with no budget to check is
SKIPPED with the reason, never PASSED over nothing. The expectation is read from the example
specs themselves (tomllib), not from the plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # 3.10: the backport
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[2]


def test_examples_items_without_budgets_are_skipped_with_reasons() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=str(ROOT / "src"), ARCHCHECK_NO_CACHE="1", COLUMNS="300")
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", "-v",
         "--archcheck", "examples/"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    ).stdout  # fmt: skip
    rows = re.findall(r"^(\S+\.archcheck\.toml)::(\S+)::(\w+) (PASSED|FAILED|SKIPPED)(.*)$",
                      out, flags=re.M)  # fmt: skip
    assert rows, out
    skipped = [r for r in rows if r[3] == "SKIPPED"]
    assert skipped, out
    for _, _, concern, _, reason in skipped:  # every skip says which budget is missing
        assert re.search(rf"no {concern} budget: declare \[budget\] ", reason), reason
    latency = [r for r in rows if r[2] == "latency"]
    assert latency
    for path, model, _, outcome, _ in latency:
        doc = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))
        has_budget = "p95_latency" in doc.get("budget", {})
        assert (outcome == "SKIPPED") == (not has_budget), (path, model, outcome)
