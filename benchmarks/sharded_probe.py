"""Sharded fake probe of a Llama-3-8B-shaped spec at FSDP 8 x TP 2 (world 16), one full bf16
AdamW training step on rank 0, in one CPU process; the per-rank formula beside it.

Prints wall time and RSS growth over `import torch`. Target (issue #15): <= 30 s and <= 1 GiB.
torchtitan's estimator (scripts/estimate/estimation.py) needs fake CUDA devices, i.e. a CUDA
build of torch, and refuses tensor parallelism: it cannot run on this CPU build.
Run: python benchmarks/sharded_probe.py [dp_shard tp]
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


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
    from pytest_archcheck.formulas.peak import train_memory
    from pytest_archcheck.runtime import target_for
    from pytest_archcheck.spec.model import Spec

    dp, tp = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (8, 2)
    spec = Spec.model_validate(
        {
            "model": {
                "name": "llama-3-8b",
                "family": "transformer",
                "layers": 32,
                "d_model": 4096,
                "heads": 32,
                "kv_heads": 8,
                "d_ff": 14336,
                "mlp": "swiglu",
                "norm": "rmsnorm",
                "vocab": 128256,
                "tied_embeddings": False,
                "bias": "none",
                "positional": "rotary",
                "max_positions": 8192,
            },
            "train": {
                "batch": 1,
                "seq_len": 8192,
                "dtype": "bf16",
                "checkpointing": True,
                "parallel": {"dp_shard": dp, "tp": tp},
            },
            "budget": {"device": "H100-80GB"},
        }
    )
    t, c = time.perf_counter(), time.process_time()
    res = probe.run(spec, device="fake")
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    est = train_memory(spec, target=target_for(spec))
    out = {
        "layout": res.extra.get("layout"),
        "seconds": round(dt, 2),
        "cpu_seconds": round(cpu, 2),  # this process's CPU time: less sensitive to load
        "load_average": Path("/proc/loadavg").read_text().split()[0],
        "rss_over_import_torch_mib": round(rss_mib() - base, 1),
        "peak_rss_over_import_torch_mib": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base, 1
        ),
        "peak_gib": round(res.peak_bytes / 2**30, 2) if res.peak_bytes is not None else None,
        "formula_gib": round(est.total / 2**30, 2),
        "formula_bytes": est.total,
        "formula_phase": est.phase,
        "formula_layout": est.layout,
        "result": res.to_json(),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
