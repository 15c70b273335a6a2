"""What one layer of a class's own attention (`eager_attention`: GPT-J, BLOOM, MPT) saves for
backward, measured on the real transformers class with torch.autograd.graph.saved_tensors_hooks,
against `families.transformer.eager_attention_saved`.

Each class is built from its default config cut to 1 layer, d 64, 4 heads (GPT-J: rotary on 8
of the 16 dimensions of a head) and run forward on b 2 x n 32 real CPU tensors, fp32 and under
bf16 autocast, without dropout and with dropout 0.1 on the attention probabilities. Counted:
every distinct storage saved for backward that the attention module's own code (or its
nn.Dropout child) created -- not its Linear children, whose inputs the norm terms count --
less BLOOM's residual sum (BloomAttention adds the residual itself; the formula counts it with
the stream). The expected bytes are also written out by hand per case, so that the test fails
if either the measurement or the formula moves.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from pytest_archcheck.families.transformer import eager_attention_saved
from pytest_archcheck.spec.model import ModelTable

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

B, N, D, HEADS, ROT = 2, 32, 64, 4, 8
HD = D // HEADS
FULL = B * N * D  # q (or k, v) at every head
PROBS = B * HEADS * N * N

# the config keys of dropout on the attention probabilities alone (BLOOM's hidden dropout and
# GPT-J's residual dropout run inside the attention module: kept at 0; MPT's one attn_pdrop
# also drops the attention output, in its block)
ATTN_DROPOUT = {
    "gptj": {"attn_pdrop": 0.1, "resid_pdrop": 0.0, "embd_pdrop": 0.0},
    "bloom": {"attention_dropout": 0.1, "hidden_dropout": 0.0},
    "mpt": {"attn_config": {"attn_pdrop": 0.1}},
}

CASES = {
    # model_type: (config keys, the attention module's attribute, the model-table flags)
    "gptj": (
        {"n_embd": D, "n_layer": 1, "n_head": HEADS, "rotary_dim": ROT, "n_positions": 64},
        "attn",
        {"positional": "rotary", "rotary_dim": ROT, "rotary_interleaved": True},
    ),
    "bloom": ({"hidden_size": D, "n_layer": 1, "n_head": HEADS}, "self_attention", {}),
    "mpt": ({"d_model": D, "n_layers": 1, "n_heads": HEADS, "max_seq_len": 64}, "attn", {}),
}

# worked out by hand (bytes): q, k^T, v copies and the merged heads, 4 x FULL x p; the fp32
# softmax output; under bf16 its 16-bit copy; GPT-J's four repeat_interleaved sin/cos rows
HAND = {
    ("gptj", "fp32"): 4 * FULL * 4 + PROBS * 4 + 4 * N * ROT * 4,
    ("gptj", "bf16"): 4 * FULL * 2 + PROBS * (4 + 2) + 4 * N * ROT * 2,
    ("bloom", "fp32"): 4 * FULL * 4 + PROBS * 4,
    ("bloom", "bf16"): 4 * FULL * 2 + PROBS * (4 + 2),
    ("mpt", "fp32"): 4 * FULL * 4 + PROBS * 4,
    ("mpt", "bf16"): 4 * FULL * 2 + PROBS * (4 + 2),
}
# with attention dropout (CPU: x * noise saves the noise, in the probabilities' dtype, and
# the second matmul the dropped probabilities; the 16-bit copy dropout read is not saved)
HAND_DROPOUT = {
    ("gptj", "fp32"): 4 * FULL * 4 + PROBS * (4 + 4 + 4) + 4 * N * ROT * 4,
    ("gptj", "bf16"): 4 * FULL * 2 + PROBS * (4 + 2 + 2) + 4 * N * ROT * 2,
    ("bloom", "fp32"): 4 * FULL * 4 + PROBS * (4 + 4 + 4),
    ("bloom", "bf16"): 4 * FULL * 2 + PROBS * (4 + 2 + 2),
    ("mpt", "fp32"): 4 * FULL * 4 + PROBS * (4 + 4 + 4),
    ("mpt", "bf16"): 4 * FULL * 2 + PROBS * (4 + 2 + 2),
}


def measured(model_type: str, dtype: str, dropout: bool = False) -> int:
    """Bytes of the distinct storages saved for backward that layer 0's attention module
    created itself (TorchDispatchMode names the module running when each storage was made)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    keys, attr, _ = CASES[model_type]
    keys = keys | (ATTN_DROPOUT[model_type] if dropout else {})
    config = transformers.AutoConfig.for_model(model_type, vocab_size=100, use_cache=False, **keys)
    auto = transformers.AutoModelForCausalLM
    model = auto.from_config(config, attn_implementation="eager").train()
    blocks = model.transformer.h if model_type != "mpt" else model.transformer.blocks
    attn = getattr(blocks[0], attr)
    stack: list[Any] = [None]
    for mod in model.modules():
        mod.register_forward_pre_hook(lambda m, a: stack.append(m))
        mod.register_forward_hook(lambda m, a, o: stack.pop() and None)
    made: dict[int, tuple[Any, str, tuple[int, ...], Any]] = {}

    class Creator(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None):
            out = func(*args, **(kwargs or {}))
            if not func.is_view:
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor):
                        made[t.untyped_storage().data_ptr()] = (
                            stack[-1],
                            func.__name__,
                            tuple(t.shape),
                            t.dtype,
                        )
            return out

    params = {q.untyped_storage().data_ptr() for q in model.parameters()}
    # GPT-J's and BLOOM's probability dropout is an nn.Dropout child of the attention module
    drops = {c for c in attn.children() if isinstance(c, torch.nn.Dropout)}
    seen: set[int] = set()
    total = 0

    def pack(t: Any) -> Any:
        nonlocal total
        ptr = t.untyped_storage().data_ptr()
        if ptr in params or ptr in seen:
            return t
        seen.add(ptr)
        mod, op, shape, dt = made.get(ptr, (None, "", (), None))
        residual = op.startswith("add") and shape == (B, N, D) and dt == torch.float32
        if (mod is attn or mod in drops) and not residual:
            total += t.untyped_storage().nbytes()
        return t

    ids = torch.randint(0, 100, (B, N))
    amp = (
        torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16" else contextlib.nullcontext()
    )
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), amp, Creator():
        model(ids, attention_mask=torch.ones_like(ids))
    return total


@pytest.mark.parametrize("dropout", [False, True], ids=["no-dropout", "attention-dropout"])
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("model_type", list(CASES))
def test_one_eager_attention_layer_saves_what_the_formula_counts(
    model_type: str, dtype: str, dropout: bool
) -> None:
    flags = CASES[model_type][2]
    m = ModelTable(
        family="transformer", layers=1, d_model=D, heads=HEADS, eager_attention=True, **flags
    )
    p = 4 if dtype == "fp32" else 2
    # CPU dropout: the noise has the probabilities' dtype (p bytes)
    attn, scores = eager_attention_saved(m, B, N, p, dtype == "bf16", p if dropout else 0)
    got = measured(model_type, dtype, dropout)
    hand = (HAND_DROPOUT if dropout else HAND)[(model_type, dtype)]
    assert got == hand, (got, hand)
    assert attn + scores == got, (attn, scores, got)
