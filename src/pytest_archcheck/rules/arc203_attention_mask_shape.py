"""ARC203 `attention-mask-shape`: An attention mask whose shape does not match what the attention
API expects.

Decided outside the static rules (by the behavioural checks in behaviour/ under `--probe`); this
file gives the code its name, severity, pytest item and docs page, and
`RULES["ARC203"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC203",
    "attention-mask-shape",
    "error",
    "behaviour",
    """
    An attention mask whose shape does not match what the attention API expects.

    ## What it does
    Under `--probe`, intercepts every `scaled_dot_product_attention` and
    `nn.MultiheadAttention` call in a forward and checks each mask against the API's rules:
    `(L, S)` or `(B·h, L, S)` attention masks and `(B, S)` key-padding masks for
    MultiheadAttention, masks broadcastable to `(B, h, L, S)` for SDPA.

    ## Why is this bad?
    Broadcasting can turn a mis-shaped mask into one that applies to the wrong axis (a
    `(B, S)` padding mask broadcast over queries instead of keys) without any error.

    ## Example
    ```python
    F.scaled_dot_product_attention(q, k, v, attn_mask=pad_mask)  # pad_mask: (B, S)
    ```

    ## Use instead
    ```python
    F.scaled_dot_product_attention(q, k, v, attn_mask=pad_mask[:, None, None, :])
    ```

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html
    - https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html
""",
    concern="pitfalls",
)
