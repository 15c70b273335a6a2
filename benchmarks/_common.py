"""Model specs and small helpers shared by the benchmark scripts.

The scripts run as `python benchmarks/NAME.py`, so benchmarks/ is sys.path[0] and `import _common`
works. Nothing here imports torch or pytest_archcheck (some scripts add ../src to sys.path first).
"""

from __future__ import annotations

from typing import Any

TINY: dict[str, Any] = {"layers": 2, "d_model": 64, "vocab": 1000}

# The reference-zoo families (probe/zoo.py) at the sizes of compare_tools.py and
# probe_flops_vs_flopcounter.py: two layers, d_model 64 (tests/probe/probe_zoo.py differs in
# max_positions, d_ff, hidden and channels).
SMALL_ZOO: dict[str, dict[str, Any]] = {
    "gpt2": {"family": "transformer", **TINY, "heads": 4, "max_positions": 512},
    "llama": {
        "family": "transformer",
        **TINY,
        "heads": 4,
        "kv_heads": 2,
        "mlp": "swiglu",
        "norm": "rmsnorm",
        "positional": "rotary",
        "bias": "none",
        "tied_embeddings": False,
    },
    "encoder": {
        "family": "transformer",
        **TINY,
        "heads": 4,
        "causal": False,
        "max_positions": 512,
    },
    "lstm": {"family": "lstm", **TINY},
    "tcn": {"family": "tcn", **TINY, "kernel": 3, "dilations": [1, 2]},
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

GPT2_SMALL: dict[str, Any] = {
    "family": "transformer",
    "layers": 12,
    "d_model": 768,
    "heads": 12,
    "vocab": 50257,
    "max_positions": 1024,
}


def pct(a: Any, b: Any) -> float | None:
    """100 * (a - b) / b, or None unless both are ints and b is non-zero."""
    if not isinstance(a, int) or not isinstance(b, int) or not b:
        return None
    return 100 * (a - b) / b
