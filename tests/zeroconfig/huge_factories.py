"""Factories far too large to build for real: 200k x 200k fp32 weights are 149 GiB."""

from __future__ import annotations

from typing import Any

SIDE = 200_000


def _refuse_real_weights() -> None:
    """Raise when called outside the meta device and FakeTensorMode: the test must fail
    cleanly, not take the machine's memory, if the probe ever builds for real."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensor

    t = torch.empty(1)
    if not (t.device.type == "meta" or isinstance(t, FakeTensor)):
        raise RuntimeError("built with real weights")


def huge() -> Any:
    from torch import nn

    _refuse_real_weights()
    return nn.Sequential(nn.Linear(64, SIDE, bias=False), nn.Linear(SIDE, SIDE, bias=False))


def huge_meta_hostile() -> Any:
    """Copies data into a parameter at build time: not on the meta device, fine under fakes."""
    import torch
    from torch import nn

    _refuse_real_weights()
    m = nn.Sequential(nn.Linear(64, SIDE, bias=False), nn.Linear(SIDE, SIDE, bias=False))
    with torch.no_grad():
        m[0].weight.copy_(torch.ones(SIDE, 64).to("cpu"))
    return m
