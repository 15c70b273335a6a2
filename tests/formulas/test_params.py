"""Parameter counts, each expected value worked out by hand from the architecture."""

from __future__ import annotations

import pytest

from pytest_archcheck.formulas.params import (
    attention_params,
    conv_params,
    conv_stack_params,
    largest_layer_params_from_spec,
    mlp_params,
    params_from_spec,
    position_params,
    recurrent_layer_params,
    recurrent_params,
    shapes_from_spec,
    shapes_total,
    transformer_param_breakdown,
    transformer_params,
)
from pytest_archcheck.spec.model import Spec

GPT2 = dict(layers=12, d_model=768, heads=12, d_ff=3072, vocab=50257, max_positions=1024)
LLAMA2_7B = dict(
    layers=32, d_model=4096, heads=32, d_ff=11008, vocab=32000, tied_embeddings=False,
    norm="rmsnorm", mlp="swiglu", bias="none", positional="rotary",
)  # fmt: skip


def test_gpt2_small_is_124_439_808() -> None:
    d, L, V, P, ff = 768, 12, 50257, 1024, 3072
    wte, wpe = V * d, P * d
    c_attn = d * 3 * d + 3 * d  # fused q, k, v with biases
    c_proj = d * d + d
    mlp = (d * ff + ff) + (ff * d + d)
    norms = 2 * (d + d)  # ln_1, ln_2: weight + bias
    expected = wte + wpe + L * (c_attn + c_proj + mlp + norms) + (d + d)  # ln_f; head tied
    assert expected == 124_439_808
    got = transformer_params(12, 768, 12, 3072, 50257, max_positions=1024)
    assert got == expected
    assert params_from_spec(Spec(model=GPT2)) == expected


def test_llama2_7b_is_6_738_415_616() -> None:
    d, L, V, ff = 4096, 32, 32000, 11008
    attn = 4 * d * d  # q, k, v, o without biases
    mlp = 3 * d * ff  # gate, up, down
    norms = 2 * d  # two RMSNorm weights
    expected = V * d + L * (attn + mlp + norms) + d + V * d  # embed, blocks, norm, lm_head
    assert expected == 6_738_415_616
    assert params_from_spec(Spec(model=LLAMA2_7B)) == expected
    parts = transformer_param_breakdown(
        32, 4096, 32, 11008, 32000, mlp="swiglu", norm="rmsnorm", bias="none", tied=False,
        positional="rotary",
    )  # fmt: skip
    assert parts.lm_head == V * d and parts.positions == 0 and parts.per_layer == attn + mlp + norms


def test_llama2_70b_gqa() -> None:
    d, L, V, ff, kv_dim = 8192, 80, 32000, 28672, 8 * 128  # 8 kv heads of 128
    attn = 2 * d * d + 2 * d * kv_dim  # q, o full; k, v grouped
    per_layer = attn + 3 * d * ff + 2 * d
    expected = 2 * V * d + L * per_layer + d
    assert expected == 68_976_648_192  # the published "70B"
    spec = Spec(model={**LLAMA2_7B, "layers": 80, "d_model": 8192, "heads": 64, "kv_heads": 8,
                       "d_ff": 28672})  # fmt: skip
    assert params_from_spec(spec) == expected


def test_qwen2_bias_on_qkv_only() -> None:
    d, L, V, ff, kv_dim = 896, 24, 151936, 4864, 2 * 64
    attn = (d * d + d) + 2 * (d * kv_dim + kv_dim) + d * d  # q, k, v biased; o not
    per_layer = attn + 3 * d * ff + 2 * d
    expected = V * d + L * per_layer + d  # tied head
    assert expected == 494_032_768  # Qwen2-0.5B
    spec = Spec(model={"layers": 24, "d_model": 896, "heads": 14, "kv_heads": 2, "d_ff": 4864,
                       "vocab": 151936, "norm": "rmsnorm", "mlp": "swiglu", "bias": "qkv",
                       "positional": "rotary"})  # fmt: skip
    assert params_from_spec(spec) == expected


def test_attention_and_mlp_bias_modes() -> None:
    d = 8
    assert attention_params(d, 2, 2, 4, "none") == 4 * d * d
    assert attention_params(d, 2, 2, 4, "all") == 4 * d * d + 4 * d
    assert attention_params(d, 2, 2, 4, "qkv") == 4 * d * d + 3 * d
    assert mlp_params(d, 32, "gelu", "all") == 2 * d * 32 + 32 + d
    assert mlp_params(d, 32, "swiglu", "none") == 3 * d * 32
    assert mlp_params(d, 32, "swiglu", "all") == 3 * d * 32 + 2 * 32 + d


def test_positions() -> None:
    assert position_params("learned", 512, 768, offset=2) == 514 * 768  # RoBERTa: 514 rows
    for kind in ("sinusoidal", "rotary", "alibi", "relative", "none"):
        assert position_params(kind, 512, 768) == 0  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        position_params("learned", None, 768)


def test_layernorm_without_bias() -> None:
    # nanoGPT bias=False: no linear biases and LayerNorm weight only
    d, L, V, P = 64, 2, 100, 32
    per_layer = 4 * d * d + 2 * d * 4 * d + 2 * d
    expected = V * d + P * d + L * per_layer + d
    assert transformer_params(2, 64, 4, 256, 100, bias="none", max_positions=32) == expected


