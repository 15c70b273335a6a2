"""Mixtures of experts from Hugging Face configs: total parameters, parameters active per
token, routed FLOPs and the training peak.

Totals and active counts are worked out by hand (and agree with the model cards: Mixtral-8x7B
46.7B total, 12.9B active; Qwen1.5-MoE-A2.7B 14.3B total, 2.7B active). The training peak and
FLOPs are checked against the fake probe of the reference Transformer's Experts, built from
the adapted spec at 2 layers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.rules.load import findings_of
from pytest_archcheck.spec.model import Spec

from .support import DATA, load


def _spec(name: str) -> Spec:
    loaded = load(DATA / name / "config.json")
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    return loaded.spec


def test_mixtral_8x7b_total_and_active() -> None:
    d, kv, ff, v, layers = 4096, 8 * 128, 14336, 32000, 32
    attn = 2 * d * d + 2 * d * kv
    expert = 3 * d * ff
    layer = attn + 8 * d + 8 * expert + 2 * d  # router d x 8, eight experts, two RMSNorms
    total = 2 * v * d + layers * layer + d
    active = total - layers * 6 * expert  # each token runs 2 of the 8
    spec = _spec("mixtral-8x7b")
    assert params_from_spec(spec) == total == 46_702_792_704
    e = estimate(spec)
    assert e.params_active == active == 12_879_925_248
    assert e.to_json()["params_active"] == active
    assert any(t.key == "parameters.active" and t.value == active for t in e.terms())


def test_qwen15_moe_total_and_active() -> None:
    d, ff_e, ff_s, v, layers = 2048, 1408, 5632, 151936, 24
    attn = 3 * (d * d + d) + d * d  # q/k/v with bias, o without
    moe = 60 * d + 60 * 3 * d * ff_e + 3 * d * ff_s + d  # router, experts, shared, its gate
    total = 2 * v * d + layers * (attn + moe + 2 * d) + d
    active = total - layers * 56 * 3 * d * ff_e  # 4 of 60 experts per token
    spec = _spec("qwen1.5-moe-a2.7b")
    assert params_from_spec(spec) == total == 14_315_784_192
    assert estimate(spec).params_active == active == 2_689_173_504


def test_dense_model_has_no_active_count() -> None:
    e = estimate(_spec("llama-2-7b"))
    assert e.params_active is None and e.to_json()["params_active"] is None


def test_routed_flops_count_k_experts_and_the_router() -> None:
    """Forward FLOPs of a Mixtral-shaped block by hand: each token runs 2 experts (3 matmuls of
    d x ff each) and the router (d x 8), besides attention and the head."""
    spec = _spec("mixtral-8x7b")
    small = spec.model_copy(update={"model": spec.model.model_copy(update={"layers": 1})})
    dense = small.model_copy(
        update={"model": small.model.model_copy(update={"experts": None, "d_ff": 2 * 14336})}
    )
    n, d = 1024, 4096
    router = 2 * n * d * 8
    assert estimate(small, n=n, batch=1).flops_forward == (
        estimate(dense, n=n, batch=1).flops_forward + router
    )


def _small(name: str, tmp_path: Path, **changes: object) -> Spec:
    cfg = json.loads((DATA / name / "config.json").read_text(encoding="utf-8"))
    cfg.update(changes)
    path = tmp_path / name / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    loaded = load(path)
    assert loaded.spec is not None, findings_of(loaded)
    return loaded.spec.model_copy(
        update={"train": loaded.spec.train.model_copy(update={"seq_len": 256, "batch": 2})}
    )


SMALL = {
    "mixtral-8x7b": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 500},
    "qwen1.5-moe-a2.7b": {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
                          "num_attention_heads": 4, "num_key_value_heads": 4,
                          "moe_intermediate_size": 64, "shared_expert_intermediate_size": 192,
                          "num_experts": 6, "num_experts_per_tok": 3, "vocab_size": 500},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("target", ["cpu", "cuda"])
def test_moe_training_peak_matches_the_fake_probe(
    name: str, dtype: str, target: str, tmp_path: Path
) -> None:
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = _small(name, tmp_path, **SMALL[name])
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"dtype": dtype})})
    e = estimate(spec, target=target)
    res = probe.run(spec, device="fake", n=e.n, batch=e.batch, emulate=target)
    assert res.peak_bytes is not None, res.findings
    assert abs(e.memory.total / res.peak_bytes - 1) < 0.02, (e.memory.to_json(), res.breakdown)
    if target == "cpu":  # (emulated CUDA runs fp32 attention in the math kernel, counted apart)
        assert res.flops is not None and res.flops["forward"] == e.flops_forward


def test_estimate_prints_active_parameters_as_a_count(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_archcheck.cli import main

    main(["estimate", str(DATA / "mixtral-8x7b" / "config.json")])
    out = capsys.readouterr().out
    assert "12.88G (12,879,925,248)" in out and "46.70G (46,702,792,704)" in out
