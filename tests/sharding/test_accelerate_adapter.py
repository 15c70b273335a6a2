"""An accelerate config YAML through `extends`: the layout we read is the one accelerate's own
launcher builds from the same file.

Ground truth is accelerate itself: `accelerate launch`'s argument parser reads the YAML
(`_validate_launch_command`), its launcher turns it into the environment a training process
gets (`prepare_multi_gpu_env` / `prepare_deepspeed_cmd_env`), and the plugin the training
script's `Accelerator` builds from that environment (`FullyShardedDataParallelPlugin`,
`DeepSpeedPlugin`) says what is sharded, resharded, offloaded and in which precision. Bad
input: accelerate refuses it too where it can, and we name the key's line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from pytest_archcheck.spec.load import load_spec_text
from pytest_archcheck.spec.parallel import Layout, layout_of

accelerate = pytest.importorskip("accelerate")
torch = pytest.importorskip("torch")

MODEL = """[model]
extends = "accelerate.yaml"
family = "transformer"
layers = 2
d_model = 64
heads = 4
d_ff = 256
vocab = 128
"""

FSDP2 = """compute_environment: LOCAL_MACHINE
debug: false
distributed_type: FSDP
downcast_bf16: 'no'
fsdp_config:
  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
  fsdp_cpu_ram_efficient_loading: true
  fsdp_offload_params: false
  fsdp_reshard_after_forward: false
  fsdp_state_dict_type: SHARDED_STATE_DICT
  fsdp_activation_checkpointing: true
  fsdp_version: 2
machine_rank: 0
main_training_function: main
mixed_precision: bf16
num_machines: 1
num_processes: 8
rdzv_backend: static
same_network: true
use_cpu: false
"""

FSDP1 = """compute_environment: LOCAL_MACHINE
distributed_type: FSDP
fsdp_config:
  fsdp_sharding_strategy: {strategy}
  fsdp_offload_params: {offload}
  fsdp_sync_module_states: false
  fsdp_cpu_ram_efficient_loading: false
  fsdp_version: 1
mixed_precision: 'no'
num_machines: 2
num_processes: 16
"""

DEEPSPEED = """compute_environment: LOCAL_MACHINE
deepspeed_config:
  gradient_accumulation_steps: 4
  offload_optimizer_device: cpu
  offload_param_device: none
  zero3_init_flag: false
  zero_stage: 2
distributed_type: DEEPSPEED
mixed_precision: bf16
num_machines: 2
num_processes: 16
"""


def _load(tmp_path: Path, yaml_text: str):  # type: ignore[no-untyped-def]
    (tmp_path / "accelerate.yaml").write_text(yaml_text)
    return load_spec_text(MODEL, str(tmp_path / "m.archcheck.toml"), root=tmp_path)


def _ours(tmp_path: Path, yaml_text: str) -> tuple[Layout, Any]:
    got = _load(tmp_path, yaml_text)
    assert got.problems == []
    return layout_of(got.spec), got.spec.train


def _accelerate_env(path: Path) -> tuple[Any, dict[str, str]]:
    """What `accelerate launch --config_file path` puts in the training process's environment."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(path), "train.py"])
    args, defaults, mp_from_config = _validate_launch_command(args)
    with mock.patch("torch.cuda.device_count", return_value=8):
        if args.use_deepspeed:  # as accelerate's launch_command sets it before the launcher
            fields = list(defaults.deepspeed_config) + (
                ["mixed_precision"] if mp_from_config else []
            )
            args.deepspeed_fields_from_accelerate_config = ",".join(fields)
            return args, prepare_deepspeed_cmd_env(args)[1]
        return args, prepare_multi_gpu_env(args)


def _fsdp_plugin(path: Path) -> Any:
    from accelerate.utils import FullyShardedDataParallelPlugin

    _, env = _accelerate_env(path)
    with mock.patch.dict(os.environ, env):
        plugin = FullyShardedDataParallelPlugin()
        if env["ACCELERATE_MIXED_PRECISION"] != "no":  # as Accelerator does
            plugin.set_mixed_precision(env["ACCELERATE_MIXED_PRECISION"])
    return plugin


DTYPES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: None}


