"""Every worked number in the source article, pinned at its CORRECT value.

Each test names the article's claim; where the article is wrong, docs/errata.md quotes the line.
MiB = 2**20 bytes. Expected values are written as arithmetic from first principles.
"""

from __future__ import annotations

import math

import pytest

from pytest_archcheck.formulas.attention import (
    attention_matrix_bytes,
    ffn_activation_bytes,
    qkv_activation_bytes,
    window_saving,
)
from pytest_archcheck.formulas.devices import Device
from pytest_archcheck.formulas.flops import (
    article_attention_macs,
    article_ffn_macs,
    article_rnn_macs,
    recurrent_flops,
)
from pytest_archcheck.formulas.kvcache import article_kv_cache_bytes, kv_cache_bytes
from pytest_archcheck.formulas.latency import sequential_latency
from pytest_archcheck.formulas.limits import attention_dominates_threshold, sqrt_rule_n_max
from pytest_archcheck.formulas.path import (
    attention_path,
    conv_path,
    conv_reach,
    decay,
    layers_for_radius,
    layers_for_receptive_field,
    layers_needed,
    receptive_field,
    receptive_field_simple,
    recurrent_path,
)
from pytest_archcheck.formulas.states import model_states

MiB = 2**20
GiB = 2**30
# a device whose roofline terms vanish, so only the per-step time counts
IDLE = Device("test", 0, 1e30, {"fp32": 1e30}, "test")


def test_n_1024_attention_has_1_048_576_entries() -> None:
    assert attention_matrix_bytes(1, 1, 1024, 1) == 1024 * 1024 == 1_048_576


def test_layers_for_radius_r2_d256_is_128() -> None:
    assert layers_for_radius(256, 2) == 256 // 2 == 128


def test_k3_needs_512_layers_and_k5_256_for_d512() -> None:
    # centered k=3: radius (3-1)/2 = 1 -> 512 layers; k=5: radius 2 -> 256 layers
    assert layers_needed(512, 3) == 512
    assert layers_needed(512, 5) == 256
    # causal k=3 reaches k-1 = 2 back per layer -> 256
    assert layers_needed(512, 3, centered=False) == 256


def test_halving_n_quarters_attention_cost() -> None:
    assert attention_matrix_bytes(1, 8, 1024) / attention_matrix_bytes(1, 8, 2048) == 1 / 4


def test_k3_l8_receptive_field_17() -> None:
    assert receptive_field_simple(3, 8) == 1 + (3 - 1) * 8 == 17
    assert receptive_field([3] * 8) == 17
    # the directional reach the budgets use: 1 position per layer per side
    assert conv_reach([3] * 8) == 8


def test_sequential_latency_examples() -> None:
    # 0.3 ms x 512 steps = 153.6 ms (article: ~154 ms); 6 layers x 0.3 ms = 1.8 ms
    assert sequential_latency(512, 0, 0, IDLE, overhead_s=0.3e-3).seconds == pytest.approx(0.1536)
    assert sequential_latency(6, 0, 0, IDLE, overhead_s=0.3e-3).seconds == pytest.approx(0.0018)
    # 0.2 ms x 1024 = 204.8 ms (article: ~205 ms); 6 x 0.2 ms = 1.2 ms
    assert sequential_latency(1024, 0, 0, IDLE, overhead_s=0.2e-3).seconds == pytest.approx(0.2048)
    assert sequential_latency(6, 0, 0, IDLE, overhead_s=0.2e-3).seconds == pytest.approx(0.0012)


def test_sequential_steps_n1024() -> None:
    assert recurrent_path(None, 1024).sequential_steps == 1024
    assert attention_path(None, 6).sequential_steps == 6
    assert conv_path(None, [3] * 20).sequential_steps == 20


def test_n6_example() -> None:
    # position 1 -> 6 is distance 5: RNN path 5, attention path 1
    assert recurrent_path(5, 6).path_length == 5
    assert attention_path(5, 1).path_length == 1
    # receptive-field view: L=2 gives R=5 < 6, L=3 gives R=7 >= 6
    assert receptive_field_simple(3, 2) == 5 and receptive_field_simple(3, 3) == 7
    # directional view (DESIGN §4): a centered k=3 stack reaches L per side, so distance 5
    # needs 5 layers
    assert conv_path(5, [3] * 3).covered is False
    assert conv_path(5, [3] * 5).path_length == 5


def test_n4_trace() -> None:
    # x1 -> x4 is distance 3: RNN 3 transitions; CNN k=3 L=2 reaches 2 < 3
    assert recurrent_path(3, 4).path_length == 3
    assert conv_reach([3, 3]) == 2 and conv_path(3, [3, 3]).covered is False


