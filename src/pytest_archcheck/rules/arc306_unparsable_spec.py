"""ARC306 `unparsable-spec`: A spec file or pyproject.toml that is not valid TOML, or cannot be
read at all.

Decided outside the static rules (by the spec loader (spec/ reports a load problem,
rules/load.py names it)); this file gives the code its name, severity, pytest item and docs
page, and `RULES["ARC306"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC306",
    "unparsable-spec",
    "error",
    "config",
    """
    A spec file or pyproject.toml that is not valid TOML, or cannot be read at all.

    ## What it does
    Reports the TOML syntax error with the line the parser names, instead of a traceback; a
    file that cannot be read (not UTF-8 text, a dangling link) is reported at line 1, and the
    other files are still checked.

    ## Why is this bad?
    Nothing in a file that cannot be parsed is checked, so every budget in it is silently off.

    ## Example
    ```toml
    [budget
    memory = "24 GiB"
    ```

    ## Use instead
    ```toml
    [budget]
    memory = "24 GiB"
    ```

    ## References
    - TOML v1.0.0 specification: https://toml.io/en/v1.0.0
""",
    concern="config",
    load_kinds=("unparsable",),
)
