"""Receptive fields of named image models, from the hand-written layer lists of
families/conv2d.py, against the published values (Araujo et al. 2019, Distill: VGG-16 212 px,
Inception-v3 1311 px; torchvision's ResNet-50, stride on the 3x3 conv, 427 px)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.families.conv2d import NAMED_PATHS, image_receptive_field, named_architecture


@pytest.mark.parametrize(
    ("name", "field", "stride"),
    [
        # by hand: 7x7/2 stem (7, jump 2), 3x3/2 pool (+4 = 11, jump 4), stage 1: 3 x (+8) = 35,
        # stage 2: +8 (stride 2 -> jump 8) then 3 x (+16) = 91, stage 3: +16 then 5 x (+32)
        # = 267, stage 4: +32 then 2 x (+64) = 427
        ("resnet50", 427, 32),
        # by hand: 5 stages of 3x3 convs and a 2x2/2 pool: 1+2+2+1 = 6, +4+4+2 = 16, +8*3+4 = 44,
        # +16*3+8 = 100, +32*3+16 = 212
        ("vgg16", 212, 32),
        ("inception_v3", 1311, 32),
        ("resnet18", 435, 32),
    ],
)
def test_published_receptive_fields(name: str, field: int, stride: int) -> None:
    r, s, reach = image_receptive_field(NAMED_PATHS[name])
    assert (r, s, reach) == (field, stride, (field - 1) // 2)


def test_named_factories_are_read_without_import() -> None:
    assert named_architecture("torchvision.models:resnet50") == "resnet50"
    assert named_architecture("timm:resnet50") == "resnet50"
    assert named_architecture("torchvision.models.vgg:vgg16_bn") == "vgg16_bn"
    assert named_architecture("mypkg.models:resnet50") is None
    assert named_architecture("torchvision.models:efficientnet_b0") is None


def test_estimate_refuses_with_the_exact_receptive_field(tmp_path: Path) -> None:
    """No parameter count or peak for a network the image family does not model (the issue's
    790,504 parameters for resnet50); the receptive field it does know is in the message."""
    spec = tmp_path / "rn.archcheck.toml"
    spec.write_text(
        '[model]\nfamily = "cnn"\ninput = "image"\nfactory = "timm:resnet50"\nimage_size = 224\n',
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "estimate", str(spec)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    text = out.stdout + out.stderr
    assert "rn.archcheck.toml:4:" in text and "ARC304" in text
    assert "receptive field 427 px, effective stride 32 px, centre-to-edge reach 213 px" in text
    assert "790" not in text and "parameters  " not in text


def test_train_image_size_is_the_image_side() -> None:
    """`[train] image_size` (DESIGN §9) sets n for an image model, over `[model] image_size`."""
    from pytest_archcheck.estimate import estimate
    from pytest_archcheck.spec.model import Spec

    base = {"family": "cnn", "input": "image", "image_size": 224, "layers": 1, "channels": 8}
    spec = Spec.model_validate({"model": base, "train": {"image_size": 32}})
    assert estimate(spec).n == 32
    assert estimate(Spec.model_validate({"model": base})).n == 224
