"""Sequence-length data for the padding and mean-length rules (ARC208, ARC212).

`[data] lengths` may hold inline statistics, a file (JSON, CSV, `.npy`) or a "module:callable".
From real lengths we report P50/P90/max and simulate what batching costs: padding every batch to
max_n, padding each batch of [train] batch random sequences to its own longest (fixed seed), and
length bucketing (sort, then batch neighbours). Attention cost is Σ over batches of B·L_batch²,
so the long tail dominates it; bucketing confines the tail to a few batches.

Files are read as data only: JSON and CSV by the standard library, `.npy` by numpy with
`allow_pickle=False` (a pickled object array is refused, never unpickled). A callable is user
code, so it is evaluated only under `--probe`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .deps import note_file

CALLABLE_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
SIMULATION_SEED = 0
MAX_SIMULATED = 1_000_000  # sequences shuffled for the random-batch simulation (sampled beyond)


class LengthsError(Exception):
    """Lengths that cannot be read; `not_evaluated` marks a callable skipped in static mode."""

    def __init__(self, message: str, not_evaluated: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.not_evaluated = not_evaluated


@dataclass(frozen=True)
class Lengths:
    """A length distribution as a histogram {length: count}, sorted by length."""

    values: tuple[int, ...]
    counts: tuple[int, ...]
    source: str = ""

    @classmethod
    def from_counts(cls, counts: Mapping[int, int], source: str = "") -> Lengths:
        items = sorted((k, v) for k, v in counts.items() if v > 0)
        if not items:
            raise LengthsError(f"{source or 'lengths'}: no sequences")
        return cls(tuple(k for k, _ in items), tuple(v for _, v in items), source)

    @classmethod
    def from_list(cls, lengths: Iterable[int], source: str = "") -> Lengths:
        return cls.from_counts(Counter(lengths), source)

    @property
    def n(self) -> int:
        return sum(self.counts)

    @property
    def total(self) -> int:
        return sum(v * c for v, c in zip(self.values, self.counts, strict=True))

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def max(self) -> int:
        return self.values[-1]

    def percentile(self, q: float) -> int:
        """Nearest-rank percentile: the smallest length with at least q·N sequences at or below."""
        rank = max(1, math.ceil(q / 100 * self.n))
        seen = 0
        for v, c in zip(self.values, self.counts, strict=True):
            seen += c
            if seen >= rank:
                return v
        return self.values[-1]

    def expanded(self) -> list[int]:
        return [v for v, c in zip(self.values, self.counts, strict=True) for _ in range(c)]


@dataclass(frozen=True)
class PaddingReport:
    """Padding and attention cost of three batching strategies over one length distribution.

    Ratios are padded tokens / tokens computed; sequences longer than max_n count as truncated
    to max_n. `attention_*` are Σ over batches of B·L_batch² (query-key pairs per head and
    layer); `attention_flops_saved` converts the difference to FLOPs (QK^T and AV, forward).
    """

    sequences: int
    mean: float
    p50: int
    p90: int
    max: int
    max_n: int
    batch: int
    pad_to_max_n: float
    random_batches: float
    bucketed: float
    attention_random: int
    attention_bucketed: int
    attention_flops_saved: int | None
    simulated: int  # sequences in the random-batch simulation (all, unless sampled)

    @property
    def attention_saving(self) -> float:
        """Fraction of the random-batch attention cost that bucketing removes."""
        if self.attention_random == 0:
            return 0.0
        return 1.0 - self.attention_bucketed / self.attention_random

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**asdict(self), "attention_saving": self.attention_saving}


def _batch_costs(seq: list[int], batch: int) -> tuple[int, int]:
    """(Σ |b|·L_b, Σ |b|·L_b²) over consecutive batches of `seq`."""
    tokens = pairs = 0
    for i in range(0, len(seq), batch):
        chunk = seq[i : i + batch]
        longest = max(chunk)
        tokens += len(chunk) * longest
        pairs += len(chunk) * longest * longest
    return tokens, pairs


def _bucketed_costs(lengths: Lengths, max_n: int, batch: int) -> tuple[int, int]:
    """Costs of sorted batches, from the histogram (no expansion): batch k's longest sequence
    is the sorted length at index min((k+1)·B, N) − 1.

    Counted per histogram bin, not per batch, so that a histogram of 10**18 sequences costs as
    little as one of ten: full batch k ends in the bin [lo, hi) of sorted indices when
    lo < (k+1)·B <= hi; the last, partial batch ends at index N − 1, in the last bin.
    """
    n = lengths.n
    full = n // batch
    tokens = pairs = 0
    lo = 0
    for v, c in zip(lengths.values, lengths.counts, strict=True):
        hi = lo + c
        longest = min(v, max_n)
        ends = max(0, min(hi // batch, full) - (lo // batch + 1) + 1)  # k+1 in (lo/B, hi/B]
        tokens += ends * batch * longest
        pairs += ends * batch * longest * longest
        lo = hi
    rest = n - full * batch
    if rest:
        longest = min(lengths.values[-1], max_n)
        tokens += rest * longest
        pairs += rest * longest * longest
    return tokens, pairs


def padding_report(
    lengths: Lengths,
    max_n: int,
    batch: int,
    *,
    flops_per_pair: int | None = None,
    seed: int = SIMULATION_SEED,
) -> PaddingReport:
    """Padding ratios and attention cost at `max_n` for batches of `batch` sequences.

    `flops_per_pair`: attention FLOPs per query-key pair summed over layers and heads
    (4·layers·heads·head_dim for QK^T and AV); None leaves FLOPs out.
    """
    batch = max(1, batch)
    clipped = Lengths.from_counts(_merge_clipped(lengths, max_n), lengths.source)
    real = clipped.total
    pad_max = 1.0 - real / (clipped.n * max_n)
    rng = random.Random(seed)
    if clipped.n <= MAX_SIMULATED:
        seq = clipped.expanded()
        rng.shuffle(seq)
    else:
        seq = rng.choices(list(clipped.values), weights=list(clipped.counts), k=MAX_SIMULATED)
    rand_tokens, rand_pairs = _batch_costs(seq, batch)
    rand_ratio = 1.0 - sum(seq) / rand_tokens
    if len(seq) != clipped.n:  # scale the sample's attention cost to the whole data set
        rand_pairs = round(rand_pairs * clipped.n / len(seq))
    buck_tokens, buck_pairs = _bucketed_costs(clipped, max_n, batch)
    saved = None
    if flops_per_pair is not None:
        saved = max(0, rand_pairs - buck_pairs) * flops_per_pair
    return PaddingReport(
        sequences=lengths.n,
        mean=lengths.mean,
        p50=lengths.percentile(50),
        p90=lengths.percentile(90),
        max=lengths.max,
        max_n=max_n,
        batch=batch,
        pad_to_max_n=pad_max,
        random_batches=rand_ratio,
        bucketed=1.0 - real / buck_tokens,
        attention_random=rand_pairs,
        attention_bucketed=buck_pairs,
        attention_flops_saved=saved,
        simulated=len(seq),
    )


def _merge_clipped(lengths: Lengths, max_n: int) -> Counter[int]:
    """Counts of lengths clipped to max_n (several lengths above max_n fold into one)."""
    out: Counter[int] = Counter()
    for v, c in zip(lengths.values, lengths.counts, strict=True):
        out[min(v, max_n)] += c
    return out


# --- reading -------------------------------------------------------------------------------------


def _check_ints(values: Iterable[Any], where: str) -> list[int]:
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise LengthsError(f"{where}: lengths must be positive integers (got {v!r})")
        out.append(v)
    if not out:
        raise LengthsError(f"{where}: no lengths")
    return out


def from_data(data: Any, where: str) -> Lengths:
    """A list of ints, {"lengths": [...]}, or {"histogram": {"len": count}}."""
    if isinstance(data, Mapping) and "histogram" in data:
        hist = data["histogram"]
        if not isinstance(hist, Mapping):
            raise LengthsError(f"{where}: `histogram` must map length -> count")
        counts: dict[int, int] = {}
        for k, c in hist.items():
            try:
                length = int(k)
            except (TypeError, ValueError):
                raise LengthsError(f"{where}: histogram key {k!r} is not a length") from None
            _check_ints([length], where)
            if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                raise LengthsError(f"{where}: histogram count {c!r} is not a count")
            counts[length] = counts.get(length, 0) + c
        return Lengths.from_counts(counts, where)
    if isinstance(data, Mapping) and "lengths" in data:
        data = data["lengths"]
    if isinstance(data, (list, tuple)):
        return Lengths.from_list(_check_ints(data, where), where)
    raise LengthsError(
        f'{where}: expected a list of lengths, {{"lengths": [...]}} or {{"histogram": {{...}}}}'
    )


def _read_csv(text: str, where: str) -> Lengths:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if rows and len(rows[0]) != 1:
        raise LengthsError(f"{where}: expected one column of lengths, got {len(rows[0])}")
    values: list[int] = []
    for i, row in enumerate(rows):
        cell = row[0].strip()
        try:
            values.append(int(cell))
        except ValueError:
            if i == 0:  # a header
                continue
            raise LengthsError(f"{where}: row {i + 1}: {cell!r} is not a length") from None
    return Lengths.from_list(_check_ints(values, where), where)


def _read_npy(path: Path, where: str) -> Lengths:
    try:
        import numpy as np
    except ImportError:
        raise LengthsError(f"{where}: reading .npy needs numpy (pip install numpy)") from None
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle: refused
        raise LengthsError(f"{where}: not a plain numeric array ({exc})") from None
    except OSError as exc:
        raise LengthsError(f"{where}: cannot read: {exc}") from None
    if not hasattr(arr, "ndim") or arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise LengthsError(f"{where}: expected a 1-D integer array")
    return Lengths.from_list(_check_ints(arr.tolist(), where), where)


@lru_cache(maxsize=64)
def _read_file(path: str, _mtime_ns: int, _size: int) -> Lengths:
    p = Path(path)
    where = p.name
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return _read_npy(p, where)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LengthsError(f"{where}: cannot read: {exc}") from None
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LengthsError(f"{where}:{exc.lineno}: JSON syntax error: {exc.msg}") from None
        except RecursionError:
            raise LengthsError(f"{where}: JSON nested too deeply to read") from None
        except ValueError as exc:  # an integer over Python's 4300-digit conversion limit
            raise LengthsError(f"{where}: a number too long to read ({exc})") from None
        return from_data(data, where)
    if suffix in (".csv", ".txt"):
        return _read_csv(text, where)
    raise LengthsError(f"{where}: lengths files are .json, .csv or .npy")


def is_callable_ref(ref: str) -> bool:
    """Whether `ref` is "pkg.mod:func" (and not a file name such as "lengths.json")."""
    return bool(CALLABLE_REF.match(ref)) and Path(ref.split(":", 1)[0]).suffix.lower() not in (
        ".json",
        ".csv",
        ".npy",
        ".txt",
    )


def read_lengths(
    ref: str, base: Path, root: Path | None = None, *, evaluate_callables: bool = False
) -> Lengths:
    """Lengths from a file path (relative to `base`, else `root`) or a "module:callable".

    A callable is imported and called (no arguments) only with `evaluate_callables`, with
    `root` on sys.path; otherwise LengthsError(not_evaluated=True).
    """
    candidates = [base / ref] + ([root / ref] if root is not None else [])
    for c in candidates:
        note_file(c)
    found = next((c for c in candidates if c.is_file()), None)
    if found is None and is_callable_ref(ref):
        if not evaluate_callables:
            raise LengthsError(
                f"lengths callable {ref!r} was not evaluated: static mode runs no user code "
                "(run with --probe)",
                not_evaluated=True,
            )
        return _call(ref, root or base)
    if found is None:
        raise LengthsError(f"lengths file {ref!r} not found next to the spec")
    st = found.stat()
    return _read_file(str(found.resolve()), st.st_mtime_ns, st.st_size)


def _call(ref: str, root: Path) -> Lengths:
    import importlib
    import sys

    module_name, _, attr = ref.partition(":")
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        data = obj()
    except Exception as exc:
        raise LengthsError(
            f"lengths callable {ref!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    finally:
        if added:
            sys.path.remove(str(root))
    if not isinstance(data, (list, tuple, Mapping)):
        data = list(data)
    return from_data(data, ref)
