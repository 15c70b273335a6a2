"""The child of `archcheck calibrate`: times this host with torch and prints JSON on stdout.

Runs in its own process (`python -m pytest_archcheck.probe.calibrate`), like the probe's
isolated worker, so that the static CLI never imports torch. What it times, and why each:

- GEMMs as a model's linear layers run them (`F.linear` with a bias, a 4 MiB weight) at
  8, 32, 128 and 512 rows: the peak (`fp32`) and Hockney's half-performance rows m_half
  (Hockney & Jesshope 1988), fitted as 1/rate = 1/peak + (m_half/peak)/m (least squares):
  on a CPU a GEMM's rate follows its rows, not its weight's shape (formulas/latency.py
  `latency.gemm_rows_rate`);
- linear layers of small-model shapes: the half-performance size in FLOPs F_half (each read
  as t = (F + F_half) / peak, so F_half = t * peak - F, the median kept), for kernels with no
  rows to speak of (the fused attention);
- a 64 MiB copy (read + write): DRAM `bandwidth`;
- copies of growing size up to the reported last-level cache: the largest that still runs at
  1.3x the DRAM rate is `llc`, their median rate `llc-bandwidth`;
- a stack of tiny modules at one row: the cost of one eager op as a model's modules pay it,
  `op-overhead` (`module_op_seconds`);
- convolutions as a TCN runs them (`F.conv1d`, kernel 3, dilation 2, 1,024 positions) of 16,
  32, 64 and 128 channels: a convolution's fixed start-up per call `conv-start-up` and its
  rate `conv-rate`, fitted as t = start + F / rate (least squares; `fit_start_up`).
The GEMMs and the module stack are the medians of their runs (a model's P50 sees typical
runs, not the luckiest one); the copies keep the best of several runs (the least disturbed by
other processes).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

SMALL_GEMMS = [(128, 256, 1024), (128, 256, 256), (64, 512, 512), (256, 256, 768)]


def _times(fn: Callable[[], object], reps: int) -> list[float]:
    fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return ts


def _best(fn: Callable[[], object], reps: int) -> float:
    return min(_times(fn, reps))


ROWS = (8, 32, 128, 512)
ROWS_WEIGHT = (512, 2048)  # k x n: 4 MiB in fp32, inside any server's last-level cache


def _line(xs: list[float], ys: list[float], ws: list[float] | None = None) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line y = a + b x, each point weighted by `ws`
    (None: equally); slope 0 when the xs do not vary."""
    ws = ws or [1.0] * len(xs)
    total = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs, strict=True)) / total
    my = sum(w * y for w, y in zip(ws, ys, strict=True)) / total
    sxx = sum(w * (x - mx) ** 2 for w, x in zip(ws, xs, strict=True))
    sxy = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    return my - slope * mx, slope


def fit_rows(rates: dict[int, float]) -> tuple[float, float]:
    """(peak, m_half) of rate(m) = peak * m / (m + m_half) from measured rates by rows:
    least squares of 1/rate = a + b / m, so peak = 1/a and m_half = b/a. A fit that cannot
    hold (b < 0: rates falling with m; a <= 0) keeps the largest rate and m_half 0."""
    a, b = _line([1 / m for m in rates], [1 / r for r in rates.values()])
    if a <= 0 or b < 0:
        return max(rates.values()), 0.0
    return 1 / a, b / a


def interleaved_medians(calls: dict[Any, Callable[[], object]], reps: int) -> dict[Any, float]:
    """Median seconds of each call, the calls timed in turn round after round after one
    warm-up each (oneDNN's first call per shape plans it): a shared host's speed drifts over
    seconds (its 1024^3 GEMM read 143 to 194 GFLOP/s within an hour here), and timing each
    shape's runs back to back let that drift into a fit as if it were the shapes'
    difference (m_half 28 in one run, 11 the next); interleaved, every shape sees the same
    drift."""
    for fn in calls.values():
        fn()
    runs: dict[Any, list[float]] = {key: [] for key in calls}
    for _ in range(reps):
        for key, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            runs[key].append(time.perf_counter() - t0)
    return {key: statistics.median(ts) for key, ts in runs.items()}


def linear_medians(
    shapes: list[tuple[int, int, int]], reps: int
) -> dict[tuple[int, int, int], float]:
    """Median seconds of `F.linear` (with a bias) per (m, k, n), timed in turn
    (`interleaved_medians`)."""
    import torch
    import torch.nn.functional as F

    def call(s: tuple[int, int, int]) -> Callable[[], object]:
        x, w, b = torch.randn(s[0], s[1]), torch.randn(s[2], s[1]), torch.randn(s[2])
        return lambda: F.linear(x, w, b)

    return interleaved_medians({s: call(s) for s in shapes}, reps)


CONV_CHANNELS = (16, 32, 64, 128)
CONV_LENGTH, CONV_KERNEL, CONV_DILATION = 1024, 3, 2


