"""Ground truth for the config.json adapter: the real transformers classes, built on the meta
device (no weights, no hub), and the adapter's verdict on the same config.

`verdict(cfg)` is what `archcheck estimate config.json` would say: a parameter count, or the
finding that refuses one. `real_params(cfg)` is what the class the adapter models (the causal
LM of a decoder, the base model of an encoder) holds: `parameters()` counts a tied weight once
and no buffers, as the spec does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pytest_archcheck.adapters.hf import MODELLED_CLASS
from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.rules.load import findings_of
from pytest_archcheck.spec.load import load_spec_file

LAYER_KEYS = (
    "num_hidden_layers", "n_layer", "n_layers", "num_layers", "num_decoder_layers",
    "encoder_layers", "decoder_layers",
)  # fmt: skip


@dataclass
class Verdict:
    params: int | None  # the adapter's count, None when refused
    code: str | None = None
    line: int | None = None
    message: str = ""


def verdict(cfg: dict[str, Any]) -> Verdict:
    """The adapter + spec loader + family unit on `cfg` written as an indented config.json."""
    text = json.dumps(cfg, indent=2, default=str)
    loaded = load_spec_file(text, "config.json")
    if loaded.spec is not None:
        return Verdict(params_from_spec(loaded.spec))
    found = findings_of(loaded)
    assert found, "neither a spec nor a finding"
    f = found[0]
    return Verdict(None, f.code, f.line, f.message)


def real_params(cfg: dict[str, Any]) -> int:
    """Parameters of the transformers class the adapter models for this model_type."""
    import torch
    import transformers

    model_type = cfg["model_type"]
    config = transformers.AutoConfig.for_model(
        model_type, **{k: v for k, v in cfg.items() if k != "model_type"}
    )
    auto = getattr(transformers, MODELLED_CLASS[model_type])
    with torch.device("meta"):
        model = auto.from_config(config)
    return sum(p.numel() for p in model.parameters())


def default_config(model_type: str) -> dict[str, Any]:
    """The config class's defaults as its config.json would hold them."""
    import transformers

    cfg: dict[str, Any] = transformers.CONFIG_MAPPING[model_type]().to_dict()
    cfg["model_type"] = model_type
    return cfg


def shrink(cfg: dict[str, Any], layers: int = 1) -> dict[str, Any]:
    """`cfg` with `layers` blocks (and a matching per-layer `layer_types`): fast to build."""
    out = dict(cfg)
    for key in LAYER_KEYS:
        if isinstance(out.get(key), int) and not isinstance(out.get(key), bool):
            out[key] = layers
    if isinstance(out.get("layer_types"), list):
        out["layer_types"] = out["layer_types"][:layers]
    return out
