"""Residual temporal blocks (`residual`, `weight_norm`, `padding = "chomp"`: locuslab/TCN's
layout): the path through skippable blocks, the spec checks, and the refusals of the figures
the formulas do not model. Parameter counts and FLOPs are checked against the repository's own
class in tests/zeroconfig/test_init_repos.py."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.families.conv1d import residual_path_length
from pytest_archcheck.spec.model import Spec


def tcn(**model: Any) -> Spec:
    base = {
        "family": "tcn", "input": "embeddings", "in_channels": 2, "layers": 6, "kernel": 3,
        "dilations": [1, 1, 2, 2, 4, 4], "channels": [8] * 6, "residual": True,
        "weight_norm": True, "padding": "chomp", "classes": 1,
    }  # fmt: skip
    return Spec.model_validate({"model": base | model, "train": {"batch": 2, "seq_len": 64}})


def test_path_may_skip_whole_blocks() -> None:
    # blocks reach 2*(3-1)*d = 4, 8, 16 (the first behind a 1x1 skip conv, 2 -> 8 channels).
    # span 16: the last block alone (2 convs) + the first block's skip conv (1 layer) = 3;
    # a plain stack would need all 6 layers (4 + 8 < 16 before the last block)
    assert residual_path_length(16, [(4, True), (8, False), (16, False)]) == 3
    # span 20: 16 + 4 (the first block taken: 2 convs, no skip conv) = 4 layers
    assert residual_path_length(20, [(4, True), (8, False), (16, False)]) == 4
    # span 24: 16 + 8 = 4 convs, plus the first block's skip conv = 5
    assert residual_path_length(24, [(4, True), (8, False), (16, False)]) == 5
    assert residual_path_length(29, [(4, True), (8, False), (16, False)]) is None


def test_reach_and_path_length_in_estimate() -> None:
    spec = Spec.model_validate(tcn().model_dump(exclude_none=True) | {"budget": {"span": 16}})
    path = estimate(spec).path_info
    # R = 1 + Σ (k-1)·d over the six convs = 1 + 2·(1+1+2+2+4+4) = 29
    assert (path.receptive_field, path.reach, path.path_length) == (29, 28, 3)


def test_peak_and_latency_refused_naming_the_key() -> None:
    e = estimate(tcn())
    assert e.refused["memory"].key == ("model", "residual")
    assert e.latency is None
    plain = estimate(tcn(residual=False, weight_norm=False))
    assert plain.refused["memory"].key == ("model", "padding")
    assert (
        "memory" not in estimate(tcn(residual=False, weight_norm=False, padding="causal")).refused
    )


def test_blocks_pair_their_layers() -> None:
    from pytest_archcheck.families import family_of

    spec = tcn(dilations=[1, 2, 2, 2, 4, 4])
    problems = list(family_of(spec).dimension_problems(spec))
    assert problems and problems[0][1] == ("model", "dilations")
    odd = tcn(layers=5, dilations=[1, 1, 2, 2, 4], channels=[8] * 5)
    assert next(iter(family_of(odd).dimension_problems(odd)))[1] == ("model", "layers")


def test_reference_module_refused() -> None:
    pytest.importorskip("torch")
    from pytest_archcheck.families import family_of
    from pytest_archcheck.probe.build import FactoryError

    with pytest.raises(FactoryError, match=r"model\.residual"):
        family_of(tcn()).reference_module(tcn())