def conv_medians(reps: int) -> dict[int, float]:
    """Median seconds of one `F.conv1d` (with a bias, "same" padding) per channel count
    (in = out), timed in turn (`interleaved_medians`)."""
    import torch
    import torch.nn.functional as F

    pad = CONV_DILATION * (CONV_KERNEL - 1) // 2

    def call(c: int) -> Callable[[], object]:
        x, w, b = torch.randn(1, c, CONV_LENGTH), torch.randn(c, c, CONV_KERNEL), torch.randn(c)
        return lambda: F.conv1d(x, w, b, 1, pad, CONV_DILATION)

    with torch.no_grad():
        return interleaved_medians({c: call(c) for c in CONV_CHANNELS}, reps)


def conv_flops(channels: int) -> float:
    """FLOPs of one calibration convolution of `channels` in and out channels."""
    return 2.0 * CONV_LENGTH * channels * channels * CONV_KERNEL


def fit_start_up(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(start, rate) of t = start + F / rate from (F, t) points: least squares of t on F,
    each point weighted by 1/t^2 (its relative error counts, not its absolute one: a host's
    timing noise grows with the time, and unweighted the largest convolution's noise set
    the small ones' start-up). A fit that cannot hold (slope <= 0: time not growing with
    work) gives start 0 and the best rate measured; a negative start is clipped to 0 with
    the rate of all points together."""
    fs, ts = [f for f, _ in points], [t for _, t in points]
    start, slope = _line(fs, ts, [1 / (t * t) for t in ts])
    if slope <= 0:
        return 0.0, max(f / t for f, t in points)
    if start < 0:
        return 0.0, sum(f for f, _ in points) / sum(t for _, t in points)
    return start, 1 / slope


def module_op_seconds(reps: int) -> float:
    """The cost of one eager op as a model's modules pay it: a stack of 50 tiny Linear, GELU
    and LayerNorm modules at one row (no arithmetic to speak of), its median forward time over
    the aten ops it dispatches (`module_stack`). Why not a bare `t.add(t)` loop: that is the
    dispatcher alone (1.1 us here), while each op of a module forward also pays the module
    call and its Python (6.7 us here; transformers' GPT-2 decode step, 25 us an op), which is
    what a small model's forward and a decode step are made of."""
    stack, x, ops = module_stack()
    import torch

    with torch.no_grad():
        seconds = statistics.median(_times(lambda: stack(x), reps * 10))
    return float(seconds) / max(ops, 1)


def module_stack() -> tuple[Any, Any, int]:
    """(the stack, its input, the aten ops one no-grad forward dispatches), counted with a
    TorchDispatchMode."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    counted = [0]

    class _Count(TorchDispatchMode):  # type: ignore[no-untyped-call]
        def __torch_dispatch__(
            self, func: Any, types: Any, args: Any = (), kwargs: Any = None
        ) -> Any:
            counted[0] += 1
            return func(*args, **(kwargs or {}))

    layers: list[Any] = []
    for _ in range(50):
        layers += [torch.nn.Linear(8, 8), torch.nn.GELU(), torch.nn.LayerNorm(8)]
    stack = torch.nn.Sequential(*layers).eval()
    x = torch.randn(1, 8)
    with torch.no_grad(), _Count():  # type: ignore[no-untyped-call]
        stack(x)
    return stack, x, counted[0]


def measure(llc_bytes: int | None, quick: bool = False) -> dict[str, Any]:
    """The host's rates; `llc_bytes` (the reported LLC size, None: unknown) bounds the
    in-cache sweep."""
    import torch

    reps = 3 if quick else 10
    k, n = ROWS_WEIGHT
    shapes = [(m, k, n) for m in ROWS] + list(SMALL_GEMMS)
    times = linear_medians(shapes, reps * 4)
    by_rows = {m: 2 * m * k * n / times[(m, k, n)] for m in ROWS}
    peak, half_rows = fit_rows(by_rows)
    halves = [max(times[s] * peak - 2 * s[0] * s[1] * s[2], 0.0) for s in SMALL_GEMMS]
    big = torch.ones((16 if quick else 64) * 2**20 // 4)
    big2 = torch.zeros_like(big)
    bandwidth = 2 * big.numel() * 4 / _best(lambda: big2.copy_(big), reps)
    out: dict[str, Any] = {
        "fp32": peak,
        "gemm_half_flops": statistics.median(halves),
        "gemm_half_rows": half_rows,
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
    out["op_overhead_s"] = module_op_seconds(reps)
    convs = conv_medians(reps * 4)
    out["conv_start_s"], out["conv_flops"] = fit_start_up(
        [(conv_flops(c), t) for c, t in convs.items()]
    )
    return out


if __name__ == "__main__":
    llc = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "0" else None
    print(json.dumps(measure(llc, quick="--quick" in sys.argv)))
