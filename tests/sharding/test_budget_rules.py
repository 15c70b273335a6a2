"""ARC101/ARC102 budget per rank under [train.parallel], name the layout, and suggest the
smallest change that fits; the figures are the per-rank formula (formulas/sharding.py)."""

from __future__ import annotations

from pathlib import Path

from pytest_archcheck.engine import check_paths
from pytest_archcheck.formulas.peak import train_memory
from pytest_archcheck.runtime import target_for
from pytest_archcheck.spec.load import load_spec_text

SPEC = """[model]
family = "transformer"
layers = 12
d_model = 768
heads = 12
d_ff = 3072
vocab = 50257
max_positions = 2048

[train]
batch = 1
seq_len = 1024

[train.parallel]
dp_shard = {dp}

[budget]
device = "H100-80GB"
memory = "{memory}"
max_n = 1024
"""


def _findings(tmp_path: Path, dp: int, memory: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "gpt.archcheck.toml"
    p.write_text(SPEC.format(dp=dp, memory=memory))
    return check_paths([str(p)], select=["ARC101", "ARC102"]).findings


def _per_rank(dp: int) -> int:
    spec = load_spec_text(SPEC.format(dp=dp, memory="1 GiB"), "x.archcheck.toml").spec
    assert spec is not None
    return train_memory(spec, 1024, 1, target=target_for(spec)).total


def test_budget_is_per_rank_and_names_the_layout(tmp_path: Path) -> None:
    at8, at16 = _per_rank(8), _per_rank(16)
    assert at16 < at8  # more shards, fewer bytes per rank
    budget = (at8 + at16) // 2  # fits at dp_shard 16, not at 8
    [f101] = [f for f in _findings(tmp_path, 8, str(budget)) if f.code == "ARC101"]
    assert "training peak per rank (FSDP 8 (world 8))" in f101.message
    assert f101.fix == "smallest change that fits (formula): dp_shard 8 -> 16"
    assert f101.line == 19  # [budget] memory
    assert _findings(tmp_path, 16, str(budget)) == []


def test_n_max_is_per_rank(tmp_path: Path) -> None:
    at8 = _per_rank(8)
    got = [f for f in _findings(tmp_path, 8, str(at8 - 1)) if f.code == "ARC102"]
    assert got and "per rank (FSDP 8 (world 8))" in got[0].message
