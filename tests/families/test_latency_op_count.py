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


def _ops(module: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), _Count() as c:
        module(x)
    return sum(c.ops.values())


def _per_layer(build: object, spec_for: object) -> tuple[int, int, int]:
    """(dispatched by the built module, by the reference module, estimated) per block: the
    difference between 2 layers and 1, so that embeddings, masks and the head cancel."""
    x = torch.randint(0, 1000, (1, 128))
    counts = []
    for layers in (1, 2):
        spec = spec_for(layers)  # type: ignore[operator]
        module = build(layers).eval()  # type: ignore[operator]
        ref = family_of(spec).reference_module(spec).eval()
        counts.append((_ops(module, x), _ops(ref, x), family_of(spec).latency(spec, PER_OP, 0).ops))
    return tuple(b - a for a, b in zip(*counts, strict=True))  # type: ignore[return-value]


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_transformer_block_ops_match_the_dispatched_ones(arch: str) -> None:
    """The per-op Transformer model's ops per block, against the aten ops eager PyTorch
    dispatches for one block of transformers' own class and of the reference module (the two
    write the same block differently: GPT-2 38 and 31 ops, Llama 81 and 65, counted here):
    within 20 % of each."""
    transformers = pytest.importorskip("transformers")
    if arch == "gpt2":

        def build(layers: int) -> torch.nn.Module:
            cfg = transformers.GPT2Config(n_layer=layers, n_embd=256, n_head=4,
                                          vocab_size=1000, n_positions=512)  # fmt: skip
            return transformers.GPT2LMHeadModel(cfg)

        model = {"d_model": 256, "heads": 4, "max_positions": 512}
    else:

        def build(layers: int) -> torch.nn.Module:
            cfg = transformers.LlamaConfig(
                num_hidden_layers=layers, hidden_size=256, num_attention_heads=4,
                num_key_value_heads=2, intermediate_size=688, vocab_size=1000, use_cache=False,
            )  # fmt: skip
            return transformers.LlamaForCausalLM(cfg)

        model = {"d_model": 256, "heads": 4, "kv_heads": 2, "d_ff": 688, "mlp": "swiglu",
                 "norm": "rmsnorm", "positional": "rotary", "bias": "none",
                 "tied_embeddings": False, "fused_projections": False}  # fmt: skip

    def spec_for(layers: int) -> Spec:
        return Spec.model_validate({
            "model": {"name": arch, "family": "transformer", "layers": layers, "vocab": 1000,
                      **model},
            "infer": {"batch": 1, "seq_len": 128},
        })  # fmt: skip

    real, ref, est = _per_layer(build, spec_for)
    assert abs(est / real - 1) <= 0.2 and abs(est / ref - 1) <= 0.2, (real, ref, est)


CONV_HOST = Device(
    "host", 16 * 1024**3, 50e9, {"fp32": 1e11}, "test",
    op_overhead_s=1.5e-6, gemm_half_rows=30.0, conv_start_s=1e-4, conv_flops=1e11,
)  # fmt: skip

CONV_CASES = {
    "tcn-lm-b1": ({"family": "tcn", "layers": 3, "d_model": 32, "vocab": 100, "kernel": 3,
                   "dilations": [1, 2, 4]}, 1, 64),
    "tcn-lm-b2": ({"family": "tcn", "layers": 3, "d_model": 32, "vocab": 100, "kernel": 3,
                   "dilations": [1, 2, 4]}, 2, 64),
    "cnn-classes": ({"family": "cnn", "layers": 2, "d_model": 16, "vocab": 50, "kernel": 5,
                     "classes": 4}, 2, 40),
    "resnet-shortcut": ({"family": "cnn", "input": "image", "layers": 2, "channels": [8, 16],
                         "strides": [1, 2], "in_channels": 3, "classes": 10}, 1, 32),
    "resnet-same": ({"family": "cnn", "input": "image", "layers": 2, "channels": [8, 8],
                     "strides": [1, 1], "in_channels": 3, "classes": 10}, 2, 16),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv_stack_ops_and_flops_match_the_dispatched_ones(case: str) -> None:
    """The per-op conv model (`latency.conv_ops`) dispatches exactly the aten ops the reference
    ConvStack / ResNet does (counted with a TorchDispatchMode), and its FLOPs (compute_s x
    peak) are torch.utils.flop_counter's for the same forward: convolutions, shortcut 1x1
    convs and the head."""
    from torch.utils.flop_counter import FlopCounterMode

    model, batch, n = CONV_CASES[case]
    spec = Spec.model_validate({
        "model": {"name": case, **model},
        "train": {"dtype": "fp32", "image_size": n} if model.get("input") == "image" else {},
        "infer": {"batch": batch, "seq_len": n, "dtype": "fp32"},
    })  # fmt: skip
    module = family_of(spec).reference_module(spec).eval()
    if model.get("input") == "image":
        x = torch.randn(batch, 3, n, n)
    else:
        x = torch.randint(0, model["vocab"], (batch, n))
    with torch.no_grad(), _Count() as c:
        module(x)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        module(x)
    est = family_of(spec).latency(spec, CONV_HOST, 0.0)
    assert est.ops == sum(c.ops.values()), dict(c.ops)
    assert est.compute_s * 1e11 == pytest.approx(fc.get_total_flops())
