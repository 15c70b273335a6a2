"""ARC305 `unused-suppression`: An `# archcheck: ignore[CODE]` comment that suppressed nothing.

Decided outside the static rules (by the spec loader (spec/ reports a load problem,
rules/load.py names it)); this file gives the code its name, severity, pytest item and docs
page, and `RULES["ARC305"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC305",
    "unused-suppression",
    "warning",
    "config",
    """
    An `# archcheck: ignore[CODE]` comment that suppressed nothing.

    ## What it does
    Reports suppression comments whose codes produced no finding on that line (or, for
    `ignore-file`, anywhere in the file).

    ## Why is this bad?
    Stale suppressions hide the next real problem on that line and mislead readers about which
    budgets the model actually misses (the same reasoning as ruff's RUF100).

    ## Example
    ```toml
    [train]
    bptt = 512  # archcheck: ignore[ARC207]
    ```

    ## Use instead
    ```toml
    [train]
    bptt = 512
    ```

    ## References
    - ruff RUF100 unused-noqa: https://docs.astral.sh/ruff/rules/unused-noqa/
""",
    concern="config",
)
