"""Per-call inference latency: synchronised samples, warm-up excluded, bootstrap CI."""

from __future__ import annotations

import random
import time
from typing import Any


def percentile(xs: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    s = sorted(xs)
    if not s:
        raise ValueError("no samples")
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def bootstrap_ci(
    xs: list[float], q: float, reps: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    rng = random.Random(seed)
    n = len(xs)
    stats = sorted(percentile([xs[rng.randrange(n)] for _ in range(n)], q) for _ in range(reps))
    a = (1 - level) / 2
    return stats[int(a * (reps - 1))], stats[int((1 - a) * (reps - 1))]


def summarize(samples_ms: list[float]) -> dict[str, Any]:
    return {
        "p50_ms": percentile(samples_ms, 50),
        "p95_ms": percentile(samples_ms, 95),
        "p99_ms": percentile(samples_ms, 99),
        "samples": len(samples_ms),
        "p95_ci_ms": list(bootstrap_ci(samples_ms, 95)),
    }


def measure(
    model: Any,
    inputs: tuple[Any, ...],
    device_type: str,
    *,
    min_samples: int = 200,
    warmup: int = 10,
    time_cap_s: float = 30.0,
) -> dict[str, Any]:
    """Time `model(*inputs)` under no_grad: >= min_samples calls, or as many as fit time_cap_s."""
    import torch

    was_training = model.training
    model.eval()
    samples: list[float] = []
    try:
        with torch.no_grad():
            for _ in range(warmup):
                model(*inputs)
            if device_type == "cuda":
                torch.cuda.synchronize()
            t_end = time.perf_counter() + time_cap_s
            while len(samples) < min_samples and (time.perf_counter() < t_end or len(samples) < 3):
                if device_type == "cuda":
                    a = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
                    b = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
                    a.record()
                    model(*inputs)
                    b.record()
                    b.synchronize()
                    samples.append(float(a.elapsed_time(b)))
                else:
                    t0 = time.perf_counter()
                    model(*inputs)
                    samples.append((time.perf_counter() - t0) * 1e3)
    finally:
        model.train(was_training)
    return summarize(samples)
