"""ARC301 `unknown-key`: A spec or `[tool.archcheck]` key that archcheck does not know.

Decided outside the static rules (by the spec loader (spec/ reports a load problem,
rules/load.py names it)); this file gives the code its name, severity, pytest item and docs
page, and `RULES["ARC301"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC301",
    "unknown-key",
    "error",
    "config",
    """
    A spec or `[tool.archcheck]` key that archcheck does not know.

    ## What it does
    Reports keys and tables that are not part of the spec schema, with the closest known key
    (or the table where the key belongs) as a suggestion.

    ## Why is this bad?
    A misspelt key is silently ignored by most config readers: `memroy = "8 GiB"` would leave
    the memory budget unchecked while the spec looks as if it asserts one.

    ## Example
    ```toml
    [budget]
    memroy = "24 GiB"
    ```

    ## Use instead
    ```toml
    [budget]
    memory = "24 GiB"
    ```

    ## References
    - `archcheck schema` prints the JSON Schema of every table.
""",
    concern="config",
    load_kinds=("unknown-key",),
)
