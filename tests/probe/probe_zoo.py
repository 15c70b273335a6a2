"""The reference zoo used by the probe tests: small widths so that every probe is fast."""

from __future__ import annotations

from typing import Any

from pytest_archcheck.spec.model import Spec

ZOO: dict[str, dict[str, Any]] = {
    "gpt2": {
        "family": "transformer",
        "layers": 2,
        "d_model": 64,
        "heads": 4,
        "vocab": 1000,
        "max_positions": 2048,
    },
    "llama": {
        "family": "transformer",
        "layers": 2,
        "d_model": 64,
        "heads": 4,
        "kv_heads": 2,
        "d_ff": 172,
        "mlp": "swiglu",
        "norm": "rmsnorm",
        "positional": "rotary",
        "bias": "none",
        "tied_embeddings": False,
        "vocab": 1000,
    },
    "encoder": {
        "family": "transformer",
        "layers": 2,
        "d_model": 64,
        "heads": 4,
        "vocab": 1000,
        "causal": False,
        "max_positions": 2048,
    },
    "lstm": {"family": "lstm", "layers": 2, "d_model": 64, "hidden": 64, "vocab": 1000},
    "tcn": {
        "family": "tcn",
        "layers": 2,
        "d_model": 64,
        "channels": 64,
        "kernel": 3,
        "dilations": [1, 2],
        "vocab": 1000,
    },
    "resnet": {
        "family": "cnn",
        "input": "image",
        "layers": 2,
        "channels": [16, 32],
        "strides": [1, 2],
        "in_channels": 3,
        "classes": 10,
    },
}


def zoo_spec(name: str, **train: Any) -> Spec:
    return Spec.model_validate(
        {"model": {"name": name, **ZOO[name]}, "train": {"batch": 2, **train}}
    )
