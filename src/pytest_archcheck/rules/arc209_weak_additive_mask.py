"""ARC209 `weak-additive-mask`: An additive mask too weak for the score range, or fully-masked rows
that give NaN.

Decided outside the static rules (by the behavioural checks in behaviour/ under `--probe`); this
file gives the code its name, severity, pytest item and docs page, and
`RULES["ARC209"].finding(...)` builds its findings.
"""

from __future__ import annotations

from .registry import document

document(
    "ARC209",
    "weak-additive-mask",
    "error",
    "behaviour",
    """
    An additive mask too weak for the score range, or fully-masked rows that give NaN.

    ## What it does
    Under `--probe`, checks additive float masks against the dtype and score range (−1e4 in
    fp16 does not zero a softmax whose scores span more than ~1e4·ε; −inf rows make NaN), and
    rows in which every key is masked.

    ## Why is this bad?
    A weak mask lets blocked positions receive attention weight; a fully-masked row turns the
    whole sequence's outputs, and then the loss, into NaN.

    ## Example
    ```python
    mask = (1 - keep) * -1e4  # in fp16 with large scores
    ```

    ## Use instead
    ```python
    mask = torch.where(keep.bool(), 0.0, torch.finfo(scores.dtype).min)
    ```

    ## References
    - https://github.com/huggingface/transformers (finfo.min masking)
""",
    concern="pitfalls",
)
