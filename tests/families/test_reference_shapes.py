"""Each family unit's `param_shapes` (the one source of parameter counts and of weight, gradient
and optimizer bytes) against torch's own count: the parameters of the reference nn.Module it
describes, built on the meta device. And the registry itself: one unit per family value."""

from __future__ import annotations

from collections import Counter

import pytest
from family_specs import specs
from hypothesis import HealthCheck, given, settings

from pytest_archcheck.families import family_names, family_of, units
from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.spec.model import Spec

torch = pytest.importorskip("torch")


def _module(spec: Spec) -> object:
    with torch.device("meta"):
        return family_of(spec).reference_module(spec)


@pytest.mark.parametrize("unit", ["transformer", "recurrent", "conv1d", "conv2d"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=__import__("hypothesis").strategies.data())
def test_param_shapes_are_the_reference_modules_parameters(unit: str, data: object) -> None:
    spec, _ = data.draw(specs(unit))  # type: ignore[attr-defined]
    fam = family_of(spec)
    assert fam.name == unit
    module = _module(spec)
    torch_shapes = Counter(tuple(p.shape) for p in module.parameters())  # type: ignore[attr-defined]
    assert Counter(fam.param_shapes(spec)) == torch_shapes
    assert params_from_spec(spec) == sum(p.numel() for p in module.parameters())  # type: ignore[attr-defined]
    buffers = sum(b.numel() * b.element_size() for b in module.buffers())  # type: ignore[attr-defined]
    assert fam.buffer_bytes(spec) == buffers


def test_registry_serves_every_family_once() -> None:
    assert family_names() == [
        "cnn",
        "encoder-decoder",
        "gru",
        "hybrid",
        "lstm",
        "rnn",
        "tcn",
        "transformer",
    ]
    assert [u.name for u in units()] == [
        "conv1d", "conv2d", "encoder-decoder", "hybrid", "hybrid-recurrent", "recurrent",
        "transformer", "vit",
    ]  # fmt: skip
    for family in family_names():
        for inp in ("tokens", "embeddings", "image"):
            serving = [u for u in units() if family in u.serves and inp in u.inputs]
            # the two hybrid units split `family = "hybrid"` by their last stage (handles)
            assert len(serving) <= (2 if family == "hybrid" else 1), (family, inp)
    from pytest_archcheck.spec.model import ModelTable

    for last, unit in (("transformer", "hybrid"), ("lstm", "hybrid-recurrent")):
        m = ModelTable.model_validate(
            {"family": "hybrid", "stage": [{"family": "cnn"}, {"family": last}]}
        )
        assert [u.name for u in units() if u.handles(m)] == [unit]


def test_image_cnn_counts_the_resnet_it_builds() -> None:
    """0.1 printed 61,162 parameters (one conv per layer) for this spec while the memory rows
    counted the BasicBlock ResNet (152,976 / 4 bytes): both now count the ResNet. By hand:
    stem 3x3 3->16 (432) + BN (32); block 16->16: two 3x3 convs 2*2,304 + 2 BNs 64; block
    16->32 stride 2: 3x3 16->32 4,608 + 3x3 32->32 9,216 + 2 BNs 128 + 1x1 projection 512 + BN
    64; classifier 32*10 + 10."""
    spec = Spec.model_validate(
        {"model": {"family": "cnn", "input": "image", "layers": 2, "channels": [16, 32],
                   "strides": [1, 2], "in_channels": 3, "classes": 10}}
    )  # fmt: skip
    expect = 432 + 32 + 2 * 2304 + 64 + 4608 + 9216 + 128 + 512 + 64 + 330
    assert params_from_spec(spec) == expect == 19_994