def test_fsdp2_layout_matches_accelerates_plugin(tmp_path: Path) -> None:
    lay, train = _ours(tmp_path, FSDP2)
    plugin = _fsdp_plugin(tmp_path / "accelerate.yaml")
    assert plugin.fsdp_version == 2
    # accelerate's plugin: what the file means
    assert (lay.dp_shard, lay.dp_replicate) == (8, 1)  # FSDP2 shards over all 8 processes
    assert lay.reshard_after_forward is plugin.reshard_after_forward is False
    assert train.checkpointing is plugin.activation_checkpointing is True
    policy = plugin.mixed_precision_policy
    assert (
        (lay.param_dtype, lay.reduce_dtype)
        == (
            DTYPES[policy.param_dtype],
            DTYPES[policy.reduce_dtype],
        )
        == ("bf16", "bf16")
    )
    assert train.dtype == "bf16"
    assert lay.offload == "none"
    assert lay.describe() == "FSDP 8 (world 8)"


# torch's FSDP1 strategies, by hand: which ranks shard (dp_shard) and which replicate, 16
# processes over 2 machines (HYBRID: shard within a machine's 8, replicate across the 2)
EXPECTED = {
    "FULL_SHARD": (16, 1, True),
    "SHARD_GRAD_OP": (16, 1, False),
    "NO_SHARD": (1, 16, True),
    "HYBRID_SHARD": (8, 2, True),
    "HYBRID_SHARD_ZERO2": (8, 2, False),
}


@pytest.mark.parametrize("strategy", [*EXPECTED, "2"])
def test_fsdp1_strategies_match_accelerates_plugin(tmp_path: Path, strategy: str) -> None:
    # NO_SHARD offloads whole replicas, which the spec's layout cannot say (ARC304 refuses it)
    offload = strategy != "NO_SHARD"
    text = FSDP1.format(strategy=strategy, offload=str(offload).lower())
    lay, train = _ours(tmp_path, text)
    plugin = _fsdp_plugin(tmp_path / "accelerate.yaml")
    name = plugin.sharding_strategy.name.lstrip("_")  # accelerate's reading, also of the number 2
    assert name == (strategy if not strategy.isdigit() else "SHARD_GRAD_OP")
    assert (lay.dp_shard, lay.dp_replicate, lay.reshard_after_forward) == EXPECTED[name]
    assert plugin.cpu_offload.offload_params is offload
    assert lay.offload == ("params" if offload else "none")
    assert train.dtype == "fp32" and lay.param_dtype is None  # mixed_precision 'no'


