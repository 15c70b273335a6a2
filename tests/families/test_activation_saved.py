"""The MLP's saved-tensor count per activation (families.transformer.ACT_SAVED) against
transformers' own activation functions (ACT2FN), measured by torch's autograd.

For each name the Hugging Face adapter maps, the test runs transformers' activation between
two matmuls, as an MLP does (up projection -> act -> down projection; gated: act(gate) * up),
and counts the distinct activation-sized tensors autograd keeps for backward, with
`torch.autograd.graph.saved_tensors_hooks`. The formula's count must equal it, fp32 and bf16.
"""

from __future__ import annotations

import pytest

from pytest_archcheck.adapters.hf import _ACTS
from pytest_archcheck.families.transformer import act_saved
from pytest_archcheck.spec.model import ModelTable

torch = pytest.importorskip("torch")
activations = pytest.importorskip("transformers.activations")

D, F, ROWS = 8, 24, 16


def _kept(name: str, dtype: torch.dtype, gated: bool, act: object = None) -> int:
    """Distinct ROWS x F tensors autograd saves across act (and the gate product) and the
    down projection, which saves its input."""
    act = act if act is not None else activations.ACT2FN[name]
    x = torch.randn(ROWS, D, dtype=dtype, requires_grad=True)
    w_up = torch.randn(D, F, dtype=dtype, requires_grad=True)
    w_gate = torch.randn(D, F, dtype=dtype, requires_grad=True)
    w_down = torch.randn(F, D, dtype=dtype, requires_grad=True)
    storages: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.numel() == ROWS * F:
            storages.add(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        hidden = act(x @ w_gate) * (x @ w_up) if gated else act(x @ w_up)  # type: ignore[operator]
        (hidden @ w_down).sum()
    return len(storages)


def _model(mlp: str, activation: str | None) -> ModelTable:
    return ModelTable.model_validate(
        {"family": "transformer", "layers": 1, "d_model": D, "heads": 1, "vocab": 10,
         "mlp": mlp, "activation": activation}
    )  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", sorted(_ACTS))
def test_non_gated_mlp_keeps_what_the_formula_counts(name: str, dtype: torch.dtype) -> None:
    mlp, activation = _ACTS[name]
    assert act_saved(_model(mlp, activation)) == _kept(name, dtype, gated=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", sorted(n for n in _ACTS if n.startswith("gelu") or n == "silu"))
def test_gated_mlp_keeps_two_more(name: str, dtype: torch.dtype) -> None:
    """act(gate) * up: the product saves act's output and up; the down projection the
    product. The formula adds 2 to the activation's count (families.transformer)."""
    mlp = "swiglu" if name == "silu" else "geglu"
    activation = None if name == "silu" else _ACTS[name][1]
    assert act_saved(_model(mlp, activation)) + 2 == _kept(name, dtype, gated=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_blooms_recomputing_gelu_keeps_its_input_and_output(dtype: torch.dtype) -> None:
    """BLOOM's BloomGelu trains through GeLUFunction, which saves its input only (the down
    projection keeps the output): 2, as `activation = "gelu_recompute"` counts."""
    bloom = pytest.importorskip("transformers.models.bloom.modeling_bloom")
    act = bloom.BloomGelu().train()
    assert act_saved(_model("gelu", "gelu_recompute")) == 2
    assert _kept("gelu_recompute", dtype, gated=False, act=act) == 2
