"""ARC205 `causal-leak`: A causal model whose output at position t depends on inputs after t.

Decided outside the static rules (by the behavioural checks in behaviour/ under `--probe`); this
file gives the code its name, severity, pytest item and docs page, and
`RULES["ARC205"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC205",
    "causal-leak",
    "error",
    "behaviour",
    """
    A causal model whose output at position t depends on inputs after t.

    ## What it does
    Under `--probe`, perturbs the inputs after t and checks that outputs at and before t are
    unchanged exactly, and that their gradients with respect to later inputs are exactly zero;
    also compares incremental decoding with the full forward when the model exposes it.

    ## Why is this bad?
    A leak lets training read the answer; validation loss looks excellent and generation fails.

    ## Example
    ```python
    F.scaled_dot_product_attention(q, k, v)  # forgot is_causal=True
    ```

    ## Use instead
    ```python
    F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ```

    ## References
    - Radford et al. 2018/2019, GPT: masked self-attention
""",
    concern="pitfalls",
)
