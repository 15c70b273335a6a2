"""The probe measures receptive fields on the model (gradient of the centre output pixel) and
they agree with the layer-list figures: on the image family's reference ResNet (always), and
on torchvision's own resnet50 / vgg16 (an implementation we did not write), when installed."""

from __future__ import annotations

import importlib.util
import os

import pytest

from pytest_archcheck.families.conv2d import NAMED_PATHS, image_receptive_field
from pytest_archcheck.spec.model import Spec

from . import tvshim

torch = pytest.importorskip("torch")


def test_reference_resnet_field_matches_the_formula() -> None:
    from torch import nn

    from pytest_archcheck.estimate import estimate
    from pytest_archcheck.families.reference.conv2d import ResNet
    from pytest_archcheck.probe.receptive import measure

    spec = Spec.model_validate(
        {
            "model": {
                "family": "cnn", "input": "image", "image_size": 96, "layers": 6,
                "channels": [8, 8, 16, 16, 16, 16], "strides": [1, 2, 1, 2, 1, 1],
            }
        }
    )  # fmt: skip
    net = ResNet(spec)
    features = nn.Sequential(net.stem, net.bn, nn.ReLU(), net.blocks)
    got = measure(features, 160)
    # by hand (examples/image-small-rf): 3 +2+2 +2+4 +4+4 +4+8 +8+8 +16+16 = 65, stride 4
    assert (got.receptive_field, got.effective_stride) == (65, 4)
    assert estimate(spec).path_info.receptive_field == 65


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "side"), [("resnet50", 640), ("vgg16", 320), ("inception_v3", 1500)]
)
def test_torchvision_fields_match_the_layer_lists(name: str, side: int) -> None:
    if not tvshim.install():
        if os.environ.get("ARCHCHECK_REQUIRE_VISION"):  # CI's vision stage: a skip would hide it
            pytest.fail("ARCHCHECK_REQUIRE_VISION is set but torchvision does not import")
        pytest.skip("torchvision is not installed (the `vision` test extra; CI's vision stage)")
    import torchvision
    from torch import nn

    from pytest_archcheck.probe.receptive import measure

    if name == "inception_v3":
        # Inception3's feature map is Mixed_7c's output: every child up to it but the
        # auxiliary classifier (a side branch), the pooling, dropout and classifier after it.
        # Its blocks max-pool functionally (F.max_pool2d, not replaced by an average pool):
        # on the measurement's constant input the argmax still reaches the field's edge.
        model = torchvision.models.inception_v3(init_weights=False, aux_logits=False)
        features = nn.Sequential(
            *[c for n, c in model.named_children() if n not in ("avgpool", "dropout", "fc")]
        )
    else:
        model = getattr(torchvision.models, name)()
        features = (
            model.features
            if name.startswith("vgg")
            else nn.Sequential(*list(model.children())[:-2])
        )
    got = measure(features, side)
    r, s, _ = image_receptive_field(NAMED_PATHS[name])
    assert (got.receptive_field, got.effective_stride) == (r, s)
    # the published values (Araujo et al. 2019, "Computing Receptive Fields of Convolutional
    # Neural Networks", Distill, table of classification networks)
    assert r == {"resnet50": 427, "vgg16": 212, "inception_v3": 1311}[name]


@pytest.mark.slow
def test_timm_resnet50_field_matches_the_layer_list() -> None:
    """timm's resnet50 (an implementation we did not write either), its feature map as
    timm.create_model(..., num_classes=0, global_pool="") returns it, measured the same way:
    the 427 px / stride 32 of the "timm:resnet50" factory's layer list."""
    if not tvshim.install() or importlib.util.find_spec("timm") is None:
        if os.environ.get("ARCHCHECK_REQUIRE_VISION"):  # CI's vision stage: a skip would hide it
            pytest.fail("ARCHCHECK_REQUIRE_VISION is set but timm/torchvision do not import")
        pytest.skip("timm is not installed (CI's vision stage installs it --no-deps)")
    import timm

    from pytest_archcheck.families.conv2d import named_architecture
    from pytest_archcheck.probe.receptive import measure

    features = timm.create_model("resnet50", pretrained=False, num_classes=0, global_pool="")
    got = measure(features, 640)
    name = named_architecture("timm:resnet50")
    assert name is not None
    assert (got.receptive_field, got.effective_stride) == image_receptive_field(NAMED_PATHS[name])[
        :2
    ]
    assert got.receptive_field == 427
