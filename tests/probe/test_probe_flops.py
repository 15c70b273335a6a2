"""FLOPs: GPT-2-small at n=1024 against a count worked out by hand."""

from __future__ import annotations

from pytest_archcheck import probe
from pytest_archcheck.spec.model import Spec

GPT2_SMALL = {
    "family": "transformer",
    "layers": 12,
    "d_model": 768,
    "heads": 12,
    "vocab": 50257,
    "max_positions": 1024,
}


def test_gpt2_small_flops_match_hand_count() -> None:
    L, h, s, V, b = 12, 768, 1024, 50257, 1
    # forward, per layer: qkv 2·s·h·3h + proj 2·s·h·h + MLP 2·(2·s·h·4h) = 24·s·h²;
    # attention Q·Kᵀ and P·V: 2 · 2·s²·h, causal at half cost -> 2·s²·h.
    linear_fwd = L * 24 * s * h * h + 2 * s * h * V  # + tied head
    attn_fwd = L * 2 * s * s * h
    forward = b * (linear_fwd + attn_fwd)
    assert forward == 272_320_954_368
    # backward: every linear computes grad-input and grad-weight (2x forward); the fused
    # attention backward runs 5 s²-matmuls (score recompute, dP, dV, dQ, dK), causal halved.
    backward = b * (2 * linear_fwd + L * 5 * s * s * h)
    assert forward + backward == 826_626_539_520
    spec = Spec.model_validate({"model": GPT2_SMALL, "train": {"batch": 1}})
    res = probe.run(spec, device="fake", emulate="cpu", n=1024, batch=1)
    assert res.attention_kernel == "flash"
    assert res.flops == {"forward": forward, "train_step": forward + backward}


def test_causal_attention_costs_half() -> None:
    base = {
        "family": "transformer",
        "layers": 1,
        "d_model": 64,
        "heads": 4,
        "vocab": 10,
        "max_positions": 512,
    }
    dec = probe.run(
        Spec.model_validate({"model": base}), device="fake", emulate="cpu", n=512, batch=1
    )
    enc = probe.run(
        Spec.model_validate({"model": {**base, "causal": False}}),
        device="fake",
        emulate="cpu",
        n=512,
        batch=1,
    )
    assert dec.flops is not None and enc.flops is not None
    s, h = 512, 64
    assert enc.flops["forward"] - dec.flops["forward"] == 2 * s * s * h  # half of 4·s²·h
    assert enc.flops["train_step"] - dec.flops["train_step"] == (4 + 10) * s * s * h // 2


def test_lstm_recurrence_is_counted() -> None:
    """torch.utils.flop_counter counts no fused RNN op; we do. Hand count for a 2-layer LSTM
    (d = hidden = 64, vocab 100) at batch 2 x n 32 = 64 tokens:
    per token and layer 4 gates x 2 x (64 + 64) x 64 = 65,536 FLOPs -> x 64 tokens x 2 layers
    = 8,388,608; the head 2 x 64 x 100 per token -> 819,200; forward 9,207,808, and a training
    step is three times that (backward = 2 x forward for both the LSTM and the head)."""
    from pytest_archcheck import probe
    from pytest_archcheck.spec.model import Spec

    s = Spec.model_validate(
        {
            "model": {"family": "lstm", "layers": 2, "d_model": 64, "hidden": 64, "vocab": 100},
            "train": {"batch": 2},
        }
    )
    for device in ("cpu", "fake"):
        r = probe.run(s, device=device, n=32, batch=2, emulate="cpu" if device == "fake" else None)
        assert r.flops == {"forward": 9_207_808, "train_step": 3 * 9_207_808}