def test_d512_k3_needs_256_layers_by_receptive_field() -> None:
    # (d-1)/(k-1) = 511/2 = 255.5 -> 256
    assert layers_for_receptive_field(512, 3) == math.ceil(511 / 2) == 256


def test_decay_factors() -> None:
    # ln 0.9 = -0.1053605, x100 = -10.53605, e^-10.53605 = 2.6561e-5 (article 0.000026: ok)
    assert decay(0.9, 100) == pytest.approx(2.6561e-5, rel=1e-4)
    # ln 0.99 = -0.01005034, x100 = -1.005034, e^-1.005034 = 0.36603 (article 0.366: ok)
    assert decay(0.99, 100) == pytest.approx(0.36603, rel=1e-4)
    # ln 0.95 = -0.0512933, x200 = -10.25866, e^-10.25866 = 3.5053e-5 (article 0.00034: 10x off)
    assert decay(0.95, 200) == pytest.approx(3.5053e-5, rel=1e-4)
    # 0.99^200 = 0.36603^2 = 0.133979 (article 0.133: truncated; rounds to 0.134)
    assert decay(0.99, 200) == pytest.approx(0.133979, rel=1e-4)


def test_cnn_receptive_field_table() -> None:
    table = {1: 3, 2: 5, 3: 7, 4: 9, 6: 13, 8: 17, 16: 33, 20: 41}
    for layers, r in table.items():
        assert receptive_field_simple(3, layers) == 1 + 2 * layers == r


def test_dilated_receptive_field_31() -> None:
    # R = 1 + (k-1) * (1+2+4+8) = 1 + 2*15 = 31
    assert receptive_field_simple(3, 4, [1, 2, 4, 8]) == 31
    assert receptive_field([3] * 4, [1, 2, 4, 8]) == 31
    # causal TCN reach = Σ (k-1)*dil = 30 back; centered reach = Σ dil = 15 per side
    assert conv_reach([3] * 4, [1, 2, 4, 8], centered=False) == 30
    assert conv_reach([3] * 4, [1, 2, 4, 8]) == 15


def test_n2048_single_head_8_mib_eight_heads_64_mib() -> None:
    assert 2048 * 2048 == 4_194_304
    assert attention_matrix_bytes(1, 1, 2048, 2) == 4_194_304 * 2 == 8 * MiB
    assert attention_matrix_bytes(1, 8, 2048, 2) == 64 * MiB


def test_b4_h8_n2048_is_256_mib_not_512() -> None:
    expected = 4 * 8 * 2048**2 * 2
    assert expected == 268_435_456 == 256 * MiB
    assert attention_matrix_bytes(4, 8, 2048, 2) == expected


