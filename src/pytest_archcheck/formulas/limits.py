"""The largest n that fits a memory budget, and the article's rules of thumb.

`n_max` is exact: given total_bytes(n), monotone non-decreasing in n, it returns the largest
multiple of `granularity` whose total fits (DESIGN.md §4: "n_max: the largest n, at the declared
granularity, whose training peak fits memory"), by exponential then binary search over the
multiples, i.e. O(log(upper/granularity)) evaluations of total_bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isqrt

from .registry import formula


@formula(
    "limits.n_max",
    "max{ n = j*g : total_bytes(n) <= budget, n <= upper }",
    "DESIGN.md §4",
)
def n_max(
    total_bytes: Callable[[int], int],
    budget: int,
    granularity: int = 64,
    upper: int = 2**24,
    *,
    seed: tuple[int, int] | None = None,
) -> int | None:
    """Largest multiple of `granularity` (<= upper) whose total fits; None if `granularity` doesn't.

    `total_bytes` must be monotone non-decreasing in n. `seed`: (n, total_bytes(n)) already
    computed (the estimate's peak at its own n): by monotonicity it bounds the answer from
    above (n does not fit) or below (n fits), and the search starts there instead of at
    `granularity` (the same answer in about half the evaluations of the training peak).
    """
    if granularity < 1:
        raise ValueError("granularity must be >= 1")
    top = upper // granularity  # largest multiplier allowed
    if top < 1 or total_bytes(granularity) > budget:
        return None
    lo, step = 1, 1  # invariant: lo fits
    if seed is not None and seed[0] >= granularity:
        n0, total0 = seed
        if total0 > budget:  # the first multiple at or above n0 does not fit either
            hi = min(-(-n0 // granularity), top + 1)  # top + 1: "beyond the range"
            return _bisect(total_bytes, budget, granularity, lo, hi)
        lo = min(n0 // granularity, top)  # the last multiple at or below n0 fits too
    while lo < top:
        probe = min(top, lo + step)
        if total_bytes(probe * granularity) > budget:
            hi = probe  # hi does not fit
            break
        lo, step = probe, step * 2
    else:
        return lo * granularity
    return _bisect(total_bytes, budget, granularity, lo, hi)


def _bisect(total_bytes: Callable[[int], int], budget: int, g: int, lo: int, hi: int) -> int:
    """The largest multiplier m in [lo, hi) with total_bytes(m * g) <= budget, given that lo
    fits and hi does not (or lies beyond the range), times g."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if total_bytes(mid * g) <= budget:
            lo = mid
        else:
            hi = mid
    return lo * g


@formula(
    "limits.sqrt_rule",
    "n_max ≈ floor(sqrt(budget / (B * h * dtype_bytes)))",
    "source article (attention matrix only)",
)
def sqrt_rule_n_max(budget: int, batch: int, heads: int, dtype_bytes: int = 2) -> int:
    """The article's attention-only bound: the n whose B*h*n^2*bytes score matrix fills budget.

    A secondary figure: it ignores weights, optimizer state and every other activation, and the
    article itself advises keeping a 4-8x peak margin (divide budget by 4-8: n shrinks by 2-2.8x).
    """
    return isqrt(budget // (batch * heads * dtype_bytes))


@formula(
    "limits.attention_dominates",
    "n > 2 * d_ff  (n^2*d vs 2*n*d*d_ff)",
    "source article",
)
def attention_dominates_threshold(d_ff: int) -> int:
    """The article's n beyond which QK^T (n^2*d MACs) outweighs the FFN (2*n*d*d_ff MACs).

    Counting AV as well (2*n^2*d) the crossover is n > d_ff; see docs/errata.md.
    """
    return 2 * d_ff
