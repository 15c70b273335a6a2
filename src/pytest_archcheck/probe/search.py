"""n_max search: formula seed, probe/formula ratio correction, bracket confirmed by probes."""

from __future__ import annotations

from ..formulas.peak import train_memory
from ..spec.model import Spec

_LIMIT = 1 << 22  # 4M tokens: stop searching upwards there


def _formula_n(
    spec: Spec, budget: float, g: int, batch: int, *, scale: float, lo: int, hi: int, dev: str
) -> int:
    """Largest multiple of g in [lo, hi] with scale * formula(n) <= budget (bisection)."""
    a, b = lo // g, hi // g
    if scale * train_memory(spec, max(a, 1) * g, batch, device=dev).total > budget:
        return a * g
    while a < b:
        mid = (a + b + 1) // 2
        if scale * train_memory(spec, mid * g, batch, device=dev).total <= budget:
            a = mid
        else:
            b = mid - 1
    return a * g


def search(
    spec: Spec,
    budget: int,
    device: str,
    g: int,
    batch: int | None = None,
    emulate: str | None = None,
) -> tuple[int, int]:
    from ..families import family_of
    from ..runtime import target_for
    from . import run
    from .step import default_emulation

    b = batch or spec.train.batch
    if device == "fake":
        emulate = emulate or default_emulation(spec)
    # the formula's kernels: CUDA's for the GPU and the CUDA-emulating fake probe, else CPU's
    dev = "cuda" if device == "cuda" or emulate == "cuda" else "cpu"
    modelled = "memory" not in family_of(spec).not_modelled_on(spec, target_for(spec, dev))
    probes = 0
    fits: dict[int, bool] = {}
    ratio: dict[int, float] = {}

    def probe(n: int) -> bool:
        nonlocal probes
        if n not in fits:
            probes += 1
            res = run(spec, device=device, n=n, batch=b, emulate=emulate)
            peak = res.peak_bytes
            fits[n] = peak is not None and peak <= budget
            if peak is not None and modelled:
                ratio[n] = peak / train_memory(spec, n, b, device=dev).total
        return fits[n]

    lo, hi = 0, _LIMIT  # lo fits (0 trivially), hi does not (assumed)
    if not modelled:
        # no formula to seed the search (Family.not_modelled): double n until a probe does not
        # fit, then bisect between the last two, on probes alone
        n = g
        while n < _LIMIT and probe(n):
            lo, n = n, 2 * n
        hi = min(n, _LIMIT)
        while hi - lo > g:
            mid = (lo + hi) // (2 * g) * g
            if probe(mid):
                lo = mid
            else:
                hi = mid
        return lo, probes
    scale = 1.0
    while hi - lo > g:
        guess = _formula_n(spec, budget, g, b, scale=scale, lo=lo, hi=hi, dev=dev)
        # keep the guess strictly inside (lo, hi); the neighbour above confirms it
        guess = min(max(guess, lo + g), hi - g)
        if probe(guess):
            lo = guess
            if probe(guess + g):
                lo = guess + g
            else:
                hi = guess + g
        else:
            hi = guess
            if guess - g > lo and probe(guess - g):
                lo = guess - g
            elif guess - g > lo:
                hi = guess - g
        if ratio:
            last = max(ratio, key=lambda k: k)  # largest measured n predicts best
            scale = ratio[last]
    return lo, probes
