"""FLOPs: 2 per MAC, matmuls only, training = 3 x forward (or flop_counter's convention)."""

from __future__ import annotations

from pytest_archcheck.formulas.flops import (
    attention_keys,
    conv_output_length,
    conv_stack_flops,
    flops_from_spec,
    linear_attention_core_flops,
    recurrent_flops,
    transformer_decode_step_flops,
    transformer_flops,
)
from pytest_archcheck.spec.model import Spec

L, D, H, FF, V, N = 12, 768, 12, 3072, 50257, 1024


def test_gpt2_forward_matches_kaplan() -> None:
    # Kaplan et al. 2020 Table 1: C_fwd per token = 2*N + 2*n_layer*n_ctx*d_attn with
    # N = n_layer*12*d^2 matmul weights (+ the de-embedding d*vocab)
    n_matmul = L * 12 * D * D + D * V
    per_token = 2 * n_matmul + 2 * L * N * D
    assert transformer_flops(L, 1, N, D, H, d_ff=FF, vocab=V).forward == N * per_token
    assert transformer_flops(L, 1, N, D, H, d_ff=FF, vocab=V).train_step == 3 * N * per_token


def test_transformer_terms_by_hand() -> None:
    b, n, d, h, ff = 2, 128, 64, 4, 256
    t = b * n
    proj = 2 * t * d * (3 * d) + 2 * t * d * d  # q, k, v then o
    mlp = 2 * t * d * ff * 2
    core = 2 * (2 * b * h * n * n * (d // h))  # QK^T and AV
    one_layer_noncausal = proj + mlp + core
    f = transformer_flops(1, b, n, d, h, d_ff=ff, causal=False)
    assert f.forward == one_layer_noncausal and f.train_step == 3 * one_layer_noncausal
    assert transformer_flops(1, b, n, d, h, d_ff=ff).forward == proj + mlp + core // 2


def test_swiglu_and_gqa() -> None:
    b, n, d, h, kv, ff = 1, 16, 64, 8, 2, 128
    hd, t = d // h, b * n
    proj = 2 * t * d * (h * hd + 2 * kv * hd) + 2 * t * (h * hd) * d
    mlp = 2 * t * d * ff * 3
    core = 2 * (2 * b * h * n * n * hd) // 2
    got = transformer_flops(1, b, n, d, h, d_ff=ff, kv_heads=kv, mlp="swiglu").forward
    assert got == proj + mlp + core


def test_flop_counter_convention() -> None:
    # SDPA: forward 2 bmm, backward 5 bmm; no causal halving
    b, n, d, h, ff = 1, 64, 32, 2, 128
    t = b * n
    dense = 2 * t * d * 3 * d + 2 * t * d * d + 2 * t * d * ff * 2
    core = 2 * (2 * b * h * n * n * (d // h))
    f = transformer_flops(1, b, n, d, h, d_ff=ff, convention="flop_counter")
    assert f.forward == dense + core
    assert f.train_step == 3 * dense + 7 * core // 2
    # math kernel: plain bmm, backward = 2 bmm per bmm
    math = transformer_flops(
        1, b, n, d, h, d_ff=ff, convention="flop_counter", attention_kernel="math"
    )
    assert math.train_step == 3 * (dense + core)


def test_flop_counter_measured_on_h100() -> None:
    # FlopCounterMode on an H100 (torch 2.11, bf16 SDPA, B=2, n=128, d=64, h=4, d_ff=256):
    # flash/efficient forward 33,554,432, train 104,857,600; math train 100,663,296
    f = transformer_flops(1, 2, 128, 64, 4, d_ff=256, convention="flop_counter")
    assert (f.forward, f.train_step) == (33_554_432, 104_857_600)
    m = transformer_flops(
        1, 2, 128, 64, 4, d_ff=256, convention="flop_counter", attention_kernel="math"
    )
    assert m.train_step == 100_663_296


def test_sliding_window_and_linear_attention() -> None:
    assert attention_keys(2048, "sliding", 256, causal=True) == 256
    assert attention_keys(2048, "sliding", 256, causal=False) == 512
    assert attention_keys(2048, "local", 256, causal=True) == 512  # own block + previous
    assert attention_keys(100, "sliding", 256, causal=True) == 100
    b, n, h, hd, w = 1, 2048, 8, 64, 256
    full = transformer_flops(1, b, n, h * hd, h, d_ff=1, causal=False).forward
    slid = transformer_flops(1, b, n, h * hd, h, d_ff=1, attention="sliding", window=w).forward
    assert full - slid == 2 * 2 * b * h * n * hd * (n - w)
    assert linear_attention_core_flops(1, 8, 100, 64) == 2 * (2 * 8 * 100 * 64 * 64)


def test_decode_step() -> None:
    d, h, ff, ctx = 64, 4, 256, 10
    per_layer = 2 * d * 3 * d + 2 * d * d + 2 * d * ff * 2 + 2 * (2 * h * ctx * (d // h))
    assert transformer_decode_step_flops(2, 1, ctx, d, h, d_ff=ff, vocab=100) == (
        2 * per_layer + 2 * d * 100
    )


def test_recurrent() -> None:
    # LSTM 16 -> 32, n=5, B=2: per step 4 gates * 2*(16+32)*32
    per_step = 4 * 2 * (16 + 32) * 32
    f = recurrent_flops("lstm", 1, 2, 5, input_size=16, hidden=32)
    assert f.forward == 2 * 5 * per_step == 122_880 and f.train_step == 3 * f.forward
    # GRU 3 gates, RNN 1; bidirectional doubles; layer 2 reads 2*hidden
    assert recurrent_flops("gru", 1, 1, 1, input_size=8, hidden=8).forward == 3 * 2 * 16 * 8
    bi = recurrent_flops("rnn", 2, 1, 1, input_size=8, hidden=8, bidirectional=True).forward
    assert bi == 2 * (2 * 16 * 8) + 2 * (2 * (16 + 8) * 8)


def test_conv() -> None:
    assert conv_output_length(100, 3) == 100
    assert conv_output_length(100, 3, padding="valid") == 98
    assert conv_output_length(100, 3, stride=2) == 50  # torch: floor((100+2-3)/2)+1
    assert conv_output_length(100, 3, dilation=4, padding="causal") == 100
    # Conv1d(16, 32, 3) at n=100, B=2: 2 * B * n_out * c_in * c_out * k
    assert conv_stack_flops(2, 100, 16, [32], [3]).forward == 2 * 2 * 100 * 16 * 32 * 3
    head = conv_stack_flops(1, 10, 4, [4], [3], head_out=7).forward
    assert head == 2 * 10 * 4 * 4 * 3 + 2 * 10 * 4 * 7


def test_from_spec() -> None:
    spec = Spec(model={"layers": L, "d_model": D, "heads": H, "d_ff": FF, "vocab": V,
                       "max_positions": N}, train={"batch": 2, "seq_len": N})  # fmt: skip
    per_token = 2 * (L * 12 * D * D + D * V) + 2 * L * N * D
    assert flops_from_spec(spec).forward == 2 * N * per_token
    lstm = Spec(model={"family": "lstm", "d_model": 16, "hidden": 32}, train={"seq_len": 5})
    assert flops_from_spec(lstm).forward == 5 * 4 * 2 * (16 + 32) * 32
