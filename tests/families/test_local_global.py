"""Local/global Transformer stacks (`global_every`): Gemma-2/Gemma-3-style layers where every
k-th layer attends to every position and the others through a sliding window.

Expected values are worked out by hand from the layer layout (layer i global when
(i + 1) % k == 0) or measured by the fake-tensor probe, which runs the reference module
through torch's kernels and never sees the formula."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.families import family_of
from pytest_archcheck.families.transformer import is_global_layer, local_global_layers
from pytest_archcheck.spec.model import Spec

BASE: dict[str, Any] = {
    "family": "transformer",
    "layers": 4,
    "d_model": 128,
    "heads": 4,
    "d_ff": 512,
    "vocab": 1000,
    "attention": "sliding",
    "window": 32,
    "global_every": 2,
}


def _spec(model: dict[str, Any] | None = None, **tables: Any) -> Spec:
    return Spec.model_validate({"model": {**BASE, **(model or {})}, **tables})


def test_layer_layout_follows_gemma() -> None:
    """Gemma-2 (k = 2): layers 1, 3, 5 global; Gemma-3 (k = 6) of 26 layers: 5, 11, 17, 23."""
    m = _spec({"layers": 6}).model
    assert [is_global_layer(m, i) for i in range(6)] == [False, True] * 3
    m3 = _spec({"layers": 26, "global_every": 6}).model
    assert [i for i in range(26) if is_global_layer(m3, i)] == [5, 11, 17, 23]
    assert local_global_layers(m3) == (22, 4)
    assert local_global_layers(_spec({"global_every": None}).model) == (4, 0)


def test_path_global_layer_makes_reach_unlimited() -> None:
    """One global layer reaches every position in one hop; without it reach is L*w."""
    fam = family_of(_spec())
    p = fam.path(_spec(), 5000, 8192)
    assert p.reach is None and p.path_length == 1 and p.covered is True
    assert p.sequential_steps == 4
    q = fam.path(_spec({"global_every": None}), 5000, 8192)
    assert q.reach == 4 * 32 and q.covered is False


def test_kv_cache_composes_rolling_and_full_layers() -> None:
    """2 sliding layers cache w = 32 positions, 2 global ones all 256 + 16 = 272:
    2 (K, V) * batch 1 * 4 kv-heads * 32 head_dim * 4 bytes * (2*32 + 2*272)."""
    s = _spec(infer={"seq_len": 256, "new_tokens": 16})
    assert family_of(s).kv_cache(s) == 2 * 4 * 32 * 4 * (2 * 32 + 2 * 272)


def test_flops_global_layers_see_every_key() -> None:
    """The mixed stack's FLOPs lie between all-sliding and all-full by the share of global
    layers: F(k=2) = F(sliding) + 2/4 * (F(full) - F(sliding)) (only the attention cores differ,
    and those are per layer)."""
    mixed = family_of(_spec()).flops(_spec(), 1024, 2)
    slid = family_of(_spec()).flops(_spec({"global_every": None}), 1024, 2)
    full = family_of(_spec()).flops(
        _spec({"global_every": None, "attention": "full", "window": 0}), 1024, 2
    )
    assert full.forward > mixed.forward > slid.forward
    assert 2 * (mixed.forward - slid.forward) == full.forward - slid.forward
    assert 2 * (mixed.train_step - slid.train_step) == full.train_step - slid.train_step


def test_band_mask_counted_only_in_windowed_layers() -> None:
    """SDPA saves the additive band mask (s² · p bytes) in each windowed layer; the 2 global
    layers of k = 2 pass none: 2 * 256² * 4 bytes fewer than the all-sliding stack (fp32)."""
    kw = {"train": {"batch": 2, "seq_len": 256}}
    mixed = estimate(_spec(**kw)).memory.activations
    slid = estimate(_spec({"global_every": None}, **kw)).memory.activations
    assert slid - mixed == 2 * 256 * 256 * 4


@pytest.mark.parametrize(
    ("model", "train", "budget"),
    [
        ({}, {"batch": 2, "seq_len": 256}, {}),
        (
            {
                "positional": "rotary",
                "norm": "rmsnorm",
                "mlp": "swiglu",
                "bias": "none",
                "tied_embeddings": False,
            },
            {"batch": 2, "seq_len": 256, "dtype": "bf16"},
            {},
        ),
        ({"layers": 5, "global_every": 3}, {"batch": 1, "seq_len": 384, "checkpointing": True}, {}),
        ({}, {"batch": 2, "seq_len": 256, "dtype": "bf16"}, {"device": "cpu"}),
        ({"layers": 6, "global_every": 6}, {"batch": 2, "seq_len": 512, "dtype": "bf16"}, {}),
    ],
)
def test_formula_matches_fake_probe(
    model: dict[str, Any], train: dict[str, Any], budget: dict[str, Any]
) -> None:
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    spec = _spec(model, train=train, budget=budget)
    e = estimate(spec)
    r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
    assert r.peak_bytes is not None, r.findings
    assert abs(e.memory.total / r.peak_bytes - 1) <= 0.02, (e.memory.total, r.peak_bytes)


def test_probe_sees_global_layers_save_no_band() -> None:
    """The fake probe, which never sees the formula, measures the same 2 * s² * 4 bytes less
    for k = 2 than for the all-sliding stack (the forward's saved set shrinks by the masks)."""
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    kw = {"train": {"batch": 2, "seq_len": 256}, "budget": {"device": "cpu"}}
    peaks = [
        probe.run(_spec(m, **kw), device="fake").peak_bytes for m in ({}, {"global_every": None})
    ]
    assert peaks[0] is not None and peaks[1] is not None
    assert peaks[1] - peaks[0] == 2 * 256 * 256 * 4


def test_behavioural_reach_matches_the_layout() -> None:
    """Reference module, 3 layers of window 4: all sliding reaches 3*4 = 12 back (hand count,
    equal to the formula's L*w); with global_every = 3 the last layer is global and the output
    at t depends on position 0 (unbounded)."""
    pytest.importorskip("torch")
    import torch

    from pytest_archcheck.behaviour.reach import measure_reach

    model = {"layers": 3, "d_model": 16, "heads": 2, "d_ff": 32, "vocab": 50, "window": 4}
    s = _spec({**model, "global_every": None}, budget={"span": 30})
    torch.manual_seed(0)
    r = measure_reach(family_of(s).reference_module(s), s)
    assert r.bounded_left and r.left == 12 == family_of(s).path(s, 30, 64).reach
    g = _spec({**model, "global_every": 3}, budget={"span": 30})
    rg = measure_reach(family_of(g).reference_module(g), g)
    assert not rg.bounded_left and rg.left == rg.t  # reaches position 0: unlimited
    assert family_of(g).path(g, 30, 64).reach is None


def test_refusals_name_the_key() -> None:
    """global_every without a window and k = 1 are ARC304 problems naming model.global_every
    (no model has them); per-layer kernels (CUDA bf16 + GQA: math in windowed layers, flash in
    global ones) are a real model whose training peak is refused by name (ARC307), not an
    inconsistent spec: the probe still measures it."""
    cases = [_spec({"attention": "full", "window": 0}), _spec({"global_every": 1})]
    for s in cases:
        problems = list(family_of(s).dimension_problems(s))
        assert any(p[1] == ("model", "global_every") for p in problems), problems
    mixed = _spec({"kv_heads": 2}, train={"dtype": "bf16"})
    assert not list(family_of(mixed).dimension_problems(mixed))
    refused = family_of(mixed).not_modelled(mixed)["memory"]
    assert refused.key == ("model", "global_every") and "per-layer kernels" in str(refused)
    ok = _spec({"kv_heads": 2}, train={"dtype": "bf16"}, budget={"device": "cpu"})
    assert not list(family_of(ok).dimension_problems(ok))
    assert "memory" not in family_of(ok).not_modelled(ok)
    # the same spec estimated for a CPU run is modelled; for a CUDA run it is not
    from pytest_archcheck.runtime import target_for

    assert "memory" not in family_of(mixed).not_modelled_on(mixed, target_for(mixed, "cpu"))
    assert "memory" in family_of(ok).not_modelled_on(ok, target_for(ok, "cuda"))


def test_latency_adds_global_layers_to_windowed_ones() -> None:
    """Each layer is one roofline term: the k = 2 stack's latency is half the all-sliding
    stack's layers plus half the all-full one's (the LM head once), so it lies strictly
    between them; a plain full-attention stack keeps all its layers."""
    from pytest_archcheck.formulas.devices import lookup_device

    dev = lookup_device("H100-80GB")
    kw = {"infer": {"seq_len": 4096}}
    lat = {
        name: family_of(s).latency(s, dev, 1e-5)
        for name, s in {
            "mixed": _spec(**kw),
            "sliding": _spec({"global_every": None}, **kw),
            "full": _spec({"global_every": None, "attention": "full", "window": 0}, **kw),
        }.items()
    }
    assert all(v is not None and v.steps == 4 + 1 for v in lat.values())  # 4 layers + head
    s, m, f = (lat[k].seconds for k in ("sliding", "mixed", "full"))  # type: ignore[union-attr]
    assert s < m < f
