"""[train.parallel]: the layout's keys, the derived world_size and bad layouts (ARC304 at the
line, ARC301 for a typo inside the table, ARC302 for what is declared but not modelled)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_archcheck.spec.load import load_spec_text
from pytest_archcheck.spec.parallel import Layout, layout_of

HEAD = """[model]
family = "transformer"
layers = 2
d_model = 64
heads = 4
kv_heads = 2
d_ff = 192
vocab = 128

[train]
batch = 2
seq_len = 32
"""


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    return load_spec_text(HEAD + text, str(tmp_path / "m.archcheck.toml"))


def _line(text: str, needle: str) -> int:
    """1-based line of `needle` in HEAD + text (counted here, not by the loader)."""
    return next(i for i, ln in enumerate((HEAD + text).splitlines(), 1) if ln.startswith(needle))


def test_world_size_is_the_mesh_product(tmp_path: Path) -> None:
    text = "[train.parallel]\ndp_replicate = 2\ndp_shard = 4\ntp = 2\n"
    got = _load(tmp_path, text)
    assert got.problems == []
    lay = layout_of(got.spec)
    assert (lay.dp_replicate, lay.dp_shard, lay.tp, lay.world_size, lay.dp) == (2, 4, 2, 16, 8)
    assert lay.describe() == "HSDP replicate 2 x FSDP 4 x TP 2 (world 16)"


def test_older_keys_keep_their_meaning(tmp_path: Path) -> None:
    got = _load(tmp_path, "world_size = 8\ntensor_parallel = 2\nzero_stage = 2\n")
    lay = layout_of(got.spec)
    assert lay == Layout(dp_replicate=4, tp=2, zero_stage=2)
    assert lay.describe() == "DDP replicate 4 x ZeRO-2 x TP 2 (world 8)"


@pytest.mark.parametrize(
    ("text", "needle", "words"),
    [
        ("world_size = 12\n[train.parallel]\ndp_shard = 8\ntp = 2\n", "world_size", "= 16"),
        ("[train.parallel]\ndp_shard = 8\nworld_size = 4\n", "world_size", "= 8 ranks"),
        ("[train.parallel]\ndp_shard = 8\nzero_stage = 2\n", "zero_stage", "FSDP already"),
        ("zero_stage = 1\n[train.parallel]\ndp_shard = 2\n", "zero_stage", "train.zero_stage"),
        ("[train.parallel]\ntp = 3\n", "tp = 3", "model.heads = 4"),
        ("[train.parallel]\ntp = 4\n", "tp = 4", "model.kv_heads = 2"),
        ("tensor_parallel = 2\n[train.parallel]\ntp = 4\n", "tensor_parallel", "keep one"),
        ('[train.parallel]\noffload = "params"\n', "offload", "needs sharded parameters"),
    ],
)
def test_bad_layout_is_arc304_at_the_key(
    tmp_path: Path, text: str, needle: str, words: str
) -> None:
    got = _load(tmp_path, text)
    assert got.spec is None  # nothing runs on it
    [problem] = got.problems
    assert problem.kind == "inconsistent-dimensions"
    assert words in problem.message
    assert problem.line == _line(text, needle)


def test_tp_not_dividing_d_ff(tmp_path: Path) -> None:
    text = "[train.parallel]\ntp = 2\n"
    got = _load(tmp_path, text)
    assert got.problems == []
    bad = HEAD.replace("d_ff = 192", "d_ff = 193") + text
    [problem] = load_spec_text(bad, str(tmp_path / "n.archcheck.toml")).problems
    assert "model.d_ff = 193" in problem.message


def test_typo_in_parallel_table_is_arc301_with_suggestion(tmp_path: Path) -> None:
    text = "[train.parallel]\ndp_shrd = 8\n"
    [problem] = _load(tmp_path, text).problems
    assert problem.kind == "unknown-key"
    assert "`train.parallel.dp_shrd`; did you mean `dp_shard`?" in problem.message
    assert problem.line == _line(text, "dp_shrd")


@pytest.mark.parametrize("key", ["pp", "cp"])
def test_pipeline_and_context_parallel_are_declared_but_refused(tmp_path: Path, key: str) -> None:
    text = f"[train.parallel]\ndp_shard = 2\n{key} = 4\n"
    got = _load(tmp_path, text)
    assert got.spec is None
    [problem] = got.problems
    assert problem.kind == "invalid-value"
    assert f"train.parallel.{key}" in problem.message and "not modelled" in problem.message
    assert problem.line == _line(text, f"{key} =")


def test_bad_value_inside_parallel_is_arc302_at_its_line(tmp_path: Path) -> None:
    text = '[train.parallel]\ndp_shard = "8"\n'
    [problem] = _load(tmp_path, text).problems
    assert problem.kind == "invalid-value"
    assert "`train.parallel.dp_shard`" in problem.message and "(got '8')" in problem.message
    assert problem.line == _line(text, "dp_shard")
