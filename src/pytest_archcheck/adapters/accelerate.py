"""An accelerate config YAML (`accelerate config` / `accelerate launch --config_file`) -> the
[train] and [train.parallel] keys of one rank's step (read as data, never run).

accelerate (https://github.com/huggingface/accelerate) stores its launcher settings in a flat
YAML file (`accelerate/commands/config/config_args.py` ClusterConfig); `distributed_type` is the
one key it requires. Mapped, each spec key at the line of the accelerate key it came from
(`num_processes` is accelerate's total over all machines):

- `MULTI_GPU` / `MULTI_CPU` / other `MULTI_*` (DDP) -> dp_replicate = num_processes;
- `FSDP` -> by `fsdp_config.fsdp_version` (accelerate's default 1):
  version 2 reads `fsdp_reshard_after_forward` (a bool; `false` keeps the unsharded parameters
  from forward to backward, FSDP1's SHARD_GRAD_OP); version 1 reads `fsdp_sharding_strategy`
  (or a strategy name in `fsdp_reshard_after_forward`): FULL_SHARD -> dp_shard = N,
  SHARD_GRAD_OP -> dp_shard = N with reshard_after_forward = false, NO_SHARD -> dp_replicate =
  N, HYBRID_SHARD(_ZERO2) -> dp_shard = N / num_machines x dp_replicate = num_machines
  (torch's names or their 1-5 numbers, as accelerate accepts). `fsdp_offload_params` ->
  offload = "params"; `fsdp_activation_checkpointing` -> train.checkpointing; the mixed
  precision below also becomes FSDP's `MixedPrecisionPolicy(param_dtype, reduce_dtype)`, as
  accelerate's `FullyShardedDataParallelPlugin.set_mixed_precision` builds it;
- `DEEPSPEED` -> dp_replicate = N, `deepspeed_config.zero_stage` -> zero_stage,
  `offload_optimizer_device` / `offload_param_device` other than none -> offload;
- `parallelism_config` (accelerate's N-D parallelism) -> dp_replicate, dp_shard, tp, cp (the
  loader refuses cp > 1, as for every source);
- `mixed_precision` bf16 / fp16 -> train.dtype (fp8 is not modelled: an error at its line).

Refused at their line (a guess would be a silent wrong number): `num_processes` -1 (the world
size is the launcher's), `deepspeed_config_file` (point `extends` at that ds_config.json
instead), Megatron-LM and XLA/TPU layouts, sequence parallelism (`parallelism_config_sp_size`).
A top-level key accelerate does not know is an error at its line (accelerate refuses it too);
so is an `fsdp_config` / `deepspeed_config` key it does not read, which accelerate silently
ignores (`fsdp_ofload_params` would train without offload).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from ..spec.locate import Key
from . import Adapted, AdapterError, Tables

# accelerate 1.16 ClusterConfig / SageMakerConfig / BaseConfig fields, plus the two legacy keys
# its `process_config` converts (`fp16`, `dynamo_backend`).
TOP_KEYS = frozenset(
    {
        "compute_environment", "distributed_type", "mixed_precision", "use_cpu", "debug",
        "num_processes", "machine_rank", "num_machines", "gpu_ids", "main_process_ip",
        "main_process_port", "rdzv_backend", "same_network", "main_training_function",
        "enable_cpu_affinity", "deepspeed_config", "fsdp_config", "parallelism_config",
        "megatron_lm_config", "mpirun_config", "ipex_config", "downcast_bf16",
        "tpu_name", "tpu_zone", "tpu_use_cluster", "tpu_use_sudo", "command_file", "commands",
        "tpu_vm", "tpu_env", "dynamo_config", "fp8_config", "ec2_instance_type",
        "iam_role_name", "image_uri", "profile", "region", "base_job_name", "pytorch_version",
        "transformers_version", "py_version", "sagemaker_inputs_file", "sagemaker_metrics_file",
        "additional_args", "fp16", "dynamo_backend",
    }
)  # fmt: skip
# what `accelerate launch` reads from fsdp_config (accelerate/utils/launch.py)
FSDP_KEYS = frozenset(
    {
        "fsdp_version", "fsdp_sharding_strategy", "fsdp_reshard_after_forward",
        "fsdp_offload_params", "fsdp_min_num_params", "fsdp_auto_wrap_policy",
        "fsdp_transformer_layer_cls_to_wrap", "fsdp_backward_prefetch", "fsdp_state_dict_type",
        "fsdp_forward_prefetch", "fsdp_use_orig_params", "fsdp_cpu_ram_efficient_loading",
        "fsdp_sync_module_states", "fsdp_activation_checkpointing",
        "fsdp_activation_checkpointing_offload", "fsdp_ignored_modules",
        "fsdp_backward_prefetch_policy",
    }
)  # fmt: skip
DEEPSPEED_KEYS = frozenset(
    {
        "zero_stage", "gradient_accumulation_steps", "gradient_clipping",
        "offload_optimizer_device", "offload_param_device", "offload_optimizer_nvme_path",
        "offload_param_nvme_path", "zero3_init_flag", "zero3_save_16bit_model",
        "deepspeed_config_file", "deepspeed_multinode_launcher", "deepspeed_hostfile",
        "deepspeed_exclusion_filter", "deepspeed_inclusion_filter", "deepspeed_moe_layer_cls_names",
    }
)  # fmt: skip
PARALLELISM = {
    "parallelism_config_dp_replicate_size": "dp_replicate",
    "parallelism_config_dp_shard_size": "dp_shard",
    "parallelism_config_tp_size": "tp",
    "parallelism_config_cp_size": "cp",
}
PARALLELISM_KEYS = frozenset(
    {
        *PARALLELISM, "parallelism_config_sp_size", "parallelism_config_cp_backend",
        "parallelism_config_cp_comm_strategy", "parallelism_config_sp_backend",
        "parallelism_config_sp_seq_length", "parallelism_config_sp_seq_length_is_variable",
        "parallelism_config_sp_attn_implementation",
    }
)  # fmt: skip
STRATEGIES = ["FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD", "HYBRID_SHARD_ZERO2"]
PRECISION = {"no": None, "fp32": None, "bf16": "bf16", "fp16": "fp16"}
REFUSED = {"MEGATRON_LM": "Megatron-LM", "XLA": "XLA/TPU", "TPU": "XLA/TPU"}


def looks_like_accelerate(data: object) -> bool:
    """An accelerate config names its `distributed_type` (required by accelerate) at the top
    level; neither a spec nor a model recipe has that key."""
    return isinstance(data, dict) and "distributed_type" in data


class _Out:
    """Spec tables being built, each key placed at the line of the accelerate key it came from."""

    def __init__(self, lines: dict[Key, int]) -> None:
        self.src = lines
        self.train: dict[str, Any] = {}
        self.parallel: dict[str, Any] = {}
        self.lines: dict[Key, int] = {}

    def line(self, key: Key) -> int:
        """The line of an accelerate key, else of its nearest located parent, else 1."""
        while key:
            if key in self.src:
                return self.src[key]
            key = key[:-1]
        return 1

    def put(self, key: str, value: Any, src: Key, *, parallel: bool = True) -> None:
        (self.parallel if parallel else self.train)[key] = value
        spec_key: Key = ("train", "parallel", key) if parallel else ("train", key)
        self.lines[spec_key] = self.line(src)

    def error(self, message: str, src: Key) -> AdapterError:
        return AdapterError("ARC302", message, self.line(src))


def _unknown(
    keys: Iterable[str], known: frozenset[str], where: str, out: _Out, prefix: Key
) -> None:
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise out.error(f"unknown accelerate {where} key `{key}`{hint}", (*prefix, key))


def _positive(data: dict[str, Any], key: str, out: _Out, path: Key = ()) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        hint = " (-1 leaves the world size to the launcher: write the number of ranks)"
        raise out.error(
            f"accelerate `{'.'.join((*map(str, path), key))}` must be a positive integer"
            f" (got {value!r}){hint if value == -1 else ''}",
            (*path, key),
        )
    return value


def _flag(block: dict[str, Any], key: str, out: _Out, path: Key) -> bool:
    value = block.get(key, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise out.error(
            f"accelerate `{'.'.join(map(str, (*path, key)))}` must be true or false", (*path, key)
        )
    return value


def _strategy(value: Any, out: _Out, src: Key) -> str:
    """FSDP1's sharding strategy as torch names it, from its name or its 1-5 number."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= len(STRATEGIES):
        return STRATEGIES[value - 1]
    if isinstance(value, str) and value.isdigit() and 1 <= int(value) <= len(STRATEGIES):
        return STRATEGIES[int(value) - 1]
    if isinstance(value, str) and value.upper() in STRATEGIES:
        return value.upper()
    raise out.error(
        f"accelerate FSDP sharding strategy {value!r} is not one of {', '.join(STRATEGIES)}", src
    )


