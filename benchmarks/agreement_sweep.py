"""Formula total vs fake probe over generated specs of one family unit, worst cases first.

The same strategies as tests/families/test_agreement.py, without shrinking (hypothesis stops at
the first failure and shrinks it; this prints every case outside the tolerance instead):

    PYTHONPATH=src python benchmarks/agreement_sweep.py recurrent 40 [--seed 1] [--n 64 1024]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "families"))
from family_specs import specs

from pytest_archcheck import probe
from pytest_archcheck.estimate import estimate
from pytest_archcheck.families.conv1d import padding
from pytest_archcheck.formulas.flops import conv_output_length
from pytest_archcheck.spec.model import Spec

TOLERANCE = 0.02


def keeps_positions(spec: Spec, n: int) -> bool:
    """A 1-D conv stack whose last layer still has a position at n (else torch refuses to run
    it and there is nothing to compare; the test draws only such specs too)."""
    m = spec.model
    if m.family not in ("cnn", "tcn") or m.input == "image":
        return True
    pad = padding(m)
    for k, s, d in zip(m.kernel_list(), m.stride_list(), m.dilation_list(), strict=True):
        n = conv_output_length(n, k, s, d, pad)
    return n >= 1


def sweep(unit: str, cases: int, n_range: tuple[int, int], rng_seed: int) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []

    @seed(rng_seed)
    @settings(
        max_examples=cases,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        spec, n = data.draw(specs(unit, n_range))
        if not keeps_positions(spec, n):
            return
        e = estimate(spec, n=n)
        r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
        model = spec.model.model_dump(exclude_defaults=True)
        case = model | {"train": spec.train.model_dump(exclude_defaults=True), "n": n}
        if r.peak_bytes is None:
            rows.append((float("inf"), e.target.kind, "probe failed", case))
            return
        err = e.memory.total / r.peak_bytes - 1
        rows.append((err, e.target.kind, e.memory.phase, case))

    run()
    return sorted(rows, key=lambda r: -abs(r[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("unit", choices=["transformer", "recurrent", "conv1d", "conv2d"])
    ap.add_argument("cases", type=int, nargs="?", default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, nargs=2, default=(64, 1024), metavar=("LO", "HI"))
    ap.add_argument("--show", type=int, default=8, help="worst cases printed")
    a = ap.parse_args()
    rows = sweep(a.unit, a.cases, tuple(a.n), a.seed)
    bad = [r for r in rows if abs(r[0]) > TOLERANCE]
    worst = {k: max((abs(r[0]) for r in rows if r[1] == k), default=0.0) for k in ("cpu", "cuda")}
    print(
        f"{a.unit}: {len(rows)} cases, {len(bad)} outside {TOLERANCE:.0%}; "
        f"worst cpu {worst['cpu']:.2%}, cuda {worst['cuda']:.2%}"
    )
    for err, kind, phase, case in bad[: a.show]:
        print(f"  {err:+.2%} {kind} {phase} {case}")


if __name__ == "__main__":
    main()
