"""Reach, path length, sequential steps and receptive fields (DESIGN.md §4)."""

from __future__ import annotations

from pytest_archcheck.formulas.path import (
    attention_path,
    conv_layer_reach,
    conv_path,
    conv_path_length,
    conv_reach,
    effective_padding,
    effective_stride,
    layers_needed,
    path_from_spec,
    receptive_field,
    recurrent_path,
)
from pytest_archcheck.spec.model import Spec


def test_conv_reach_centered_and_causal() -> None:
    assert conv_layer_reach(3) == 1 and conv_layer_reach(3, centered=False) == 2
    assert conv_layer_reach(5, dilation=2) == 4
    assert conv_layer_reach(2) == 0  # an even kernel has no guaranteed reach on both sides
    assert layers_needed(10, 2) is None
    assert conv_reach([3] * 6) == 6 * (3 - 1) // 2
    assert conv_reach([3] * 6, centered=False) == 6 * (3 - 1)


def test_strided_receptive_field_araujo() -> None:
    # k=[3, 3], s=[2, 1]: r0 = 1 + (3-1)*1 + (3-1)*2 = 7; S0 = 2; P0 = 1 + 1*2 = 3
    assert receptive_field([3, 3], strides=[2, 1]) == 7
    assert effective_stride([2, 1]) == 2
    assert effective_padding([1, 1], [2, 1]) == 3
    # reach: layer 1 reaches 1, layer 2 steps over stride-2 positions: 1*2
    assert conv_reach([3, 3], strides=[2, 1]) == 1 + 1 * 2


def test_conv_path_length() -> None:
    assert conv_path_length(3, [3] * 8) == 3
    assert conv_path_length(9, [3] * 8) is None
    assert conv_path_length(15, [3] * 4, [1, 2, 4, 8]) == 4  # 1 + 2 + 4 + 8 = 15
    r = conv_path(512, [3] * 8)
    assert (r.reach, r.covered, r.path_length, r.receptive_field) == (8, False, None, 17)
    assert r.directions == "both" and r.sequential_steps == 8


def test_recurrent() -> None:
    r = recurrent_path(512, 1024, bptt=256)
    assert r.reach is None and r.unlimited and r.covered is True and r.path_length == 512
    assert r.sequential_steps == 1024 and r.gradient_horizon == 256 and r.directions == "past"
    assert recurrent_path(None, 10, bidirectional=True).directions == "both"
    assert recurrent_path(None, 10).covered is None


def test_attention() -> None:
    r = attention_path(100_000, 6)
    assert r.reach is None and r.path_length == 1 and r.covered is True
    assert attention_path(10, 2, "linear", causal=False).directions == "both"
    s = attention_path(1000, 6, "sliding", 256)
    assert s.reach == 6 * 256 and s.path_length == 4  # ceil(1000/256)
    assert attention_path(2000, 6, "sliding", 256).covered is False
    assert attention_path(600, 3, "local", 256).path_length == 3
    assert attention_path(10, 3, "sliding", 0).covered is False


def test_path_from_spec() -> None:
    tcn = Spec(model={"family": "tcn", "layers": 4, "kernel": 3, "dilations": [1, 2, 4, 8]},
               budget={"span": 30})  # fmt: skip
    r = path_from_spec(tcn)
    assert (r.reach, r.covered, r.path_length, r.directions) == (30, True, 4, "past")
    cnn = Spec(model={"family": "cnn", "layers": 8, "kernel": 3}, budget={"span": 512})
    assert path_from_spec(cnn).covered is False
    lstm = Spec(model={"family": "lstm"}, train={"seq_len": 100, "bptt": 35}, budget={"span": 50})
    r = path_from_spec(lstm)
    assert r.path_length == 50 and r.sequential_steps == 100 and r.gradient_horizon == 35
    gpt = Spec(model={"layers": 12}, budget={"span": 512})
    assert path_from_spec(gpt).path_length == 1