def test_deepspeed_layout_matches_accelerates_deepspeed_config(tmp_path: Path) -> None:
    """accelerate writes the ds_config its DeepSpeedPlugin hands to DeepSpeed; our DeepSpeed
    adapter reading that config agrees with our accelerate adapter reading the YAML."""
    import json

    from accelerate.utils import DeepSpeedPlugin

    lay, train = _ours(tmp_path, DEEPSPEED)
    _, env = _accelerate_env(tmp_path / "accelerate.yaml")
    with mock.patch.dict(os.environ, env):
        ds = DeepSpeedPlugin().deepspeed_config
    assert ds["zero_optimization"]["stage"] == lay.zero_stage == 2
    assert ds["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
    assert lay.offload == "optimizer"
    assert (lay.dp_replicate, lay.dp_shard) == (16, 1)  # DeepSpeed: every process a DP rank
    assert train.dtype == "bf16" == env["ACCELERATE_MIXED_PRECISION"]
    ds_file = tmp_path / "ds_config.json"
    ds_file.write_text(json.dumps({"zero_optimization": ds["zero_optimization"]}, indent=2))
    from_ds = load_spec_text(
        MODEL.replace("accelerate.yaml", "ds_config.json"), str(tmp_path / "d.archcheck.toml"),
        root=tmp_path,
    )  # fmt: skip
    assert from_ds.problems == []
    ds_lay = layout_of(from_ds.spec)
    assert (ds_lay.zero_stage, ds_lay.offload) == (lay.zero_stage, lay.offload)
    assert lay.describe() == "DDP replicate 16 x ZeRO-2 (world 16)"


def test_multi_gpu_is_ddp(tmp_path: Path) -> None:
    lay, train = _ours(
        tmp_path, "distributed_type: MULTI_GPU\nnum_processes: 4\nmixed_precision: fp16\n"
    )
    assert (lay.dp_replicate, lay.dp_shard, lay.zero_stage) == (4, 1, 0)
    assert train.dtype == "fp16"


def _line(text: str, needle: str) -> int:
    return 1 + next(i for i, ln in enumerate(text.splitlines()) if needle in ln)


def _problem(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    got = _load(tmp_path, text)
    assert got.spec is None
    [p] = got.problems
    assert p.path.endswith("accelerate.yaml")
    return p


def _accelerate_refuses(tmp_path: Path, text: str) -> None:
    (tmp_path / "refused.yaml").write_text(text)
    with pytest.raises((ValueError, TypeError)):
        _fsdp_plugin(tmp_path / "refused.yaml")


def test_unknown_top_level_key_is_refused_like_accelerate_does(tmp_path: Path) -> None:
    text = FSDP2.replace("mixed_precision:", "mixed_precison:")
    _accelerate_refuses(tmp_path, text)
    p = _problem(tmp_path, text)
    assert p.kind == "invalid-value"  # ARC302
    assert "unknown accelerate config key `mixed_precison`; did you mean `mixed_precision`?" in (
        p.message
    )
    assert p.line == _line(text, "mixed_precison")


def test_fsdp_key_typo_accelerate_ignores_is_a_finding(tmp_path: Path) -> None:
    text = FSDP2.replace("fsdp_offload_params: false", "fsdp_ofload_params: true")
    _fsdp_plugin_silently_ignores = _fsdp_plugin  # accelerate trains without offload here
    (tmp_path / "typo.yaml").write_text(text)
    offload = _fsdp_plugin_silently_ignores(tmp_path / "typo.yaml").cpu_offload
    assert type(offload).__name__ == "OffloadPolicy"  # FSDP2's "no offload" (not CPUOffloadPolicy)
    p = _problem(tmp_path, text)
    assert "`fsdp_ofload_params`; did you mean `fsdp_offload_params`?" in p.message
    assert p.line == _line(text, "fsdp_ofload_params")


def test_fsdp2_with_a_strategy_name_is_refused_like_accelerate_does(tmp_path: Path) -> None:
    text = FSDP2.replace(
        "fsdp_reshard_after_forward: false", "fsdp_reshard_after_forward: FULL_SHARD"
    )
    _accelerate_refuses(tmp_path, text)
    p = _problem(tmp_path, text)
    assert "FSDP2 takes `fsdp_reshard_after_forward` as true or false" in p.message
    assert p.line == _line(text, "fsdp_reshard_after_forward")


@pytest.mark.parametrize(
    ("edit", "needle", "message"),
    [
        (("num_processes: 8", "num_processes: -1"), "num_processes",
         "-1 leaves the world size to the launcher"),
        (("distributed_type: FSDP", "distributed_type: MEGATRON_LM"), "distributed_type",
         "MEGATRON_LM (Megatron-LM) is not modelled"),
        (("mixed_precision: bf16", "mixed_precision: fp8"), "mixed_precision",
         "mixed_precision 'fp8' is not modelled"),
        (("fsdp_version: 2", "fsdp_version: 3"), "fsdp_version", "fsdp_version must be 1 or 2"),
    ],
)  # fmt: skip
def test_what_cannot_be_modelled_is_refused_at_its_line(
    tmp_path: Path, edit: tuple[str, str], needle: str, message: str
) -> None:
    text = FSDP2.replace(*edit)
    assert text != FSDP2
    p = _problem(tmp_path, text)
    assert message in p.message
    assert p.line == _line(text, needle)


def test_deepspeed_config_file_points_at_the_json(tmp_path: Path) -> None:
    text = DEEPSPEED.replace(
        "  zero_stage: 2\n", "  zero_stage: 2\n  deepspeed_config_file: ds.json\n"
    )
    p = _problem(tmp_path, text)
    assert "point `extends` at that ds_config.json instead" in p.message
    assert p.line == _line(text, "deepspeed_config_file")


def test_spec_keys_win_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "accelerate.yaml").write_text(FSDP2)
    got = load_spec_text(
        MODEL + "\n[train.parallel]\ndp_shard = 4\ndp_replicate = 2\n",
        str(tmp_path / "m.archcheck.toml"), root=tmp_path,
    )  # fmt: skip
    assert got.problems == []
    lay = layout_of(got.spec)
    assert (lay.dp_shard, lay.dp_replicate, lay.reshard_after_forward) == (4, 2, False)
