"""Parse and print sizes and durations the way users write them in specs.

`GiB`/`MiB`/`KiB` are powers of 1024, `GB`/`MB`/`kB` powers of 1000 (IEC vs SI), so that
"24 GiB" and "24 GB" never silently mean the same thing.
"""

from __future__ import annotations

import math
import re

_BYTE_UNITS: dict[str, int] = {
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_TIME_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
}
_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-zµ]*)\s*$")


class UnitError(ValueError):
    """A size or duration that cannot be read; the message says what is accepted."""


def parse_bytes(value: object) -> int:
    """Bytes from an int (bytes) or a string such as "24 GiB", "300 MB", "1.5GiB"."""
    if isinstance(value, bool):
        raise UnitError("expected a size such as '24 GiB', got a boolean")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"size must not be negative, got {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            raise UnitError(f"size must be a finite non-negative number, got {value}")
        return int(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a size such as '24 GiB', got {type(value).__name__}")
    m = _QUANTITY.match(value)
    if not m:
        raise UnitError(f"cannot read size {value!r}; write e.g. '24 GiB' or '300 MB'")
    number, unit = float(m.group(1)), m.group(2).lower() or "b"
    if not math.isfinite(number):  # "1e400 GiB": too large for a float
        raise UnitError(f"size {value!r} is too large")
    if unit not in _BYTE_UNITS:
        raise UnitError(
            f"unknown size unit {m.group(2)!r} in {value!r}; "
            "use B, KiB, MiB, GiB, TiB, kB, MB, GB, TB"
        )
    return round(number * _BYTE_UNITS[unit])


def parse_seconds(value: object) -> float:
    """Seconds from a string such as "200 ms", "1.5 s", "300us"; bare numbers are milliseconds."""
    if isinstance(value, bool):
        raise UnitError("expected a duration such as '200 ms', got a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise UnitError(f"duration must be a finite non-negative number, got {value}")
        return float(value) * 1e-3
    if not isinstance(value, str):
        raise UnitError(f"expected a duration such as '200 ms', got {type(value).__name__}")
    m = _QUANTITY.match(value)
    if not m:
        raise UnitError(f"cannot read duration {value!r}; write e.g. '200 ms' or '1.5 s'")
    number, unit = float(m.group(1)), m.group(2).lower() or "ms"
    if not math.isfinite(number):  # "1e400 s": too large for a float
        raise UnitError(f"duration {value!r} is too large")
    if unit not in _TIME_UNITS:
        raise UnitError(f"unknown time unit {m.group(2)!r} in {value!r}; use ns, us, ms, s")
    return number * _TIME_UNITS[unit]


_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_BANDWIDTH = re.compile(rf"^\s*{_NUMBER}\s*([A-Za-z]*)\s*/\s*s\s*$")
_FLOP_RATE = re.compile(rf"^\s*{_NUMBER}\s*([kKMGTPE]?)FLOP(?:S|/S)\s*$", re.IGNORECASE)
_SI_PREFIX: dict[str, float] = {
    "": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18
}  # fmt: skip


def _positive_rate(value: object, what: str, example: str) -> float | None:
    """A bare positive number (already in base units), or None when `value` is a string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UnitError(f"expected a {what} such as {example!r}, got {type(value).__name__}")
    if isinstance(value, str):
        return None
    if not math.isfinite(value) or value <= 0:
        raise UnitError(f"{what} must be a finite positive number, got {value}")
    return float(value)


def parse_bandwidth(value: object) -> float:
    """Bytes per second from a number or a string such as "3.35 TB/s" or "900 GiB/s"
    (SI and IEC as for sizes: vendors quote memory bandwidth in SI, 1 TB/s = 1e12 B/s)."""
    bare = _positive_rate(value, "bandwidth", "3.35 TB/s")
    if bare is not None:
        return bare
    assert isinstance(value, str)
    m = _BANDWIDTH.match(value)
    if not m or m.group(2).lower() not in _BYTE_UNITS:
        raise UnitError(f"cannot read bandwidth {value!r}; write e.g. '3.35 TB/s' or '900 GB/s'")
    rate = float(m.group(1)) * _BYTE_UNITS[m.group(2).lower()]
    if not math.isfinite(rate) or rate <= 0:
        raise UnitError(f"bandwidth {value!r} must be finite and positive")
    return rate


def parse_flops(value: object) -> float:
    """FLOP per second from a number or a string such as "989 TFLOP/s" or "1.3 PFLOPS"."""
    bare = _positive_rate(value, "FLOP rate", "989 TFLOP/s")
    if bare is not None:
        return bare
    assert isinstance(value, str)
    m = _FLOP_RATE.match(value)
    if not m:
        raise UnitError(
            f"cannot read FLOP rate {value!r}; write e.g. '989 TFLOP/s' or '1.3 PFLOPS'"
        )
    rate = float(m.group(1)) * _SI_PREFIX[m.group(2).lower()]
    if not math.isfinite(rate) or rate <= 0:
        raise UnitError(f"FLOP rate {value!r} must be finite and positive")
    return rate


def format_bytes(n: float | None) -> str:
    """Human-readable IEC size: 1536 -> '1.50 KiB'."""
    if n is None:
        return "n/a"
    sign = "-" if n < 0 else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_seconds(s: float | None) -> str:
    """Human-readable duration: 0.0123 -> '12.3 ms'."""
    if s is None:
        return "n/a"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} us"


def format_count(n: float | None) -> str:
    """Compact count: 124439808 -> '124.44M'."""
    if n is None:
        return "n/a"
    for unit, div in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"
