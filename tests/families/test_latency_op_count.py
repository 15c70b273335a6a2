"""The per-op latency model's op count for nn.LSTM against the ops eager PyTorch really
dispatches: counted with a TorchDispatchMode on the reference module (an independent check of
`latency.lstm_fused`'s one oneDNN call per layer and direction)."""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_archcheck.families import family_of
from pytest_archcheck.formulas.devices import Device
from pytest_archcheck.spec.model import Spec

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

PER_OP = Device(
    "host", 16 * 1024**3, 50e9, {"fp32": 1e11}, "test",
    op_overhead_s=1.5e-6, gemm_half_flops=1e6, llc_bytes=32 * 1024**2, llc_bandwidth=80e9,
)  # fmt: skip


class _Count(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        self.ops[str(func)] += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, False), (3, True)])
def test_lstm_rnn_ops_match_the_dispatched_mkldnn_rnn_layers(
    layers: int, bidirectional: bool
) -> None:
    spec = Spec.model_validate(
        {
            "model": {"name": "t", "family": "lstm", "layers": layers, "d_model": 32,
                      "hidden": 32, "vocab": 50, "bidirectional": bidirectional,
                      "causal": not bidirectional},
            "train": {"dtype": "fp32"},
        }
    )  # fmt: skip
    module = family_of(spec).reference_module(spec).eval()
    x = torch.randint(0, 50, (1, 16))
    with torch.no_grad(), _Count() as c:
        module(x)
    rnn_calls = c.ops["aten.mkldnn_rnn_layer.default"]
    if rnn_calls == 0:
        pytest.skip(f"this torch build does not run nn.LSTM through oneDNN: {dict(c.ops)}")
    est = family_of(spec).latency(spec, PER_OP, 0.0)
    head_ops = 1  # the LM head's one GEMM
    assert est.ops - head_ops == rnn_calls == layers * (2 if bidirectional else 1)
