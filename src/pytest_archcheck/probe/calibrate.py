"""The child of `archcheck calibrate`: times this host with torch and prints JSON on stdout.

Runs in its own process (`python -m pytest_archcheck.probe.calibrate`), like the probe's
isolated worker, so that the static CLI never imports torch. What it times, and why each:

- a 1024^3 fp32 GEMM: the peak (`fp32`);
- GEMMs of small-model shapes: Hockney's half-performance size F_half (Hockney & Jesshope
  1988): each is read as t = (F + F_half) / peak, so F_half = t * peak - F, the median kept;
- a 64 MiB copy (read + write): DRAM `bandwidth`;
- copies of growing size up to the reported last-level cache: the largest that still runs at
  1.3x the DRAM rate is `llc`, their median rate `llc-bandwidth`;
- a one-element add, 1000 times: the fixed cost of one eager op, `op-overhead`.
Each figure is the best of several runs (the least disturbed by other processes).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

SMALL_GEMMS = [(128, 256, 1024), (128, 256, 256), (64, 512, 512), (256, 256, 768)]


def _best(fn: Callable[[], object], reps: int) -> float:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def measure(llc_bytes: int | None, quick: bool = False) -> dict[str, Any]:
    """The host's rates; `llc_bytes` (the reported LLC size, None: unknown) bounds the
    in-cache sweep."""
    import torch

    reps = 3 if quick else 10
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    peak = 2 * 1024**3 / _best(lambda: a @ b, reps)
    halves = []
    for m, k, n in SMALL_GEMMS:
        x, w = torch.randn(m, k), torch.randn(k, n)
        f = 2 * m * k * n

        def gemm(x: Any = x, w: Any = w) -> object:
            return x @ w

        halves.append(max(_best(gemm, reps * 4) * peak - f, 0.0))
    big = torch.ones((16 if quick else 64) * 2**20 // 4)
    big2 = torch.zeros_like(big)
    bandwidth = 2 * big.numel() * 4 / _best(lambda: big2.copy_(big), reps)
    out: dict[str, Any] = {
        "fp32": peak,
        "gemm_half_flops": statistics.median(halves),
        "bandwidth": bandwidth,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    # the cache actually usable: copies of growing size (1 MiB up to the reported LLC), kept
    # while they run at least 1.3x the DRAM rate. A VM's sysfs may report a whole socket's L3
    # (300 MiB on the session's host) that one process does not get; the sweep finds what it
    # does get. The LLC rate is the median of the sizes that qualified.
    cap = min(llc_bytes or 64 * 2**20, (16 if quick else 512) * 2**20)
    size, fits, rates = 2**20, 0, []
    while size <= cap:
        u = torch.ones(size // 2 // 4)  # touched: no zero-page reads
        v = torch.zeros_like(u)

        def copy(u: Any = u, v: Any = v) -> object:
            return v.copy_(u)

        rate = size / _best(copy, reps * 2)
        if rate < 1.3 * bandwidth:
            break
        fits, size = size, size * 2
        rates.append(rate)
    if fits:
        out["llc_bytes"] = fits
        out["llc_bandwidth"] = statistics.median(rates)
    t = torch.ones(1)
    calls = 200 if quick else 1000
    out["op_overhead_s"] = _best(lambda: [t.add(t) for _ in range(calls)], reps) / calls
    return out


if __name__ == "__main__":
    llc = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "0" else None
    print(json.dumps(measure(llc, quick="--quick" in sys.argv)))
