"""A DeepSpeed `ds_config.json` -> [train] and [train.parallel] keys (read as data, never run).

Mapped (https://www.deepspeed.ai/docs/config-json/), each spec key placed at the line of the
DeepSpeed key it came from:

- `train_micro_batch_size_per_gpu` -> train.batch (what one rank's step holds);
- `train_batch_size` / (micro batch x `gradient_accumulation_steps`) -> the data-parallel
  world, train.parallel.dp_replicate (DeepSpeed's data parallelism replicates the model and
  ZeRO partitions its states over those ranks);
- `zero_optimization.stage` -> train.parallel.zero_stage;
- `zero_optimization.offload_optimizer` / `offload_param` with a device other than "none" ->
  train.parallel.offload = "optimizer" / "params";
- `bf16.enabled` / `fp16.enabled` -> train.dtype; `optimizer.type` -> train.optimizer.

A top-level key DeepSpeed does not document is an error at its line (a typo such as
`zero_optimisation` would silently train without ZeRO). Keys DeepSpeed documents that do not
change the per-rank peak of one step (schedulers, logging, gradient clipping ...) are accepted
and listed in the notes. `gradient_accumulation_steps` does not change one micro-step's peak.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from ..spec.locate import Key
from . import Adapted, AdapterError, Tables
from .jsonlines import json_key_lines

# Top-level keys of DeepSpeed's config-json reference that do not change one step's peak.
ACCEPTED = frozenset(
    {
        "scheduler",
        "gradient_clipping",
        "steps_per_print",
        "wall_clock_breakdown",
        "dump_state",
        "prescale_gradients",
        "gradient_predivide_factor",
        "sparse_gradients",
        "zero_allow_untested_optimizer",
        "zero_force_ds_cpu_optimizer",
        "communication_data_type",
        "flops_profiler",
        "tensorboard",
        "wandb",
        "csv_monitor",
        "comms_logger",
        "monitor_config",
        "elasticity",
        "aio",
        "autotuning",
        "checkpoint",
        "data_types",
        "amp",
        "activation_checkpointing",
        "compression_training",
        "data_efficiency",
        "curriculum_learning",
        "memory_breakdown",
        "seed",
    }
)
MAPPED = frozenset(
    {
        "train_batch_size",
        "train_micro_batch_size_per_gpu",
        "gradient_accumulation_steps",
        "zero_optimization",
        "bf16",
        "fp16",
        "optimizer",
    }
)
DS_HINTS = frozenset({"zero_optimization", "train_micro_batch_size_per_gpu", "train_batch_size"})
OPTIMIZERS = {"adam": "adam", "adamw": "adamw", "sgd": "sgd", "fusedadam": "adam"}


def looks_like_deepspeed(text: str) -> bool:
    """Whether a JSON document is a DeepSpeed config (one of its characteristic keys at the top
    level); a Hugging Face config.json has none of them."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return False
    return isinstance(data, dict) and bool(DS_HINTS & set(data))


def _int(data: dict[str, Any], key: str, lines: dict[Key, int], path: Key = ()) -> int | None:
    value = data.get(key)
    if value is None or value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise AdapterError(
            "ARC302",
            f"DeepSpeed `{'.'.join((*map(str, path), key))}` must be a positive integer"
            f" (got {value!r})",
            lines.get((*path, key), 1),
        )
    return value


def adapt_deepspeed(text: str, path: str) -> Adapted:
    """A ds_config.json; malformed JSON is ARC306, an unknown or invalid key ARC302."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdapterError("ARC306", f"JSON syntax error: {exc.msg}", exc.lineno) from exc
    except RecursionError:
        raise AdapterError("ARC306", "JSON nested too deeply to read", 1) from None
    if not isinstance(data, dict):
        raise AdapterError("ARC306", "a ds_config.json must hold one JSON object", 1)
    lines = json_key_lines(text)
    for key in data:
        if key not in MAPPED and key not in ACCEPTED:
            close = difflib.get_close_matches(key, sorted(MAPPED | ACCEPTED), n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise AdapterError(
                "ARC302", f"unknown DeepSpeed key `{key}`{hint}", lines.get((key,), 1)
            )
    train: dict[str, Any] = {}
    parallel: dict[str, Any] = {}
    out_lines: dict[Key, int] = {}
    notes: list[str] = []

    def put(table: dict[str, Any], spec_key: Key, value: Any, ds_key: Key) -> None:
        table[str(spec_key[-1])] = value
        out_lines[spec_key] = lines.get(ds_key, 1)

    micro = _int(data, "train_micro_batch_size_per_gpu", lines)
    accum = _int(data, "gradient_accumulation_steps", lines) or 1
    total = _int(data, "train_batch_size", lines)
    if micro is not None:
        put(train, ("train", "batch"), micro, ("train_micro_batch_size_per_gpu",))
    if total is not None and micro is not None:
        if total % (micro * accum):
            raise AdapterError(
                "ARC302",
                f"DeepSpeed train_batch_size {total} is not micro batch {micro} x"
                f" gradient_accumulation_steps {accum} x a whole number of ranks",
                lines.get(("train_batch_size",), 1),
            )
        put(parallel, ("train", "parallel", "dp_replicate"), total // (micro * accum),
            ("train_batch_size",))  # fmt: skip
    elif total is not None:
        notes.append("train_batch_size without train_micro_batch_size_per_gpu: world not derived")
    zero = data.get("zero_optimization")
    if isinstance(zero, dict):
        stage = zero.get("stage", 0)
        if isinstance(stage, bool) or stage not in (0, 1, 2, 3):
            raise AdapterError(
                "ARC302",
                f"DeepSpeed `zero_optimization.stage` must be 0..3 (got {stage!r})",
                lines.get(("zero_optimization", "stage"), 1),
            )
        put(parallel, ("train", "parallel", "zero_stage"), stage,
            ("zero_optimization", "stage") if "stage" in zero else ("zero_optimization",))  # fmt: skip
        for ds_key, what in (("offload_param", "params"), ("offload_optimizer", "optimizer")):
            off = zero.get(ds_key)
            on = isinstance(off, dict) and off.get("device", "none") not in ("none", None)
            if on and parallel.get("offload") != "params":  # params offload implies both
                put(parallel, ("train", "parallel", "offload"), what,
                    ("zero_optimization", ds_key))  # fmt: skip
    for flag, dtype in (("bf16", "bf16"), ("fp16", "fp16")):
        block = data.get(flag)
        if isinstance(block, dict) and block.get("enabled") is True:
            put(train, ("train", "dtype"), dtype, (flag, "enabled"))
    opt = data.get("optimizer")
    if isinstance(opt, dict) and isinstance(opt.get("type"), str):
        name = OPTIMIZERS.get(opt["type"].lower())
        if name is None:
            raise AdapterError(
                "ARC302",
                f"DeepSpeed optimizer {opt['type']!r} is not modelled (Adam, AdamW, SGD are)",
                lines.get(("optimizer", "type"), 1),
            )
        if name == "sgd" and isinstance(opt.get("params"), dict) and opt["params"].get("momentum"):
            name = "sgd-momentum"
        put(train, ("train", "optimizer"), name, ("optimizer", "type"))
    if parallel:
        train["parallel"] = parallel
        out_lines[("train", "parallel")] = min(
            (v for k, v in out_lines.items() if k[:2] == ("train", "parallel")), default=1
        )
    tables: Tables = {"train": train} if train else {}
    return Adapted(tables=tables, lines=out_lines, kind="deepspeed", notes=notes)
