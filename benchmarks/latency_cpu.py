"""Latency estimate vs a clock on this machine's CPU (issue #18, point 5: the comparison table).

For each case (reference-zoo shapes and examples at CPU-sized [infer] shapes) the script prints,
side by side in one run:

- the measured P50 and P95 of `probe --device cpu --latency` (the isolated worker times >= 200
  no-grad forwards after warm-up: probe/latency.py);
- the static estimate on the built-in "cpu" device (`formulas.latency`, the device table's
  labelled default: 1 TFLOP/s, 50 GB/s, 10 us per step), and its ratio to the P50;
- the same roofline on a device measured here: this host's fp32 GEMM rate and copy bandwidth
  (timed below with torch), the step overhead unchanged. That separates what the device table
  gets wrong from what the model's structure gets wrong (per-op dispatch, one call per RNN).

Run on an idle machine (timings of a loaded machine are not this host's):

    PYTHONPATH=src python benchmarks/latency_cpu.py [--quick]

Output: a markdown table for docs/benchmarks.md and the raw JSON (benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# (label, spec source, [model] overrides, infer batch, infer n)
CASES: list[tuple[str, str, dict[str, Any], int, int]] = [
    ("gpt2 d256 x4", "zoo", {"family": "transformer", "layers": 4, "d_model": 256, "heads": 4,
                            "vocab": 1000, "max_positions": 512}, 1, 128),
    ("llama d256 x4", "zoo", {"family": "transformer", "layers": 4, "d_model": 256, "heads": 4,
                             "kv_heads": 2, "mlp": "swiglu", "norm": "rmsnorm",
                             "positional": "rotary", "bias": "none", "vocab": 1000,
                             "tied_embeddings": False}, 1, 128),
    ("lstm h256 x2", "zoo", {"family": "lstm", "layers": 2, "d_model": 256, "hidden": 256,
                            "vocab": 1000}, 1, 128),
    ("tcn c64 x6", "zoo", {"family": "tcn", "layers": 6, "d_model": 64, "vocab": 1000,
                          "kernel": 3, "dilations": [1, 2, 4, 8, 16, 32]}, 1, 1024),
    ("resnet 32px", "zoo", {"family": "cnn", "input": "image", "layers": 2, "channels": [16, 32],
                           "strides": [1, 2], "in_channels": 3, "classes": 10}, 1, 32),
    ("examples/gpt-small", "examples/gpt-small/gpt-small.archcheck.toml", {}, 1, 128),
    ("examples/lstm-lm", "examples/lstm-lm/lstm-lm.archcheck.toml", {}, 1, 128),
    ("examples/tcn-forecast", "examples/tcn-forecast/tcn.archcheck.toml", {}, 1, 1024),
]  # fmt: skip


def host_rates() -> dict[str, float]:
    """This host's rates, timed as `archcheck calibrate` times them (probe/calibrate.py): the
    fp32 GEMM peak (FLOP/s), the copy bandwidth (B/s), one eager op inside a module (s), and
    the per-op model's keys (formulas/latency.py `latency.op`), the usable LLC found by its
    copy sweep."""
    from pytest_archcheck.calibrate import llc_bytes
    from pytest_archcheck.probe.calibrate import measure

    cal = measure(llc_bytes())
    return {
        "gemm_flops": cal["fp32"], "bandwidth": cal["bandwidth"],
        "op_dispatch_s": cal["op_overhead_s"], "gemm_half_flops": cal["gemm_half_flops"],
        "gemm_half_rows": cal["gemm_half_rows"],
        "llc_bytes": cal.get("llc_bytes", 0), "llc_bandwidth": cal.get("llc_bandwidth", 0.0),
        "conv_start_s": cal["conv_start_s"], "conv_flops": cal["conv_flops"],
    }  # fmt: skip


def devices(rates: dict[str, float]) -> tuple[Any, Any]:
    """(the `cpu` table entry on this host's rates, the same with the per-op keys: the
    "calibrated host" `archcheck calibrate` describes)."""
    from pytest_archcheck.formulas.devices import lookup_device

    host = replace(
        lookup_device("cpu"),
        name="this host (measured)",
        bandwidth=rates["bandwidth"],
        peak_flops={"fp32": rates["gemm_flops"]},
    )
    per_op = replace(
        host, name="this host (per-op)", op_overhead_s=rates["op_dispatch_s"],
        gemm_half_flops=rates["gemm_half_flops"], gemm_half_rows=rates["gemm_half_rows"],
        llc_bytes=int(rates["llc_bytes"]) or None,
        llc_bandwidth=rates["llc_bandwidth"] or None,
        conv_start_s=rates.get("conv_start_s"), conv_flops=rates.get("conv_flops"),
    )  # fmt: skip
    return host, per_op


def load_case(source: str, model: dict[str, Any], batch: int, n: int) -> Any:
    from pytest_archcheck.engine import load_all
    from pytest_archcheck.spec.model import Spec

    if source == "zoo":
        spec = Spec.model_validate({"model": {"name": "zoo", **model}, "train": {"dtype": "fp32"}})
    else:
        loaded, _, _, _ = load_all([str(ROOT / source)])
        spec = next(x.spec for x in loaded if x.spec is not None)
    infer = spec.infer.model_copy(update={"batch": batch, "seq_len": n, "dtype": "fp32"})
    return spec.model_copy(update={"infer": infer})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the first three cases only")
    args = ap.parse_args()
    import torch

    from pytest_archcheck import probe
    from pytest_archcheck.formulas.devices import lookup_device
    from pytest_archcheck.formulas.latency import latency_from_spec

    rates = host_rates()
    cpu = lookup_device("cpu")
    host, per_op = devices(rates)
    rows = []
    for label, source, model, batch, n in CASES[:3] if args.quick else CASES:
        spec = load_case(source, model, batch, n)
        # the isolated child imports an example's factory from its project folder
        os.environ["ARCHCHECK_ROOT"] = str(ROOT / source).rsplit("/", 1)[0]
        res = probe.run(
            spec, device="cpu", n=min(n, 128), batch=1, latency=True, subprocess=True,
            path=None if source == "zoo" else str(ROOT / source),  # the factory's project
        )  # fmt: skip
        lat = res.latency or {}
        est = latency_from_spec(spec, cpu)
        est_host = latency_from_spec(spec, host)
        est_op = latency_from_spec(spec, per_op)
        p50 = lat.get("p50_ms")
        rows.append(
            {
                "case": label,
                "batch": batch,
                "n": n,
                "p50_ms": p50,
                "p95_ms": lat.get("p95_ms"),
                "samples": lat.get("samples"),
                "estimate_cpu_ms": None if est is None else est.seconds * 1e3,
                "estimate_host_ms": None if est_host is None else est_host.seconds * 1e3,
                "estimate_calibrated_ms": None if est_op is None else est_op.seconds * 1e3,
                "steps": None if est is None else est.steps,
                "findings": [f.code for f in res.findings],
            }
        )
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "host": rates,
                "rows": rows,
            },
            indent=1,
        )
    )
    print(
        f"\nhost: fp32 GEMM {rates['gemm_flops'] / 1e9:.1f} GFLOP/s, copy "
        f"{rates['bandwidth'] / 1e9:.1f} GB/s, one tiny op {rates['op_dispatch_s'] * 1e6:.1f} us"
    )
    print(
        "\n| case | batch x n | P50 | P95 | estimate (cpu table) | ÷ P50 | "
        "estimate (host rates) | ÷ P50 | estimate (calibrated host) | ÷ P50 |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        p50 = r["p50_ms"]

        def ratio(x: float | None, p50: float | None = p50) -> str:
            return "—" if x is None or not p50 else f"{x / p50:.2f}"

        def ms(x: float | None) -> str:
            return "—" if x is None else f"{x:.3f} ms"

        print(
            f"| {r['case']} | {r['batch']} x {r['n']} | {ms(p50)} | {ms(r['p95_ms'])} | "
            f"{ms(r['estimate_cpu_ms'])} | {ratio(r['estimate_cpu_ms'])} | "
            f"{ms(r['estimate_host_ms'])} | {ratio(r['estimate_host_ms'])} | "
            f"{ms(r['estimate_calibrated_ms'])} | {ratio(r['estimate_calibrated_ms'])} |"
        )


if __name__ == "__main__":
    main()
