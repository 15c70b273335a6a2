"""ARC206 `padding-leak`: Outputs at real tokens change when padding changes.

Decided outside the static rules (by the behavioural checks in behaviour/ under `--probe`); this
file gives the code its name, severity, pytest item and docs page, and
`RULES["ARC206"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC206",
    "padding-leak",
    "error",
    "behaviour",
    """
    Outputs at real tokens change when padding changes.

    ## What it does
    Under `--probe`, changes the padding tokens (the spec's `pad_id` or the `mask_arg` mask) or
    appends padding, and checks that no output at a real token changes.

    ## Why is this bad?
    Predictions then depend on how a batch was padded: results differ between batch sizes and
    between training and serving.

    ## Example
    ```python
    encoder(x)  # no src_key_padding_mask; mean-pooling over padded positions
    ```

    ## Use instead
    ```python
    encoder(x, src_key_padding_mask=tokens.eq(pad_id)); masked mean pooling
    ```

    ## References
    - https://pytorch.org/docs/stable/generated/torch.nn.TransformerEncoder.html
""",
    concern="pitfalls",
)
