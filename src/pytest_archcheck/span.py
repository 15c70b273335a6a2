"""`archcheck span DATA`: estimate the dependency span d of a time series from its data.

The article's selection method starts with "estimate the dependency span d" and, for time
series, says to use the autocorrelation length as the effective memory span, with the P90 over
the data as the safe span (P90 < 256 favours a CNN/LSTM, P90 > 512 a Transformer). This module
measures that, per channel and per window, with numpy only (no torch, no user code):

- the autocorrelation function (ACF) of each demeaned channel, by FFT with zero padding to at
  least 2N so the circular correlation equals the linear one (Wiener-Khinchin);
- the *1/e lag*: the first lag where the ACF falls below 1/e, the e-folding time or
  autocorrelation length. For an AR(1) process x_t = φ·x_{t−1} + ε the ACF is φ^k, so this lag
  is −1/ln φ (99.5 for φ = 0.99). It is the span we suggest: it is stable (its sampling error
  shrinks as 1/√(N/τ)) and it is what the article calls the autocorrelation length;
- the *noise-band lag*: the first lag where |ACF| falls inside the 95 % band of white noise,
  ±1.96/√N (Bartlett's bound for an uncorrelated series): beyond it no linear dependence is
  detectable in this much data. It is printed for reference, not suggested: it grows with N,
  and for a strongly correlated series the sample ACF's own noise at large lags is wider than
  the band (for AR(1), by √((1+φ²)/(1−φ²))), so its first crossing is partly chance;
- a *period*: the first local maximum of the ACF after its first negative value, when that
  maximum is above 1/e (a strong cycle). A periodic signal's ACF never decays, so its span is
  one period: the model must see the same phase of the previous cycle.

Crossings are interpolated linearly between the two integer lags around them, so a decay time
of 99.5 lags is reported as ≈ 99.5, not rounded to 100. A lag that is not reached within the
largest lag (by default a fiftieth of the window, so that the window holds at least 50 of the
lengths it reports) is reported as None with the reason ("the ACF stays above 1/e up to lag
L"): the span is then at least L, and we say so instead of inventing a number.

Files are data only: `.npy` with `allow_pickle=False`, `.csv` by the standard library (numeric
columns; a header row is skipped), Parquet/Arrow/Feather through pyarrow when it is installed.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOISE_Z = 1.96  # two-sided 95 % quantile of the normal distribution
INV_E = 1.0 / math.e
MIN_SAMPLES = 16  # shorter windows give an ACF too noisy to read a lag from
# Default largest lag: a window/LAGS_PER_WINDOW. A length read off the sample ACF is only
# meaningful when the window holds many of them: a random walk's sample ACF also falls below
# 1/e, at a lag set by the window (about a third of it), not by the process.
LAGS_PER_WINDOW = 50
P90_SMALL = 256  # article: "若 90% 的依赖都小于 256，则优先考虑 CNN/LSTM"
P90_LARGE = 512  # article: "若 P90 已经超过 512，Transformer 的优势通常更稳"


class SpanError(Exception):
    """Data that cannot be read as a series, or a series too short to measure."""


@dataclass(frozen=True)
class Lags:
    """What one window of one channel shows: the lags in samples (None: not reached)."""

    channel: int
    window: int
    samples: int
    noise_band: float
    noise_lag: float | None
    e_fold_lag: float | None
    period: float | None
    max_lag: int

    @property
    def span(self) -> float | None:
        """The span this window suggests: one period for a cycle, else the 1/e lag."""
        return self.period if self.period is not None else self.e_fold_lag

    def to_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "window": self.window,
            "samples": self.samples,
            "noise_band": self.noise_band,
            "noise_lag": self.noise_lag,
            "e_fold_lag": self.e_fold_lag,
            "period": self.period,
            "span": self.span,
            "max_lag": self.max_lag,
        }


@dataclass
class SpanReport:
    """All windows of all channels, and the percentiles over them."""

    source: str
    rows: list[Lags] = field(default_factory=list)

    def _values(self) -> list[float]:
        return [r.span for r in self.rows if r.span is not None]

    @property
    def unresolved(self) -> list[Lags]:
        """Windows whose ACF never fell below 1/e: their span is at least max_lag."""
        return [r for r in self.rows if r.span is None]

    def percentile(self, q: float) -> float | None:
        """The q-th percentile of the suggested spans; None when any window is unresolved
        (a lower bound mixed with values would understate the percentile)."""
        values = self._values()
        if not values or self.unresolved:
            return None
        return _percentile(sorted(values), q)

    @property
    def suggested(self) -> int | None:
        p90 = self.percentile(90)
        return None if p90 is None else max(1, math.ceil(p90))

    def verdict(self) -> str:
        """The article's P90 rule applied to the measured value."""
        p90 = self.percentile(90)
        if p90 is None:
            bound = max((r.max_lag for r in self.unresolved), default=0)
            return (
                f"the autocorrelation stays above 1/e up to lag {bound} in "
                f"{len(self.unresolved)} of {len(self.rows)} windows: the span is at least "
                f"{bound}; use longer windows (--window) or a model-based estimate"
            )
        if p90 < P90_SMALL:
            return f"P90 span {p90:.1f} < {P90_SMALL}: the article favours a CNN or an LSTM"
        if p90 > P90_LARGE:
            return f"P90 span {p90:.1f} > {P90_LARGE}: the article favours a Transformer"
        return (
            f"P90 span {p90:.1f} is between {P90_SMALL} and {P90_LARGE}: either fits; "
            "compare costs with `archcheck advise`"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "source": self.source,
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "suggested_span": self.suggested,
            "verdict": self.verdict(),
            "windows": [r.to_json() for r in self.rows],
        }


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default method), on a sorted list."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def autocorrelation(x: Any, max_lag: int) -> Any:
    """Normalised ACF r(0..max_lag) of a 1-D series: Σ (x_t − x̄)(x_{t+k} − x̄) / Σ (x_t − x̄)².

    The biased estimator (divided by N, not N − k), as statsmodels' `acf` and Box & Jenkins use:
    it keeps the sequence positive definite and its noise bound is the ±1.96/√N band.
    """
    import numpy as np

    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    n = x.size
    size = 1 << (2 * n - 1).bit_length()  # ≥ 2N − 1: no wrap-around
    f = np.fft.rfft(x, size)
    acov = np.fft.irfft(f * np.conj(f), size)[: max_lag + 1]
    if acov[0] <= 0:
        raise SpanError("the series is constant: it carries no dependence to measure")
    return acov / acov[0]


