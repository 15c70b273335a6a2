"""Adding a family is one new file: a toy per-position MLP family, dropped into a copy of the
package as `families/toy.py` (no other source file touched), gets `estimate`, `probe --device
fake` and the memory and span rules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_archcheck

TOY = '''"""Toy family: token embedding, then `layers` position-wise Linear+ReLU layers, then an LM
head. No layer mixes positions, so the reach is 0: any span is uncovered."""

from __future__ import annotations

from typing import Any

from ..formulas.flops import Flops
from ..formulas.path import PathReport
from ..formulas.registry import formula
from . import Family, ForwardSaved, register


@register
class Toy(Family):
    name = "toy"
    serves = ("toy",)
    inputs = ("tokens",)
    formula_names = {k: "toy.saved" for k in
                     ("flops", "reach", "receptive_field", "path_length", "sequential_steps",
                      "latency")}

    def param_shapes(self, spec):
        m = spec.model
        d, v = m.d_model, m.vocab
        return [(v, d), *[s for _ in range(m.layers) for s in ((d, d), (d,))], (v, d), (v,)]

    def forward_saved(self, spec, n, batch, target):
        return toy_saved(spec, n, batch)

    def flops(self, spec, n, batch, convention="archcheck"):
        m = spec.model
        f = 2 * batch * n * (m.layers * m.d_model**2 + m.d_model * m.vocab)
        return Flops(f, 3 * f)

    def path(self, spec, span, n):
        return PathReport(span, 0, "both", None, None if span is None else span <= 0,
                          spec.model.layers, 1)

    def reference_module(self, spec):
        import torch
        from torch import nn

        m = spec.model

        class ToyNet(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding(m.vocab, m.d_model)
                self.layers = nn.ModuleList(nn.Linear(m.d_model, m.d_model)
                                            for _ in range(m.layers))
                self.head = nn.Linear(m.d_model, m.vocab)

            def forward(self, x: Any) -> Any:
                h = self.emb(x)
                for layer in self.layers:
                    h = torch.relu(layer(h))
                return self.head(h)

        return ToyNet()


@formula("toy.saved", "ids 8bs + embedding 4bsd + L relu outputs 4bsd + logits 4bsV + loss 4",
         "tests/families/test_new_family.py")
def toy_saved(spec, n, batch):
    """Bytes the toy network keeps for backward (fp32)."""
    m = spec.model
    bs = batch * n
    acts = 8 * bs + 4 * bs * m.d_model * (1 + m.layers)
    return ForwardSaved(acts, 0, 4 * bs * m.vocab + 4, formula="toy.saved")
'''

SPEC = """[model]
name = "toy-net"
family = "toy"
layers = 2
d_model = 32
vocab = 50

[train]
batch = 2
seq_len = 64
optimizer = "sgd"

[budget]
device = "cpu"
memory = "%s"
span = 8
"""


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pkg")
    src = Path(pytest_archcheck.__file__).parent
    shutil.copytree(src, root / "pytest_archcheck", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pytest_archcheck" / "families" / "toy.py").write_text(TOY, encoding="utf-8")
    return root


def _run(package: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(package), "ARCHCHECK_NO_CACHE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", *args],
        check=False, capture_output=True, text=True, cwd=tmp, env=env, timeout=300,
    )  # fmt: skip


def test_only_one_file_was_added(package: Path) -> None:
    ours = Path(pytest_archcheck.__file__).parent
    added = {
        p.relative_to(package / "pytest_archcheck").as_posix()
        for p in (package / "pytest_archcheck").rglob("*.py")
    } - {p.relative_to(ours).as_posix() for p in ours.rglob("*.py")}
    assert added == {"families/toy.py"}


def test_estimate_probe_and_rules_work_for_the_new_family(package: Path, tmp_path: Path) -> None:
    spec = tmp_path / "toy.archcheck.toml"
    spec.write_text(SPEC % "1 GiB", encoding="utf-8")
    est = _run(package, tmp_path, "estimate", str(spec), "--format", "json")
    assert est.returncode == 0, est.stderr
    [e] = json.loads(est.stdout)["models"]
    d, v, L, b, n = 32, 50, 2, 2, 64
    params = v * d + L * (d * d + d) + v * d + v
    assert e["params"] == params and e["unit"] == "toy" and e["target"]["kind"] == "cpu"
    # fp32, SGD: the peak is the end of forward (weights + activations + logits)
    acts = 8 * b * n + 4 * b * n * d * (1 + L)
    assert e["memory"]["phase"] == "forward"
    assert e["memory"]["total"] == 4 * params + acts + 4 * b * n * v + 4
    assert e["dependency"]["reach"] == 0 and e["dependency"]["covered"] is False

    probe = _run(package, tmp_path, "probe", str(spec), "--device", "fake", "--format", "json")
    assert probe.returncode == 0, probe.stderr
    [p] = json.loads(probe.stdout)["models"]
    assert p["target"] == "cpu" and p["peak_bytes"] > 0
    # the toy's formula ignores backward transients (logit gradients): same order, not exact
    assert abs(p["peak_bytes"] / e["memory"]["total"] - 1) < 0.25

    check = _run(package, tmp_path, "check", str(spec), "--format", "json")
    codes = sorted(f["code"] for f in json.loads(check.stdout)["findings"])
    assert codes == ["ARC104"], check.stdout  # span 8 > reach 0; 1 GiB fits
    spec.write_text(SPEC % "64 KiB", encoding="utf-8")
    check = _run(package, tmp_path, "check", str(spec), "--format", "json")
    codes = sorted(f["code"] for f in json.loads(check.stdout)["findings"])
    assert "ARC101" in codes and "ARC104" in codes, check.stdout
