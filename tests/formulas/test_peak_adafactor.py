"""Adafactor's state in the training-peak formula, for tensors of any rank.

torch.optim.Adafactor keeps, for a tensor of shape (..., m, n), a row factor of shape (..., m, 1)
and a column factor of shape (..., 1, n) (fp32), plus a scalar step per tensor: a conv weight
(c_out, c_in, k) keeps c_out*c_in + c_out*k entries, not c_in + k.
"""

from __future__ import annotations

import importlib.util

import pytest

from pytest_archcheck.formulas.peak import train_memory
from pytest_archcheck.spec.model import Spec

TCN = {
    "model": {
        "name": "t", "family": "tcn", "layers": 3, "d_model": 64, "vocab": 1000, "kernel": 3,
        "dilations": [1, 2, 4], "channels": 256,
    },
    "train": {"seq_len": 128, "batch": 2, "optimizer": "adafactor"},
    "budget": {"device": "cpu"},
}  # fmt: skip

# By hand, tensor by tensor (rows + cols, or all entries for 1-D):
#   embedding (1000, 64): 1000 + 64 = 1064
#   conv1 (256, 64, 3): 256*64 + 256*3 = 17,152; bias 256
#   conv2, conv3 (256, 256, 3): 256*256 + 256*3 = 66,304 each; biases 256 each
#   head (1000, 256): 1000 + 256 = 1256; bias 1000
ENTRIES = 1064 + 17_152 + 256 + 2 * (66_304 + 256) + 1256 + 1000  # 153,848
TENSORS = 9


def test_adafactor_state_of_conv_weights_counts_their_leading_dims() -> None:
    spec = Spec.model_validate(TCN)
    assert train_memory(spec, device="cpu").optimizer == 4 * ENTRIES + 4 * TENSORS == 615_428


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_adafactor_state_equals_what_torch_allocates() -> None:
    from pytest_archcheck.probe import run

    res = run(Spec.model_validate(TCN), device="cpu")
    assert res.breakdown is not None, res.findings
    assert res.breakdown["optimizer"] == 615_428
