"""Receptive fields measured by gradients against hand-computed values and Distill's formulas."""

from __future__ import annotations

from behaviour_corpus import StridedDilated, TinyResNet

from pytest_archcheck.behaviour.reach import receptive_fields
from pytest_archcheck.formulas import path as formulas

# StridedDilated, worked by hand (r_l = r_{l-1} + (k_eff - 1)·j_{l-1}; j_l = j_{l-1}·s_l;
# P_l = P_{l-1} + p_l·j_{l-1}):
#   c1 k3 s1 p1:        r = 3,  j = 1, P = 1
#   c2 k3 s2 p1:        r = 3 + 2·1 = 5,   j = 2, P = 1 + 1·1 = 2
#   c3 k3 d2 (k_eff 5): r = 5 + 4·2 = 13,  j = 2, P = 2 + 2·2 = 6
#   p4 max k2 s2 p0:    r = 13 + 1·2 = 15, j = 4, P = 6
#   c5 k3 d3 (k_eff 7): r = 15 + 6·4 = 39, j = 4, P = 6 + 3·4 = 18
HAND = [(3, 1, 1), (5, 2, 2), (13, 2, 6), (15, 4, 6), (39, 4, 18)]
LAYERS = [  # (kernel, stride, dilation, padding) per layer, for the formula library
    (3, 1, 1, 1),
    (3, 2, 1, 1),
    (3, 1, 2, 2),
    (2, 2, 1, 0),
    (3, 1, 3, 3),
]


def test_strided_dilated_stack_matches_hand_values() -> None:
    fields = receptive_fields(StridedDilated(), (2, 96, 96))
    assert [f.layer for f in fields] == ["c1", "c2", "c3", "p4", "c5"]
    for f, (r, j, p) in zip(fields, HAND, strict=True):
        assert not f.clipped
        assert f.size == (r, r) and f.stride == (j, j) and f.padding == (p, p)


def test_agrees_with_formula_library_at_every_layer() -> None:
    fields = receptive_fields(StridedDilated(), (2, 96, 96))
    for depth, f in enumerate(fields, start=1):
        ks, ss, ds, ps = zip(*LAYERS[:depth], strict=True)
        assert f.size[0] == formulas.receptive_field(list(ks), list(ds), list(ss))
        assert f.stride[0] == formulas.effective_stride(list(ss))
        assert f.padding[0] == formulas.effective_padding(list(ps), list(ss))


def test_one_dimensional_axis_too() -> None:
    from torch import nn

    stack = nn.Sequential(nn.Conv1d(1, 2, 5, 2, 2), nn.ReLU(), nn.Conv1d(2, 2, 3, 1, 4, 4))
    # k5 s2 p2: r 5, j 2, P 2; k3 d4 (k_eff 9) p4: r = 5 + 8·2 = 21, j 2, P = 2 + 4·2 = 10
    f1, f2 = receptive_fields(stack, (1, 80))
    assert (f1.size, f1.stride, f1.padding) == ((5,), (2,), (2,))
    assert (f2.size, f2.stride, f2.padding) == ((21,), (2,), (10,))


def test_resnet_style_fields_by_hand() -> None:
    # stem 7/2 p3: r 7 j 2 P 3; maxpool 3/2 p1: r 7+2·2 = 11, j 4, P 3+1·2 = 5;
    # layer1 3x3 convs: r 19, 27 (P 9, 13); layer2.conv1 3/2: r 27+2·4 = 35, j 8, P 17;
    # layer2.conv2: r 35+2·8 = 51, P 25; 1x1/2 shortcut on the block input: r 27, j 8, P 13.
    got = {
        f.layer: (f.size[0], f.stride[0], f.padding[0])
        for f in receptive_fields(TinyResNet(), (3, 128, 128))
    }
    assert got == {
        "stem.0": (7, 2, 3),
        "stem.3": (11, 4, 5),
        "layer1.conv1": (19, 4, 9),
        "layer1.conv2": (27, 4, 13),
        "layer2.conv1": (35, 8, 17),
        "layer2.conv2": (51, 8, 25),
        "layer2.down.0": (27, 8, 13),
    }
    (last,) = receptive_fields(TinyResNet(), (3, 128, 128), last_only=True)
    assert (last.layer, last.size[0]) == ("layer2", 51)


def test_clipped_fields_are_marked() -> None:
    (last,) = receptive_fields(StridedDilated(), (2, 24, 24), last_only=True)
    assert last.clipped


def test_token_cnn_reach_is_measured_through_the_embedding() -> None:
    """A text CNN (Embedding -> 8 x Conv1d(k=3, padding 1)) per-position tagger: each layer
    adds one position per side, so the measured reach is 8 on each side (hand count)."""
    import torch
    from torch import nn

    from pytest_archcheck.behaviour.reach import measure_reach
    from pytest_archcheck.spec.model import Spec

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 8)
            self.convs = nn.Sequential(*[nn.Conv1d(8, 8, 3, padding=1) for _ in range(8)])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.convs(self.emb(x).transpose(1, 2)).transpose(1, 2)

    spec = Spec.model_validate(
        {
            "model": {
                "family": "cnn",
                "layers": 8,
                "d_model": 8,
                "kernel": 3,
                "vocab": 50,
                "causal": False,
            },
            "budget": {"span": 20},
        }
    )
    torch.manual_seed(0)
    r = measure_reach(Tagger(), spec)
    assert (r.left, r.right) == (8, 8)
