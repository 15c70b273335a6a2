"""Fake-probe a Llama-2-7B-shaped spec (no factory) for one full bf16 AdamW training step.

Prints wall time and RSS growth over `import torch`. Target: <= 5 s and <= 300 MiB.
Run: python benchmarks/probe_llama7b.py
"""

from __future__ import annotations

import json
import resource
import time


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    import torch  # noqa: F401

    base = rss_mib()

    from pytest_archcheck import probe
    from pytest_archcheck.spec.model import Spec

    spec = Spec.model_validate(
        {
            "model": {
                "name": "llama-2-7b",
                "family": "transformer",
                "layers": 32,
                "d_model": 4096,
                "heads": 32,
                "kv_heads": 32,
                "d_ff": 11008,
                "mlp": "swiglu",
                "norm": "rmsnorm",
                "vocab": 32000,
                "tied_embeddings": False,
                "bias": "none",
                "positional": "rotary",
                "max_positions": 4096,
            },
            "train": {"batch": 1, "seq_len": 4096, "dtype": "bf16", "optimizer": "adamw"},
        }
    )
    t = time.perf_counter()
    res = probe.run(spec, device="fake")
    dt = time.perf_counter() - t
    peak_rss = rss_mib()
    out = {
        "seconds": round(dt, 2),
        "rss_over_import_torch_mib": round(peak_rss - base, 1),
        "peak_rss_over_import_torch_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base, 1
        ),
        "rss_after_import_torch_mib": round(base, 1),
        "peak_gib": round(res.peak_bytes / 2**30, 2) if res.peak_bytes is not None else None,
        "result": res.to_json(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
