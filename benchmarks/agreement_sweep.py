"""Formula total vs fake probe over generated specs of one family unit, worst cases first.

The same strategies as tests/families/test_agreement.py, without shrinking (hypothesis stops at
the first failure and shrinks it; this prints every case outside the tolerance instead):

    PYTHONPATH=src python benchmarks/agreement_sweep.py recurrent 40 [--seed 1] [--n 64 1024]

Each case outside the tolerance is printed as the whole resolved spec (every key, defaults
included, `[train] seq_len` = the drawn n): paste it into `case.archcheck.toml` and re-run it with
`archcheck estimate case.archcheck.toml` and `archcheck probe case.archcheck.toml --device fake`.
`--toml-dir DIR` also writes each one there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "families"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from family_specs import specs
from hostcaps import host_cannot_run

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


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, int | float):
        return repr(v)
    raise TypeError(f"no TOML form for {v!r}")


def _toml_table(name: str, table: dict[str, Any]) -> list[str]:
    """`[name]` with its scalar keys, then its sub-tables as `[name.sub]` (None is left out:
    TOML has no null, and every None is the loader's own default)."""
    lines = [f"[{name}]"]
    subs: list[str] = []
    for k, v in table.items():
        if v is None or v == {}:
            continue
        if isinstance(v, dict):
            subs += ["", *_toml_table(f"{name}.{k}", v)]
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    return lines + subs


def spec_toml(spec: Spec, n: int, name: str) -> str:
    """The whole resolved spec of one case as a spec file: every key of [model], [train],
    [infer] and [budget] with the value the validated spec holds (defaults included, so the
    case does not depend on the defaults of the version that re-runs it), n as seq_len."""
    raw = spec.model_dump(mode="json")
    raw["model"]["name"] = name
    raw["train"]["seq_len"] = n
    out: list[str] = []
    for table in ("model", "train", "infer", "budget", "data"):
        body = _toml_table(table, raw[table])
        if len(body) > 1:
            out += [*([""] if out else []), *body]
    return "\n".join(out) + "\n"


def sweep(
    unit: str, cases: int, n_range: tuple[int, int], rng_seed: int
) -> tuple[list[tuple[Any, ...]], int]:
    """(rows sorted worst first, cases this host cannot run). A bf16 LSTM on a CPU without
    AVX-512 BF16 is such a case: the probe refuses it with a finding (a real step fails too), so
    it is counted apart, as the test skips it, not reported as a disagreement."""
    rows: list[tuple[Any, ...]] = []
    host_refused = 0

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
        if host_cannot_run(spec):
            nonlocal host_refused
            host_refused += 1
            return
        e = estimate(spec, n=n)
        r = probe.run(spec, device="fake", n=e.n, batch=e.batch)
        case = spec_toml(spec, n, f"{unit}-case-{len(rows)}")
        if r.peak_bytes is None:
            rows.append((float("inf"), e.target.kind, "probe failed", case))
            return
        err = e.memory.total / r.peak_bytes - 1
        rows.append((err, e.target.kind, e.memory.phase, case))

    run()
    return sorted(rows, key=lambda r: -abs(r[0])), host_refused


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("unit", choices=["transformer", "recurrent", "conv1d", "conv2d"])
    ap.add_argument("cases", type=int, nargs="?", default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, nargs=2, default=(64, 1024), metavar=("LO", "HI"))
    ap.add_argument("--show", type=int, default=8, help="worst cases printed")
    ap.add_argument("--toml-dir", type=Path, help="also write each case outside the tolerance here")
    a = ap.parse_args()
    rows, host_refused = sweep(a.unit, a.cases, tuple(a.n), a.seed)
    bad = [r for r in rows if abs(r[0]) > TOLERANCE]
    worst = {k: max((abs(r[0]) for r in rows if r[1] == k), default=0.0) for k in ("cpu", "cuda")}
    print(
        f"{a.unit}: {len(rows)} cases, {len(bad)} outside {TOLERANCE:.0%}; "
        f"worst cpu {worst['cpu']:.2%}, cuda {worst['cuda']:.2%}"
        + (f"; {host_refused} more this host cannot run (bf16 LSTM)" if host_refused else "")
    )
    for err, kind, phase, case in bad[: a.show]:
        name = json.loads(case.split("name = ", 1)[1].split("\n", 1)[0])
        print(f"\n# {err:+.2%} formula vs fake probe, target {kind}, peak in {phase}")
        print(case, end="")
        if a.toml_dir is not None:
            a.toml_dir.mkdir(parents=True, exist_ok=True)
            (a.toml_dir / f"{name}.archcheck.toml").write_text(case, encoding="utf-8")


if __name__ == "__main__":
    main()
