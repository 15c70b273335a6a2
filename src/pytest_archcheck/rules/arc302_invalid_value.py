"""ARC302 `invalid-value`: A spec value of the wrong type, out of range, or in an unknown unit.

Decided outside the static rules (by the spec loader (spec/ reports a load problem,
rules/load.py names it)); this file gives the code its name, severity, pytest item and docs
page, and `RULES["ARC302"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC302",
    "invalid-value",
    "error",
    "config",
    """
    A spec value of the wrong type, out of range, or in an unknown unit.

    ## What it does
    Validates every value against the schema (types, ranges, enumerations, units such as
    `"24 GiB"` and `"200 ms"`) and reports each failure at its line.

    ## Why is this bad?
    A budget that cannot be read cannot be enforced; guessing what `memory = "24 gigs"` means
    would make the gate pass or fail for the wrong reason.

    ## Example
    ```toml
    [train]
    dtype = "float16"
    batch = 0
    ```

    ## Use instead
    ```toml
    [train]
    dtype = "fp16"
    batch = 1
    ```

    ## References
    - `GiB`/`MiB` are powers of 1024, `GB`/`MB` powers of 1000 (IEC 80000-13).
""",
    concern="config",
    load_kinds=("invalid-value",),
)
