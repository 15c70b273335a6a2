"""A torchtitan job TOML -> spec tables (read as data, never run).

torchtitan (https://github.com/pytorch/torchtitan, `torchtitan/config/job_config.py`) trains
from one TOML file: `[model] name / flavor`, `[training] local_batch_size, seq_len,
mixed_precision_param, mixed_precision_reduce`, `[parallelism] data_parallel_*_degree,
tensor_parallel_degree, ...`, `[activation_checkpoint] mode`, `[optimizer] name`. Mapped, each
spec key at the line of the torchtitan key it came from:

- `[model]` name "llama3" and flavor 8B / 70B / 405B -> the Llama 3 shape torchtitan builds
  (`torchtitan/models/llama3/__init__.py`: dim, n_layers, n_heads, n_kv_heads,
  ffn_dim_multiplier, multiple_of; vocab 128256, the Llama 3 tokenizer's; FFN hidden size
  multiple_of * ceil(ffn_dim_multiplier * int(8 * dim / 3) / multiple_of));
- `[training]` local_batch_size (older: batch_size) -> train.batch, seq_len -> train.seq_len,
  mixed_precision_param / _reduce -> train.parallel.param_dtype / reduce_dtype;
- `[parallelism]` data_parallel_shard_degree -> dp_shard, data_parallel_replicate_degree ->
  dp_replicate, tensor_parallel_degree -> tp, pipeline_parallel_degree -> pp,
  context_parallel_degree -> cp, fsdp_reshard_after_forward -> reshard_after_forward;
- `[activation_checkpoint] mode` "full" -> train.checkpointing = true, "none" -> false;
  "selective" (op- or layer-level selection) is not modelled: an error at its line;
- `[optimizer] name` -> train.optimizer.

`data_parallel_shard_degree = -1` ("all remaining ranks") needs the launcher's world size,
which the file does not hold: an error at its line asking for the degree.
"""

from __future__ import annotations

import math
from typing import Any

from ..spec.locate import Key
from . import Adapted, AdapterError, Tables

TITAN_TABLES = frozenset({"job", "training", "parallelism", "activation_checkpoint"})
# torchtitan/models/llama3/__init__.py llama3_args: (dim, n_layers, n_heads, n_kv_heads,
# ffn_dim_multiplier, multiple_of)
LLAMA3_FLAVORS: dict[str, tuple[int, int, int, int, float, int]] = {
    "8B": (4096, 32, 32, 8, 1.3, 1024),
    "70B": (8192, 80, 64, 8, 1.3, 4096),
    "405B": (16384, 126, 128, 8, 1.2, 4096),
}
LLAMA3_VOCAB = 128256
DTYPES = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}
PARALLEL = {
    "data_parallel_shard_degree": "dp_shard",
    "data_parallel_replicate_degree": "dp_replicate",
    "tensor_parallel_degree": "tp",
    "pipeline_parallel_degree": "pp",
    "context_parallel_degree": "cp",
}
OPTIMIZERS = {"adamw": "adamw", "adam": "adam", "sgd": "sgd"}


def looks_like_torchtitan(tables: dict[str, Any]) -> bool:
    """A torchtitan job file has [job], [training] or [parallelism]; a spec has none."""
    return bool(TITAN_TABLES & set(tables))


def llama3_ffn(dim: int, multiplier: float, multiple_of: int) -> int:
    """Llama 3's FeedForward hidden size (torchtitan/models/llama3/model/model.py)."""
    hidden = int(2 * (4 * dim) / 3)
    hidden = int(multiplier * hidden)
    return multiple_of * math.ceil(hidden / multiple_of)