def test_lstm_matches_torch_layout() -> None:
    # nn.LSTM(16, 32): weight_ih 128x16, weight_hh 128x32, bias_ih 128, bias_hh 128
    assert recurrent_layer_params("lstm", 16, 32) == 128 * 16 + 128 * 32 + 128 + 128 == 6400
    assert recurrent_layer_params("gru", 16, 32) == 96 * 16 + 96 * 32 + 96 + 96
    assert recurrent_layer_params("rnn", 16, 32, bias=False) == 32 * 16 + 32 * 32
    # 2 layers, bidirectional: layer 2 reads 2*32 = 64 features
    layer1 = 2 * (4 * 32 * (16 + 32) + 2 * 4 * 32)
    layer2 = 2 * (4 * 32 * (64 + 32) + 2 * 4 * 32)
    emb, head = 100 * 16, 64 * 100 + 100  # head cannot tie: 64 != 16
    got = recurrent_params("lstm", 2, 16, 32, bidirectional=True, vocab=100)
    assert got == emb + layer1 + layer2 + head == 1600 + 12800 + 25088 + 6500


def test_lstm_tied_head_counts_bias_only() -> None:
    emb, layer, head_bias = 100 * 32, 4 * 32 * (32 + 32) + 2 * 4 * 32, 100
    assert recurrent_params("lstm", 1, 32, 32, vocab=100) == emb + layer + head_bias
    assert (
        recurrent_params("lstm", 1, 32, 32, vocab=100, tied=False) == emb + layer + 32 * 100 + 100
    )


def test_conv() -> None:
    assert conv_params(16, 32, 3) == 32 * 16 * 3 + 32 == 1568
    assert conv_params(3, 16, 3, dims=2) == 16 * 3 * 9 + 16 == 448  # the article's Conv2d(3,16,3)
    emb, c1, c2, head = 100 * 16, 32 * 16 * 3 + 32, 32 * 32 * 3 + 32, 32 * 100 + 100
    assert conv_stack_params(16, [32, 32], [3, 3], vocab=100) == emb + c1 + c2 + head
    # the article's CNN: Conv2d(3, 16, 3) then Linear(16, 10)
    assert conv_stack_params(3, [16], [3], head_out=10, dims=2) == 448 + 16 * 10 + 10 == 618


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mlp="gelu", norm="layernorm", bias="all", tied=True, positional="learned"),
        dict(mlp="swiglu", norm="rmsnorm", bias="none", tied=False, positional="rotary"),
        dict(mlp="swiglu", norm="rmsnorm", bias="qkv", tied=True, positional="alibi", kv_heads=2),
        dict(mlp="relu", norm="layernorm", bias="none", tied=True, positional="learned",
             position_offset=2),
    ],
)  # fmt: skip
def test_transformer_closed_form_equals_family_shapes(kwargs: dict[str, object]) -> None:
    """The registered closed form (params.transformer) and the family unit's tensor list (the
    reference module's layout: fused qkv and gate+up) count the same parameters."""
    args = (3, 64, 4, 256, 1000)
    closed = transformer_params(*args, max_positions=128, **kwargs)  # type: ignore[arg-type]
    model = dict(kwargs)
    model["tied_embeddings"] = model.pop("tied")
    offset = int(model.get("position_offset", 0))  # type: ignore[call-overload]
    spec = Spec(
        model={"layers": 3, "d_model": 64, "heads": 4, "d_ff": 256, "vocab": 1000,
               "max_positions": 128 + offset, **model}
    )  # fmt: skip
    assert closed == params_from_spec(spec)


def test_recurrent_and_conv_closed_form_equals_family_shapes() -> None:
    for kind in ("rnn", "gru", "lstm"):
        for bi in (False, True):
            a = recurrent_params(kind, 3, 16, 16, bidirectional=bi, vocab=50)  # type: ignore[arg-type]
            spec = Spec(model={"family": kind, "layers": 3, "d_model": 16, "hidden": 16,
                               "bidirectional": bi, "vocab": 50})  # fmt: skip
            assert a == params_from_spec(spec)
    spec = Spec(model={"family": "cnn", "layers": 2, "d_model": 16, "channels": 16,
                       "kernel": [3, 5], "vocab": 50})  # fmt: skip
    assert conv_stack_params(16, [16, 16], [3, 5], vocab=50) == params_from_spec(spec)


def test_spec_adapters_for_each_family() -> None:
    lstm = Spec(model={"family": "lstm", "layers": 1, "d_model": 16, "hidden": 32, "vocab": 100})
    assert params_from_spec(lstm) == 100 * 16 + 6400 + 32 * 100 + 100
    cnn = Spec(model={"family": "cnn", "layers": 2, "d_model": 16, "channels": 32, "kernel": 3,
                      "vocab": 100})  # fmt: skip
    assert params_from_spec(cnn) == 100 * 16 + 1568 + (32 * 32 * 3 + 32) + 32 * 100 + 100
    assert shapes_total(shapes_from_spec(cnn)) == params_from_spec(cnn)
    assert largest_layer_params_from_spec(Spec(model=GPT2)) == 50257 * 768
