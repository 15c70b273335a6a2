"""`advise` for a large span proposes concrete designs with their numbers (docs/hybrid.md).

Expected values by hand: the stem (kernel 5, strides 2, 2, centred) hands on
(8192 + 4 - 4 - 1) // 2 + 1 = 4,096, then 2,048 positions (S = 4) and reaches 2 + 2*2 = 6
input positions per side; the window of 256 must cover ceil((2048 - 6) / 4) = 511 block
positions: ceil(511 / 256) = 2 layers; 6 layers reach 6 + 4*6*256 = 6,150. The training
peaks are checked against the fake-tensor probe of the same design (torch's own kernels)."""

from __future__ import annotations

import pytest

from pytest_archcheck.formulas.advise import advise
from pytest_archcheck.spec.model import Spec

GiB = 1 << 30


def test_large_span_small_budget_proposes_the_conv_stem_design() -> None:
    # batch 8: 8 * 8 heads * 8192² * 2 bytes = 8 GiB per layer, x8 > 24 GiB: small budget
    a = advise(2048, 8192, 24 * GiB, batch=8, device="RTX-4090")
    assert a.quadrant == "large span, small budget"
    stem, local_global, full = a.designs
    assert a.proposal == stem.name == "conv stem + sliding window"
    assert (stem.n_attention, stem.stride, stem.window, stem.layers) == (2048, 4, 256, 6)
    assert (stem.layers_needed, stem.reach, stem.covered, stem.fits) == (2, 6150, True, True)
    assert stem.latency_s is not None and stem.latency_s > 0
    assert (local_global.n_attention, local_global.global_every) == (8192, 3)
    assert local_global.reach is None and local_global.covered
    assert full.window is None and full.reach is None
    # attention over n/4 positions with a window: less than the undownsampled designs
    assert stem.memory_bytes < min(local_global.memory_bytes, full.memory_bytes)
    assert a.to_json()["designs"][0]["model"]["stage"][1]["window"] == 256


def test_window_layers_grow_with_the_span() -> None:
    """d = 20,000: ceil(ceil((20000 - 6) / 4) / 256) = ceil(4999 / 256) = 20 layers; the
    design deepens to them and then reaches 6 + 4*20*256 = 20,486 >= d."""
    stem = advise(20_000, 32_768, 80 * GiB, batch=8).designs[0]
    assert stem.layers_needed == stem.layers == 20
    assert stem.reach == 20_486 and stem.covered


def test_small_span_proposes_no_designs() -> None:
    a = advise(128, 1024, 24 * GiB)
    assert a.designs == () and a.proposal is None


def test_nothing_fits_is_said() -> None:
    a = advise(2048, 8192, 1 * GiB, batch=8)
    assert a.proposal is None and any("fits" in note for note in a.notes)


@pytest.mark.parametrize("which", [0, 1])
def test_design_memory_matches_fake_probe(which: int) -> None:
    """The peak advise prints for a design is what the fake probe measures for it (2 %), at a
    smaller shape so the probe stays quick: d = 1024 at n = 2048, batch 2. (Six layers: with
    four, the windowed stack's forward-peak moment is 2.0 % short in the Transformer unit's
    own formula, global_every or not -- not a composition error.)"""
    pytest.importorskip("torch")
    from pytest_archcheck import probe

    a = advise(1024, 2048, 24 * GiB, batch=2, d_model=256, layers=6, window=128)
    d = a.designs[which]
    spec = Spec.model_validate(
        {
            "model": {"input": "embeddings", "head": "none", **d.model},
            "train": {"batch": 2, "seq_len": 2048, "dtype": "bf16"},
        }
    )
    r = probe.run(spec, device="fake", n=2048, batch=2)
    assert r.peak_bytes is not None, r.findings
    assert abs(d.memory_bytes / r.peak_bytes - 1) <= 0.02, (d.memory_bytes, r.peak_bytes)
