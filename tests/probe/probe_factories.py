"""User factories for the probe tests (imported by "tests.probe.probe_factories:<name>")."""

from __future__ import annotations

import os
import signal
import time
from typing import Any


def encoder(d: int = 32, layers: int = 2, vocab: int = 100) -> Any:
    """nn.TransformerEncoder deep-copies its layer: building it under FakeTensorMode breaks."""
    from torch import nn

    layer = nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True)
    return nn.Sequential(nn.Embedding(vocab, d), nn.TransformerEncoder(layer, layers))


def raises() -> Any:
    raise RuntimeError("boom")


def not_a_module() -> Any:
    return 42


def hangs() -> Any:
    time.sleep(120)


def dies() -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def meta_hostile(d: int = 16) -> Any:
    """Copies data into a parameter at build time: impossible on the meta device."""
    import torch
    from torch import nn

    m = nn.Sequential(nn.Embedding(50, d), nn.Linear(d, 50))
    head: Any = m[1]
    with torch.no_grad():
        head.weight.copy_(torch.ones(50, d).to("cpu"))
    head.weight.data = head.weight.data.to("cpu").clone()
    return m


def bad_forward() -> Any:
    from torch import nn

    return nn.Linear(3, 4)  # token input of shape (b, n) does not fit


def half_sum(out: Any, inputs: tuple[Any, ...]) -> Any:
    """A user loss (`[model] loss`): replaces the probe's default."""
    return out.float().sum() * 0.5