def _crossing(acf: Any, threshold: float, absolute: bool = False) -> float | None:
    """First lag k ≥ 1 where the ACF (or |ACF|) is below `threshold`, interpolated linearly
    between lags k − 1 and k; None when it never gets there within the lags computed."""
    for k in range(1, len(acf)):
        b = abs(float(acf[k])) if absolute else float(acf[k])
        if b < threshold:
            a = abs(float(acf[k - 1])) if absolute else float(acf[k - 1])
            return k - 1 + (a - threshold) / (a - b)
    return None


def _period(acf: Any) -> float | None:
    """The first ACF peak above 1/e after the ACF has gone negative (a strong cycle), refined
    by a parabola through the peak and its neighbours."""
    negative = next((k for k in range(1, len(acf)) if acf[k] < 0), None)
    if negative is None:
        return None
    for k in range(negative + 1, len(acf) - 1):
        if acf[k] >= acf[k - 1] and acf[k] >= acf[k + 1] and acf[k] > INV_E:
            y0, y1, y2 = float(acf[k - 1]), float(acf[k]), float(acf[k + 1])
            denom = y0 - 2 * y1 + y2
            return k + (0.5 * (y0 - y2) / denom if denom != 0 else 0.0)
    return None


def measure_window(x: Any, channel: int = 0, window: int = 0, max_lag: int | None = None) -> Lags:
    """The lags of one window of one channel."""
    n = len(x)
    if n < MIN_SAMPLES:
        raise SpanError(f"a window of {n} samples is too short (at least {MIN_SAMPLES})")
    limit = max(MIN_SAMPLES, n // LAGS_PER_WINDOW) if max_lag is None else min(max_lag, n - 1)
    acf = autocorrelation(x, limit)
    band = NOISE_Z / math.sqrt(n)
    return Lags(
        channel=channel,
        window=window,
        samples=n,
        noise_band=band,
        noise_lag=_crossing(acf, band, absolute=True),
        e_fold_lag=_crossing(acf, INV_E),
        period=_period(acf),
        max_lag=limit,
    )


def measure(
    data: Any, source: str = "", window: int | None = None, max_lag: int | None = None
) -> SpanReport:
    """Lags of every channel (columns of a 2-D array: time × channels) and window."""
    import numpy as np

    arr = np.asarray(data, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise SpanError(f"expected a series of shape (time,) or (time, channels), got {arr.shape}")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise SpanError(f"{bad} values are NaN or infinite; clean or interpolate them first")
    steps = arr.shape[0]
    width = steps if window is None else window
    if width < MIN_SAMPLES:
        raise SpanError(f"--window {width} is too short (at least {MIN_SAMPLES} samples)")
    if steps < width:
        raise SpanError(f"the series has {steps} time steps, fewer than the window {width}")
    report = SpanReport(source)
    for c in range(arr.shape[1]):
        for w, start in enumerate(range(0, steps - width + 1, width)):
            report.rows.append(measure_window(arr[start : start + width, c], c, w, max_lag))
    return report


def read_series(path: Path, channels_first: bool = False) -> Any:
    """A numeric array from a data file, read as data (never unpickled, never executed)."""
    import numpy as np

    suffix = path.suffix.lower()
    if not path.is_file():
        raise SpanError(f"{path}: not a regular file")
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise SpanError(f"{path}: {exc} (object arrays are refused, never unpickled)") from None
    elif suffix in (".csv", ".tsv", ".txt"):
        arr = _read_csv(path, "\t" if suffix == ".tsv" else None)
    elif suffix in (".parquet", ".arrow", ".feather"):
        arr = _read_arrow(path, suffix)
    else:
        raise SpanError(f"{path}: unknown series format {suffix!r} (.npy, .csv, .tsv, .parquet)")
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iuf":
        raise SpanError(f"{path}: expected numbers, got dtype {arr.dtype}")
    if channels_first and arr.ndim == 2:
        arr = arr.T
    return arr


def _read_csv(path: Path, delimiter: str | None) -> Any:
    import numpy as np

    text = path.read_text(encoding="utf-8", errors="replace")
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ").delimiter
        except csv.Error:
            delimiter = ","
    rows: list[list[float]] = []
    for lineno, row in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        cells = [c.strip() for c in row if c.strip()]
        if not cells:
            continue
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            if not rows and lineno == 1:
                continue  # a header row
            raise SpanError(f"{path}:{lineno}: not a number in {row!r}") from None
        if len(rows[-1]) != len(rows[0]):
            raise SpanError(
                f"{path}:{lineno}: {len(rows[-1])} columns where the first row had {len(rows[0])}"
            )
    if not rows:
        raise SpanError(f"{path}: no numeric rows")
    return np.asarray(rows, dtype=np.float64)


def _read_arrow(path: Path, suffix: str) -> Any:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise SpanError(f"{path}: reading {suffix} needs pyarrow (pip install pyarrow)") from None
    import numpy as np

    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
    else:
        from pyarrow import feather

        table = feather.read_table(path)
    numeric = [c for c in table.column_names if _is_numeric(table.schema.field(c).type)]
    if not numeric:
        raise SpanError(f"{path}: no numeric columns")
    return np.column_stack([table.column(c).to_numpy() for c in numeric])


def _is_numeric(arrow_type: Any) -> bool:
    import pyarrow.types as t

    return bool(t.is_integer(arrow_type) or t.is_floating(arrow_type))


# ---- the `archcheck span` command ---------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register `archcheck span` on the CLI's subparsers."""
    s = sub.add_parser(
        "span",
        help="estimate the dependency span d of a time series (autocorrelation length)",
        description=(
            "Autocorrelation of each channel (columns: time × channels) and window; the 1/e lag "
            "(or one period for a cyclic series) is the span; P90 over channels and windows is "
            "the safe span to declare as [budget] span."
        ),
    )
    s.add_argument("data", type=Path, help="series file: .npy, .csv, .tsv, .parquet, .feather")
    s.add_argument("--window", type=int, default=None, help="samples per window (default: all)")
    s.add_argument("--max-lag", type=int, default=None, help="largest lag (default: window/50)")
    s.add_argument("--channels-first", action="store_true", help="2-D data is channels × time")
    s.add_argument(
        "--model",
        default=None,
        metavar="SPEC",
        help="measure the attention spans of SPEC's model on DATA (token ids, .npy), in an "
        "isolated child",
    )
    s.add_argument("--batch", type=int, default=8, help="sequences per forward (--model)")
    s.add_argument("--batches", type=int, default=4, help="forwards to measure (--model)")
    s.add_argument("--probe-timeout", type=float, default=600.0, metavar="SECONDS")
    s.add_argument("--format", choices=["text", "json"], default="text")


def model_command(args: Any) -> int:
    """`archcheck span DATA --model SPEC`: attention spans measured in the isolated child."""
    import json

    from .cli import _load_one
    from .findings import ArchcheckError
    from .probe.isolate import run_child

    for name in ("batch", "batches"):
        if getattr(args, name) < 1:
            raise ArchcheckError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if not args.data.is_file():
        raise ArchcheckError("not a regular file", str(args.data))
    spec = _load_one(args.model)[0].spec
    request = {
        "mode": "attention_span",
        "spec": spec.model_dump(mode="json"),
        "data": str(args.data.resolve()),
        "batch": args.batch,
        "batches": args.batches,
    }
    run = run_child(request, args.probe_timeout)
    if run.result is None:
        detail = f"\n{run.output}" if run.output else ""
        raise ArchcheckError(f"the attention-span measurement {run.failure}{detail}")
    doc = {"schema_version": 1, "source": str(args.data), "model": spec.name, **run.result}
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{spec.name} on {args.data}: {doc['sequences']} sequences of n {doc['n']}")
    print(f"{'layer':>5} {'head':>4} {'P50':>6} {'P90':>6} {'mean':>8}")
    for h in doc["heads"]:
        print(
            f"{h['layer']:>5} {h['head']:>4} {h['p50']:>6} {h['p90']:>6} {h['mean_distance']:>8.1f}"
        )
    p90 = doc["suggested_span"]
    verdict = (
        f"P90 span {p90} < {P90_SMALL}: the article favours a CNN or an LSTM"
        if p90 < P90_SMALL
        else f"P90 span {p90} > {P90_LARGE}: the article favours a Transformer"
        if p90 > P90_LARGE
        else f"P90 span {p90} is between {P90_SMALL} and {P90_LARGE}: either fits"
    )
    print(verdict)
    print(f"[budget]\nspan = {p90}  # P90 over heads of the attention distance (archcheck span)")
    return 0


def command(args: Any) -> int:
    """`archcheck span`: exit 0 with a span, 1 when no span could be read off the data."""
    import json

    from .findings import ArchcheckError

    try:
        import numpy  # noqa: F401
    except ImportError:
        raise ArchcheckError("archcheck span needs numpy: pip install numpy") from None
    if args.model is not None:
        return model_command(args)
    for name in ("window", "max_lag"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ArchcheckError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    try:
        data = read_series(args.data, args.channels_first)
        report = measure(data, str(args.data), args.window, args.max_lag)
    except SpanError as exc:
        raise ArchcheckError(str(exc)) from None
    except OSError as exc:
        raise ArchcheckError(f"cannot read: {exc.strerror}", str(args.data)) from None
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(render_text(report))
    return 0 if report.suggested is not None else 1


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_text(report: SpanReport) -> str:
    """A table of the windows (at most 20 rows), the percentiles, and the line to paste."""
    lines = [f"{report.source}: {len(report.rows)} window(s)"]
    lines.append(
        f"{'channel':>7} {'window':>6} {'samples':>8} {'1/e lag':>8} "
        f"{'period':>7} {'noise lag':>9} {'span':>7}"
    )
    for r in report.rows[:20]:
        lines.append(
            f"{r.channel:>7} {r.window:>6} {r.samples:>8} {_fmt(r.e_fold_lag):>8} "
            f"{_fmt(r.period):>7} {_fmt(r.noise_lag):>9} {_fmt(r.span):>7}"
        )
    if len(report.rows) > 20:
        lines.append(f"  ... {len(report.rows) - 20} more (--format json lists all)")
    p50, p90 = report.percentile(50), report.percentile(90)
    lines.append(f"span P50 {_fmt(p50)}, P90 {_fmt(p90)} samples")
    lines.append(report.verdict())
    if report.suggested is not None:
        lines.append(
            f"[budget]\nspan = {report.suggested}  # P90 over channels and windows (archcheck span)"
        )
    return "\n".join(lines)


# ---- `[budget] span = "p90"` with `[data] span_source` ------------------------------------

SPAN_PERCENTILES = {"p50": 50.0, "p90": 90.0}


def declared_span(
    which: str, source: str, base: Path, root: Path | None = None, window: int | None = None
) -> int:
    """The span a spec declares as a percentile of its data: `which` is "p50" or "p90",
    `source` a series file (measured here, numpy) or the JSON `archcheck span --format json`
    wrote (read as is, no numpy needed). Relative to the spec's folder, else the project root.
    Raises SpanError with what to do when there is no number to take."""
    import json

    from .deps import note_file

    if which not in SPAN_PERCENTILES:
        raise SpanError(f"expected a positive integer or one of {sorted(SPAN_PERCENTILES)}")
    candidates = [base / source] + ([root / source] if root is not None else [])
    for c in candidates:
        note_file(c)  # the static cache re-checks the spec when the data changes
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise SpanError(f"data.span_source {source!r} not found next to the spec")
    if found.suffix.lower() == ".json":
        try:
            doc = json.loads(found.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise SpanError(f"{source}: not a JSON file of `archcheck span` ({exc})") from None
        value = doc.get(which) if isinstance(doc, dict) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise SpanError(
                f"{source}: no positive {which!r} (write it with `archcheck span "
                "DATA --format json`)"
            )
        return max(1, math.ceil(value))
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise SpanError("measuring data.span_source needs numpy (pip install numpy)") from None
    report = measure(read_series(found), source, window)
    value = report.percentile(SPAN_PERCENTILES[which])
    if value is None:
        raise SpanError(f"{source}: {report.verdict()}")
    return max(1, math.ceil(value))
