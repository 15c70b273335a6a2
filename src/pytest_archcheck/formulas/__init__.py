"""Pure formulas (no torch): parameters, model states, KV cache, attention bytes, FLOPs, paths,
latency, devices, n_max and the article's selection guide.

Each formula is registered by name in `registry.FORMULAS` with its equation and source;
`docs/formulas.md` is generated from that registry.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers every formula)
    advise,
    attention,
    devices,
    flops,
    kvcache,
    latency,
    limits,
    params,
    path,
    sensitivity,
    sharding,
    states,
)
from .advise import Advice
from .advise import advise as advise_selection
from .devices import DEVICES, Device, UnknownDeviceError, lookup_device, suggest_device
from .flops import Flops, flops_from_spec
from .kvcache import kv_cache_bytes, kv_cache_from_spec
from .latency import LatencyEstimate, latency_from_spec
from .limits import attention_dominates_threshold, n_max, sqrt_rule_n_max
from .params import params_from_spec, shapes_from_spec
from .path import PathReport, path_from_spec
from .registry import FORMULAS, all_formulas, get_formula
from .states import ModelStates, model_states, model_states_from_spec

__all__ = [
    "DEVICES",
    "FORMULAS",
    "Advice",
    "Device",
    "Flops",
    "LatencyEstimate",
    "ModelStates",
    "PathReport",
    "UnknownDeviceError",
    "advise_selection",
    "all_formulas",
    "attention_dominates_threshold",
    "flops_from_spec",
    "get_formula",
    "kv_cache_bytes",
    "kv_cache_from_spec",
    "latency_from_spec",
    "lookup_device",
    "model_states",
    "model_states_from_spec",
    "n_max",
    "params_from_spec",
    "path_from_spec",
    "shapes_from_spec",
    "sqrt_rule_n_max",
    "suggest_device",
]
