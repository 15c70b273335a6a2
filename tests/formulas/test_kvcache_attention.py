"""KV cache, attention-matrix and logits bytes."""

from __future__ import annotations

from pytest_archcheck.formulas.attention import (
    attention_matrix_bytes,
    attention_scores_bytes,
    logits_bytes,
    window_saving,
)
from pytest_archcheck.formulas.kvcache import (
    article_kv_cache_bytes,
    kv_cache_bytes,
    kv_cache_from_spec,
    recurrent_state_bytes,
)
from pytest_archcheck.spec.model import Spec

LLAMA2_7B = dict(
    layers=32, d_model=4096, heads=32, d_ff=11008, vocab=32000, tied_embeddings=False,
    norm="rmsnorm", mlp="swiglu", bias="none", positional="rotary",
)  # fmt: skip


def test_llama2_7b_fp16_kv_per_token() -> None:
    # K and V (2) x 32 layers x 32 kv heads x 128 head dim x 2 bytes
    assert kv_cache_bytes(32, 1, 32, 1, 128, dtype_bytes=2) == 2 * 32 * 32 * 128 * 2 == 524_288


def test_kv_cache_from_spec() -> None:
    spec = Spec(model=LLAMA2_7B, infer={"seq_len": 4000, "new_tokens": 96, "dtype": "fp16"})
    assert kv_cache_from_spec(spec) == 524_288 * (4000 + 96) == 2 * 1024**3  # 2 GiB
    gqa = Spec(model={**LLAMA2_7B, "kv_heads": 8}, infer={"seq_len": 4096, "dtype": "bf16"})
    assert kv_cache_from_spec(gqa) == 2 * 32 * 8 * 4096 * 128 * 2
    window = Spec(model={**LLAMA2_7B, "attention": "sliding", "window": 1024},
                  infer={"seq_len": 4096, "dtype": "bf16"})  # fmt: skip
    assert kv_cache_from_spec(window) == 2 * 32 * 32 * 1024 * 128 * 2  # rolling buffer of w
    assert kv_cache_from_spec(Spec(model={"family": "lstm"})) is None
    assert kv_cache_from_spec(Spec(model=LLAMA2_7B, infer={"kv_cache": False})) is None


def test_article_kv_example_omits_k_v_and_layers() -> None:
    # article: B=1, h=8, n=4096, d_k=64, fp16 -> "about 4 MB"
    assert article_kv_cache_bytes(1, 8, 4096, 64, 2) == 1 * 8 * 4096 * 64 * 2 == 4 * 2**20
    # K and V of one layer: twice that; a 6-layer model: 12x
    assert kv_cache_bytes(1, 1, 8, 4096, 64, dtype_bytes=2) == 8 * 2**20
    assert kv_cache_bytes(6, 1, 8, 4096, 64, dtype_bytes=2) == 48 * 2**20


def test_recurrent_state() -> None:
    # LSTM keeps h and c per layer and direction
    assert recurrent_state_bytes(2, 4, 256, dtype_bytes=4, lstm=True) == 2 * 4 * 256 * 2 * 4
    assert recurrent_state_bytes(2, 4, 256, dtype_bytes=4, lstm=False, bidirectional=True) == (
        2 * 2 * 4 * 256 * 4
    )


def test_scores_only_for_math_kernel() -> None:
    assert attention_scores_bytes(2, 8, 1024, dtype_bytes=2) == 2 * 8 * 1024 * 1024 * 2
    assert attention_scores_bytes(2, 8, 1024, 512, dtype_bytes=4) == 2 * 8 * 1024 * 512 * 4
    assert attention_scores_bytes(2, 8, 1024, dtype_bytes=2, kernel="flash") == 0
    assert attention_scores_bytes(2, 8, 1024, dtype_bytes=2, kernel="efficient") == 0
    assert attention_matrix_bytes(1, 1, 3, 4) == 9 * 4


def test_logits_convention() -> None:
    # bf16 logits (2 B) + fp32 log-softmax kept for backward (4 B)
    assert logits_bytes(8, 1024, 50257, 2) == 8 * 1024 * 50257 * 6
    assert logits_bytes(1, 10, 100, 4) == 1 * 10 * 100 * 8


def test_window_saving() -> None:
    assert window_saving(2048, 256) == 2048 / 256 == 8.0
    assert window_saving(100, 256) == 1.0


def test_encoders_cache_nothing() -> None:
    from pytest_archcheck.formulas.kvcache import kv_cache_from_spec
    from pytest_archcheck.spec.model import Spec

    m = {"family": "transformer", "layers": 2, "d_model": 64, "heads": 4, "vocab": 100}
    enc = Spec.model_validate({"model": {**m, "causal": False}, "infer": {"seq_len": 8}})
    dec = Spec.model_validate({"model": m, "infer": {"seq_len": 8}})
    assert kv_cache_from_spec(enc) is None
    # decoder: 2 (K, V) x 2 layers x batch 1 x 4 heads x 8 positions x 16 head_dim x 4 B
    assert kv_cache_from_spec(dec) == 2 * 2 * 1 * 4 * 8 * 16 * 4
