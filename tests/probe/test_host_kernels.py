"""A kernel that the host's torch cannot run is named as the host's limit, not the model's.

torch 2.13 runs a CPU LSTM under bf16 autocast through oneDNN, whose bf16 primitive needs
AVX-512 BF16: on a CPU without it a real training step raises "could not create a primitive
descriptor" exactly as the fake probe's does. Whichever host runs this test, one branch holds.
"""

from __future__ import annotations

import pytest

from pytest_archcheck import probe
from pytest_archcheck.spec.model import Spec

torch = pytest.importorskip("torch")

RAW = {
    "model": {"family": "lstm", "layers": 1, "d_model": 16, "vocab": 50, "hidden": 16},
    "train": {"batch": 2, "dtype": "bf16", "optimizer": "adam"},
    "budget": {"device": "cpu"},
}


def _real_step_runs() -> bool:
    m = torch.nn.LSTM(16, 16, 1)
    x = torch.zeros(8, 2, 16, requires_grad=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            m(x)[0].float().sum().backward()
    except RuntimeError:
        return False
    return True


def test_bf16_lstm_on_a_cpu_target_is_measured_or_the_host_is_named() -> None:
    res = probe.run(Spec.model_validate(RAW), device="fake", n=8, batch=2)
    if _real_step_runs():
        assert res.peak_bytes is not None, res.findings
    else:
        assert res.peak_bytes is None
        [f] = res.findings
        assert f.code == "ARC303"
        assert "AVX-512 BF16" in f.message and "dtype = 'fp32'" in f.message