def adapt_torchtitan(tables: dict[str, Any], lines: dict[Key, int]) -> Adapted:
    """The spec tables a parsed torchtitan job TOML describes; raises AdapterError."""
    model: dict[str, Any] = {}
    train: dict[str, Any] = {}
    parallel: dict[str, Any] = {}
    out_lines: dict[Key, int] = {}

    def put(table: dict[str, Any], spec_key: Key, value: Any, titan_key: Key) -> None:
        table[str(spec_key[-1])] = value
        out_lines[spec_key] = lines.get(titan_key, 1)

    def section(name: str) -> dict[str, Any]:
        got = tables.get(name, {})
        return got if isinstance(got, dict) else {}

    m = section("model")
    if m:
        name, flavor = m.get("name"), m.get("flavor")
        if name != "llama3" or flavor not in LLAMA3_FLAVORS:
            raise AdapterError(
                "ARC302",
                f"torchtitan model {name!r} flavor {flavor!r} is not modelled (llama3 with flavor"
                f" {', '.join(LLAMA3_FLAVORS)} is); write the shape in the spec's [model]",
                lines.get(("model", "flavor"), lines.get(("model",), 1)),
            )
        dim, layers, heads, kv, mult, multiple = LLAMA3_FLAVORS[flavor]
        at = ("model", "flavor")
        for key, value in {
            "family": "transformer",
            "layers": layers,
            "d_model": dim,
            "heads": heads,
            "kv_heads": kv,
            "d_ff": llama3_ffn(dim, mult, multiple),
            "vocab": LLAMA3_VOCAB,
            "mlp": "swiglu",
            "norm": "rmsnorm",
            "positional": "rotary",
            "bias": "none",
            "tied_embeddings": False,
            "max_positions": 131072,
        }.items():
            put(model, ("model", key), value, at)
    t = section("training")
    batch_key = "local_batch_size" if "local_batch_size" in t else "batch_size"
    if batch_key in t:
        put(train, ("train", "batch"), t[batch_key], ("training", batch_key))
    if "seq_len" in t:
        put(train, ("train", "seq_len"), t["seq_len"], ("training", "seq_len"))
    for titan_key, spec_key in (
        ("mixed_precision_param", "param_dtype"),
        ("mixed_precision_reduce", "reduce_dtype"),
    ):
        if titan_key in t:
            value = t[titan_key]
            if value not in DTYPES:
                raise AdapterError(
                    "ARC302",
                    f"torchtitan training.{titan_key} {value!r}: one of {', '.join(DTYPES)}",
                    lines.get(("training", titan_key), 1),
                )
            put(parallel, ("train", "parallel", spec_key), DTYPES[value], ("training", titan_key))
    p = section("parallelism")
    for titan_key, spec_key in PARALLEL.items():
        if titan_key not in p:
            continue
        value = p[titan_key]
        if value == -1:
            raise AdapterError(
                "ARC302",
                f"torchtitan parallelism.{titan_key} = -1 means 'all remaining ranks', which the"
                " job file does not know: write the degree",
                lines.get(("parallelism", titan_key), 1),
            )
        put(parallel, ("train", "parallel", spec_key), value, ("parallelism", titan_key))
    if "fsdp_reshard_after_forward" in p:
        value = p["fsdp_reshard_after_forward"]
        if value not in ("default", "always", "never"):
            raise AdapterError(
                "ARC302",
                f"torchtitan parallelism.fsdp_reshard_after_forward {value!r}: default, always"
                " or never",
                lines.get(("parallelism", "fsdp_reshard_after_forward"), 1),
            )
        put(parallel, ("train", "parallel", "reshard_after_forward"), value != "never",
            ("parallelism", "fsdp_reshard_after_forward"))  # fmt: skip
    ac = section("activation_checkpoint")
    if "mode" in ac:
        mode = ac["mode"]
        if mode not in ("full", "none"):
            raise AdapterError(
                "ARC302",
                f'torchtitan activation_checkpoint.mode {mode!r} is not modelled ("full" and'
                ' "none" are: per-block recomputation or none); set mode = "full" or "none"',
                lines.get(("activation_checkpoint", "mode"), 1),
            )
        put(train, ("train", "checkpointing"), mode == "full", ("activation_checkpoint", "mode"))
    o = section("optimizer")
    if isinstance(o.get("name"), str):
        opt = OPTIMIZERS.get(o["name"].lower())
        if opt is None:
            raise AdapterError(
                "ARC302",
                f"torchtitan optimizer {o['name']!r} is not modelled (AdamW, Adam, SGD are)",
                lines.get(("optimizer", "name"), 1),
            )
        put(train, ("train", "optimizer"), opt, ("optimizer", "name"))
    if parallel:
        train["parallel"] = parallel
        out_lines[("train", "parallel")] = lines.get(("parallelism",), 1)
    out: Tables = {}
    if model:
        out["model"] = model
    if train:
        out["train"] = train
    return Adapted(tables=out, lines=out_lines, kind="torchtitan")
