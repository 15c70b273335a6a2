"""DeepSpeed ds_config.json and torchtitan job TOML through `extends`: keys mapped onto
[train] / [train.parallel] (and the torchtitan flavor onto [model]), located for findings,
bad input a finding at its line, nothing executed."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_archcheck.spec.load import load_spec_text
from pytest_archcheck.spec.parallel import layout_of

MODEL = """[model]
extends = "{ref}"
family = "transformer"
layers = 2
d_model = 64
heads = 4
d_ff = 256
vocab = 128
"""

DS = {
    "train_batch_size": 64,
    "train_micro_batch_size_per_gpu": 4,
    "gradient_accumulation_steps": 2,
    "bf16": {"enabled": True},
    "optimizer": {"type": "AdamW", "params": {"lr": 1e-4}},
    "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu"}},
}


def _load(tmp_path: Path, ref: str, extra: str = ""):  # type: ignore[no-untyped-def]
    text = MODEL.format(ref=ref) + extra
    return load_spec_text(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)


def test_deepspeed_keys_become_train_and_parallel(tmp_path: Path) -> None:
    (tmp_path / "ds_config.json").write_text(json.dumps(DS, indent=2))
    got = _load(tmp_path, "ds_config.json")
    assert got.problems == []
    t = got.spec.train
    assert (t.batch, t.dtype, t.optimizer) == (4, "bf16", "adamw")
    lay = layout_of(got.spec)
    # 64 sequences per optimizer step = 4 per rank x 2 accumulation steps x 8 ranks
    assert (lay.dp_replicate, lay.zero_stage, lay.offload) == (8, 2, "optimizer")
    assert lay.describe() == "DDP replicate 8 x ZeRO-2 (world 8)"


def test_unknown_deepspeed_key_is_a_finding_at_its_line(tmp_path: Path) -> None:
    bad = dict(DS)
    bad["zero_optimisation"] = bad.pop("zero_optimization")
    text = json.dumps(bad, indent=2)
    (tmp_path / "ds_config.json").write_text(text)
    got = _load(tmp_path, "ds_config.json")
    assert got.spec is None
    [p] = got.problems
    assert "unknown DeepSpeed key `zero_optimisation`; did you mean `zero_optimization`?" in (
        p.message
    )
    assert p.line == 1 + next(
        i for i, ln in enumerate(text.splitlines()) if '"zero_optimisation"' in ln
    )
    assert p.path.endswith("ds_config.json")


def test_deepspeed_batch_not_dividing_is_a_finding(tmp_path: Path) -> None:
    bad = DS | {"train_batch_size": 60}
    (tmp_path / "ds_config.json").write_text(json.dumps(bad, indent=2))
    [p] = _load(tmp_path, "ds_config.json").problems
    assert "train_batch_size 60 is not micro batch 4 x gradient_accumulation_steps 2" in p.message
    assert p.line == 2


TITAN = """[job]
description = "Llama 3 8B"

[model]
name = "llama3"
flavor = "8B"

[training]
local_batch_size = 2
seq_len = 8192
mixed_precision_param = "bfloat16"

[parallelism]
data_parallel_shard_degree = 8
tensor_parallel_degree = 2

[activation_checkpoint]
mode = "full"
"""


def test_torchtitan_llama3_8b(tmp_path: Path) -> None:
    (tmp_path / "job.toml").write_text(TITAN)
    text = '[model]\nextends = "job.toml"\n'
    got = load_spec_text(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)
    assert got.problems == []
    m, t = got.spec.model, got.spec.train
    # Llama 3 8B (Meta's params.json): dim 4096, 32 layers, 32 heads, 8 KV heads, FFN 14336,
    # vocab 128256; 14336 = 1024 * ceil(1.3 * int(8 * 4096 / 3) / 1024) = 1024 * ceil(14198.6/1024)
    assert (m.layers, m.d_model, m.heads, m.kv_heads, m.d_ff, m.vocab) == (
        32, 4096, 32, 8, 14336, 128256,
    )  # fmt: skip
    assert (t.batch, t.seq_len, t.checkpointing) == (2, 8192, True)
    lay = layout_of(got.spec)
    assert (lay.dp_shard, lay.tp, lay.world_size, lay.param_dtype) == (8, 2, 16, "bf16")


def test_spec_overrides_one_parallel_key_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "job.toml").write_text(TITAN)
    text = '[model]\nextends = "job.toml"\n\n[train.parallel]\ntp = 4\n'
    got = load_spec_text(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)
    lay = layout_of(got.spec)
    assert (lay.dp_shard, lay.tp, lay.world_size) == (8, 4, 32)


def test_torchtitan_all_remaining_ranks_and_selective_ac_are_refused(tmp_path: Path) -> None:
    job = TITAN.replace("data_parallel_shard_degree = 8", "data_parallel_shard_degree = -1")
    (tmp_path / "job.toml").write_text(job)
    text = '[model]\nextends = "job.toml"\n'
    [p] = load_spec_text(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path).problems
    assert "data_parallel_shard_degree = -1" in p.message and p.line == 14
    (tmp_path / "job.toml").write_text(TITAN.replace('mode = "full"', 'mode = "selective"'))
    [p] = load_spec_text(text, str(tmp_path / "m.archcheck.toml"), root=tmp_path).problems
    assert "selective" in p.message and p.line == 18