def _fsdp(data: dict[str, Any], world: int, machines: int, out: _Out) -> None:
    block = data.get("fsdp_config") or {}
    path: Key = ("fsdp_config",)
    version = block.get("fsdp_version", 1)
    if version not in (1, 2, "1", "2"):
        raise out.error(
            f"accelerate fsdp_version must be 1 or 2 (got {version!r})", (*path, "fsdp_version")
        )
    raf = block.get("fsdp_reshard_after_forward")
    if int(version) == 2:
        if isinstance(raf, str) and raf.lower() in ("true", "false"):
            raf = raf.lower() == "true"
        if raf is not None and not isinstance(raf, bool):
            raise out.error(
                "FSDP2 takes `fsdp_reshard_after_forward` as true or false (accelerate refuses"
                f" a strategy name such as {raf!r} with fsdp_version 2)",
                (*path, "fsdp_reshard_after_forward"),
            )
        strategy = "FULL_SHARD" if raf in (None, True) else "SHARD_GRAD_OP"
        src: Key = (
            (*path, "fsdp_reshard_after_forward") if raf is not None else ("distributed_type",)
        )
    else:
        key = (
            "fsdp_sharding_strategy"
            if "fsdp_sharding_strategy" in block
            else "fsdp_reshard_after_forward"
        )
        given = block.get(key)
        if isinstance(given, bool):
            raise out.error(
                "FSDP1 takes a sharding strategy name, not true/false (accelerate refuses a bool"
                " `fsdp_reshard_after_forward` with fsdp_version 1)",
                (*path, key),
            )
        strategy = "FULL_SHARD" if given is None else _strategy(given, out, (*path, key))
        src = (*path, key) if given is not None else ("distributed_type",)
    if strategy == "NO_SHARD":
        out.put("dp_replicate", world, src)
    elif strategy.startswith("HYBRID_SHARD"):
        if world % machines:
            raise out.error(
                f"HYBRID_SHARD over {machines} machines needs num_processes {world} to be a"
                " multiple of num_machines",
                ("num_processes",),
            )
        out.put("dp_shard", world // machines, src)
        out.put("dp_replicate", machines, ("num_machines",))
    else:
        out.put("dp_shard", world, src)
    if strategy in ("SHARD_GRAD_OP", "HYBRID_SHARD_ZERO2"):
        out.put("reshard_after_forward", False, src)
    if _flag(block, "fsdp_offload_params", out, path):
        out.put("offload", "params", (*path, "fsdp_offload_params"))
    if _flag(block, "fsdp_activation_checkpointing", out, path):
        out.put("checkpointing", True, (*path, "fsdp_activation_checkpointing"), parallel=False)


def _deepspeed(data: dict[str, Any], world: int, out: _Out) -> None:
    block = data.get("deepspeed_config") or {}
    path: Key = ("deepspeed_config",)
    if block.get("deepspeed_config_file"):
        raise out.error(
            "accelerate's DeepSpeed settings live in `deepspeed_config_file`"
            f" ({block['deepspeed_config_file']}), which overrides the inline keys: point"
            " `extends` at that ds_config.json instead",
            (*path, "deepspeed_config_file"),
        )
    out.put("dp_replicate", world, ("distributed_type",))
    stage = block.get("zero_stage", 0)
    if isinstance(stage, bool) or stage not in (0, 1, 2, 3):
        raise out.error(
            f"accelerate `deepspeed_config.zero_stage` must be 0..3 (got {stage!r})",
            (*path, "zero_stage"),
        )
    out.put("zero_stage", stage, (*path, "zero_stage") if "zero_stage" in block else path)
    for key, what in (
        ("offload_param_device", "params"),
        ("offload_optimizer_device", "optimizer"),
    ):
        device = block.get(key)
        if device not in (None, "none") and out.parallel.get("offload") != "params":
            out.put("offload", what, (*path, key))


def _parallelism(data: dict[str, Any], out: _Out) -> None:
    block = data.get("parallelism_config")
    if not block:
        return
    path: Key = ("parallelism_config",)
    if not isinstance(block, dict):
        raise out.error("accelerate `parallelism_config` must be a mapping", path)
    _unknown(block, PARALLELISM_KEYS, "parallelism_config", out, path)
    sp = _positive(block, "parallelism_config_sp_size", out, path)
    if sp is not None and sp > 1:
        raise out.error(
            f"sequence parallelism (parallelism_config_sp_size = {sp}) is not modelled: budget"
            " one rank with the sequence share it holds",
            (*path, "parallelism_config_sp_size"),
        )
    for key, spec_key in PARALLELISM.items():
        value = _positive(block, key, out, path)
        if value is not None:
            out.put(spec_key, value, (*path, key))


def adapt_accelerate(data: dict[str, Any], lines: dict[Key, int]) -> Adapted:
    """An accelerate config already parsed by the YAML adapter (safe loader); raises
    `AdapterError` (ARC302) at the line of a key it cannot map."""
    out = _Out(lines)
    _unknown(data, TOP_KEYS, "config", out, ())
    for name, known in (("fsdp_config", FSDP_KEYS), ("deepspeed_config", DEEPSPEED_KEYS)):
        block = data.get(name)
        if block is not None and not isinstance(block, dict):
            raise out.error(f"accelerate `{name}` must be a mapping", (name,))
        _unknown(block or {}, known, name, out, (name,))
    kind = data.get("distributed_type")
    kind = kind.upper() if isinstance(kind, str) else kind
    notes: list[str] = []
    if not isinstance(kind, str):
        raise out.error(
            f"accelerate `distributed_type` must be a name (got {kind!r})", ("distributed_type",)
        )
    if kind in REFUSED or not (kind.startswith("MULTI_") or kind in ("NO", "FSDP", "DEEPSPEED")):
        what = REFUSED.get(kind, kind)
        raise out.error(
            f"accelerate distributed_type {kind} ({what}) is not modelled; budget one rank with"
            " a [train.parallel] table written by hand",
            ("distributed_type",),
        )
    world = _positive(data, "num_processes", out) or 1
    machines = _positive(data, "num_machines", out) or 1
    if kind == "FSDP":
        _fsdp(data, world, machines, out)
    elif kind == "DEEPSPEED":
        _deepspeed(data, world, out)
    elif kind.startswith("MULTI_") and world > 1:
        out.put("dp_replicate", world, ("distributed_type",))
    _parallelism(data, out)
    precision = data.get("mixed_precision")
    if precision is None and data.get("fp16") is True:  # legacy key accelerate still converts
        precision = "fp16"
    if precision is not None:
        src: Key = ("mixed_precision",) if "mixed_precision" in data else ("fp16",)
        if not isinstance(precision, str) or precision.lower() not in PRECISION:
            raise out.error(
                f"accelerate mixed_precision {precision!r} is not modelled (no, fp16, bf16 are;"
                " fp8's scaling buffers are not)",
                src,
            )
        dtype = PRECISION[precision.lower()]
        if dtype is not None:
            out.put("dtype", dtype, src, parallel=False)
            if kind == "FSDP":  # set_mixed_precision: MixedPrecisionPolicy(dtype, dtype)
                out.put("param_dtype", dtype, src)
                out.put("reduce_dtype", dtype, src)
    if kind == "NO" and world > 1:
        notes.append(f"distributed_type NO with num_processes {world}: one process assumed")
    train = dict(out.train)
    if out.parallel:
        train["parallel"] = dict(out.parallel)
        out.lines[("train", "parallel")] = min(
            (v for k, v in out.lines.items() if k[:2] == ("train", "parallel")), default=1
        )
    tables: Tables = {"train": train} if train else {}
    return Adapted(tables=tables, lines=out.lines, kind="accelerate", notes=notes)