def test_sqrt_rule_8gib_b2_h8_is_16384() -> None:
    # sqrt(8 GiB / (2*8*2 B)) = sqrt(2**33 / 2**5) = sqrt(2**28) = 2**14
    assert sqrt_rule_n_max(8 * GiB, 2, 8, 2) == 2**14 == 16384
    # with the article's 4-8x peak margin n shrinks by sqrt(4)..sqrt(8): x0.5 .. x0.354
    assert sqrt_rule_n_max(8 * GiB // 4, 2, 8, 2) == 8192
    assert sqrt_rule_n_max(8 * GiB // 8, 2, 8, 2) == math.isqrt(2**25) == 5792


def test_single_head_fp16_table() -> None:
    # n -> bytes (n^2 * 2)
    table = {512: MiB // 2, 1024: 2 * MiB, 2048: 8 * MiB, 4096: 32 * MiB, 8192: 128 * MiB}
    for n, expected in table.items():
        assert attention_matrix_bytes(1, 1, n, 2) == n * n * 2 == expected
    assert 8192**2 == 67_108_864 and 512**2 == 262_144


def test_twelve_layers_of_8_mib_is_96_mib() -> None:
    assert 12 * attention_matrix_bytes(1, 1, 2048, 2) == 96 * MiB


def test_article_attn_memory_mb_snippet_gives_256_at_2048() -> None:
    # attn_memory_mb(n, h=8, batch=4, bytes_per_elem=2) = 4*8*n*n*2 / 2**20
    expected_mb = {512: 16.0, 1024: 64.0, 2048: 256.0, 4096: 1024.0}
    for n, mb in expected_mb.items():
        assert attention_matrix_bytes(4, 8, n, 2) / MiB == mb


def test_mac_counts_n1024_d512() -> None:
    assert article_rnn_macs(1024, 512) == 1024 * 512**2 == 268_435_456  # "268M"
    assert 4 * article_rnn_macs(1024, 512) == 1_073_741_824  # LSTM "1.07B"
    assert article_attention_macs(1024, 64) == 1024**2 * 64 == 67_108_864  # "67M"
    assert article_ffn_macs(1024, 512, 2048) == 2 * 1024 * 512 * 2048 == 2_147_483_648  # "2.1B"
    # counting the input projection too (input size = d), an LSTM step is 4*(d+d)*d MACs
    lstm = recurrent_flops("lstm", 1, 1, 1024, input_size=512, hidden=512).forward
    assert lstm == 2 * 1024 * 4 * (512 + 512) * 512  # FLOPs = 2 x 2,147,483,648 MACs


def test_attention_dominates_beyond_2_dff() -> None:
    # n^2*d > 2*n*d*d_ff  <=>  n > 2*d_ff; d_ff = 2048 -> 4096
    assert attention_dominates_threshold(2048) == 4096


def test_24gb_b2_h8_n4096_is_512_mib() -> None:
    assert attention_matrix_bytes(2, 8, 4096, 2) == 2 * 8 * 4096**2 * 2 == 512 * MiB


def test_budget_worksheet() -> None:
    # B=2, n=2048, d=512, h=8, d_ff=2048, fp16
    attn = attention_matrix_bytes(2, 8, 2048, 2)
    assert attn == 2 * 8 * 2048**2 * 2 == 128 * MiB  # article: 256 MB
    qkv = qkv_activation_bytes(2, 2048, 512, 2)
    assert qkv == 3 * 2 * 2048 * 512 * 2 == 12 * MiB  # article: 12 MB (ok)
    ffn = ffn_activation_bytes(2, 2048, 2048, 2)
    assert ffn == 2 * 2048 * 2048 * 2 == 16 * MiB  # article: 16 MB (ok)
    assert attn + qkv + ffn == 156 * MiB  # article: "roughly 300 MB"
    # "Adam: about 12 bytes per parameter (weights + momentum + variance)": true for those three
    # in fp32, but a training step also holds the gradient: 16 B/param
    assert model_states(1, "fp32", "adam").total == 4 + 4 + 4 + 4


def test_kv_cache_example() -> None:
    assert article_kv_cache_bytes(1, 8, 4096, 64, 2) == 4 * MiB  # article: 4 MB (one tensor)
    assert kv_cache_bytes(1, 1, 8, 4096, 64, dtype_bytes=2) == 8 * MiB  # K and V, one layer


def test_n1024_vs_n4096_single_head() -> None:
    assert attention_matrix_bytes(1, 1, 1024, 2) == 2 * MiB
    assert attention_matrix_bytes(1, 1, 4096, 2) == 32 * MiB  # 16x
    # B=4, h=8, n=4096: exactly 1 GiB (1.07 GB); the article says "over 1 GB"
    assert attention_matrix_bytes(4, 8, 4096, 2) == 4 * 8 * 4096**2 * 2 == GiB


def test_fp16_halves_fp32_at_2048() -> None:
    # fp32 16 MiB -> fp16 8 MiB; the article's "8 MB -> 4 MB" starts from the fp16 figure
    assert attention_matrix_bytes(1, 1, 2048, 4) == 16 * MiB
    assert attention_matrix_bytes(1, 1, 2048, 2) == 8 * MiB


def test_element_counts() -> None:
    assert 128**2 == 16_384  # "16k"
    assert attention_matrix_bytes(1, 1, 2048, 1) == 4_194_304  # "4.2M"
    assert 8**2 == 64


def test_n8_toy() -> None:
    # RNN: x1 -> x8 is 7 transitions, 8 sequential steps
    assert recurrent_path(7, 8).path_length == 7 and recurrent_path(7, 8).sequential_steps == 8
    # receptive field: L=4 -> R=9 >= 8 (article: "L >= 4")
    assert [receptive_field_simple(3, L) for L in (1, 2, 3, 4)] == [3, 5, 7, 9]
    # directional: distance 7 needs 7 centered layers, or ceil(7/2) = 4 causal ones
    assert conv_path(7, [3] * 7).path_length == 7
    assert conv_path(7, [3] * 4, centered=False).path_length == 4


def test_windowed_attention_n2048_w256() -> None:
    assert window_saving(2048, 256) == 2048 / 256 == 8
    assert attention_path(2048, 8, "sliding", 256).path_length == math.ceil(2048 / 256) == 8
    assert attention_path(2048, 7, "sliding", 256).covered is False
