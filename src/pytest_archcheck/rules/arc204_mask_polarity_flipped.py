"""ARC204 `mask-polarity-flipped`: A boolean mask of the opposite convention: True = attend versus
True = blocked.

Decided outside the static rules (by the behavioural checks in behaviour/ under `--probe`); this
file gives the code its name, severity, pytest item and docs page, and
`RULES["ARC204"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC204",
    "mask-polarity-flipped",
    "error",
    "behaviour",
    """
    A boolean mask of the opposite convention: True = attend versus True = blocked.

    ## What it does
    Under `--probe`, inspects boolean masks at each attention call: SDPA treats True as
    *attend*, `nn.MultiheadAttention` treats True as *blocked*, and Hugging Face
    `attention_mask` uses 1 = keep. A mask that blocks the real tokens and keeps the padding,
    or a causal mask with the triangle on the wrong side, is reported with the fix (`~mask`).

    ## Why is this bad?
    A flipped mask lets the model attend to padding (or to the future) and ignore real tokens;
    training still converges to something, so the bug surfaces only as poor accuracy.

    ## Example
    ```python
    mha(x, x, x, key_padding_mask=batch["attention_mask"].bool())  # HF 1 = keep
    ```

    ## Use instead
    ```python
    mha(x, x, x, key_padding_mask=~batch["attention_mask"].bool())
    ```

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html
""",
    concern="pitfalls",
)
