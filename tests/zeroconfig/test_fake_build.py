"""The fake probe builds a user's factory without real weights: on the meta device, else under
its FakeTensorMode. Each factory here would need 149 GiB if built for real."""

from __future__ import annotations

import pytest

from pytest_archcheck import probe
from pytest_archcheck.spec.model import Spec

from .huge_factories import SIDE

pytest.importorskip("torch")


@pytest.mark.parametrize("factory", ["huge", "huge_meta_hostile"])
def test_fake_probe_never_builds_real_weights(factory: str) -> None:
    spec = Spec.model_validate(
        {
            "model": {
                "factory": f"tests.zeroconfig.huge_factories:{factory}",
                "inputs": ["series"],
                "input": "embeddings",
                "d_model": 64,
            },
            "train": {"batch": 1, "seq_len": 2, "dtype": "fp32", "optimizer": "sgd"},
        }
    )
    res = probe.run(spec, device="fake", emulate="cpu")
    assert res.findings == [], [f.message for f in res.findings]
    weights = (64 * SIDE + SIDE * SIDE) * 4
    assert res.breakdown is not None and res.breakdown["params"] == weights
