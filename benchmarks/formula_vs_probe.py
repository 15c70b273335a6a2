"""Formula vs fake probe vs real CPU execution on the reference zoo (CPU kernel semantics).

For each zoo model (tests/probe/probe_zoo.py) at n in {128, 512, 2048} (ResNet: 32x32 images)
and dropout 0 / 0.1: the fake probe's training-step peak, the real CPU probe's (n = 128 only,
to keep the run short), and formulas.peak.train_memory(device="cpu"), with the gaps.
Run: python benchmarks/formula_vs_probe.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "probe"))


def main() -> None:
    import torch
    from probe_zoo import ZOO, zoo_spec  # type: ignore[import-not-found]

    from pytest_archcheck import probe
    from pytest_archcheck.formulas.peak import train_memory

    rows = []
    t0 = time.perf_counter()
    for name in ZOO:
        for dropout in (0.0, 0.1):
            for n in (32,) if name == "resnet" else (128, 512, 2048):
                spec = zoo_spec(name, dropout=dropout)
                fake = probe.run(spec, device="fake", n=n, batch=2, emulate="cpu").peak_bytes
                cpu = probe.run(spec, device="cpu", n=n, batch=2).peak_bytes if n <= 128 else None
                formula = train_memory(spec, n, 2, device="cpu").total
                rows.append(
                    {
                        "model": name,
                        "dropout": dropout,
                        "n": n,
                        "fake": fake,
                        "cpu": cpu,
                        "formula": formula,
                        "formula_vs_fake_pct": 100 * (formula - fake) / fake,
                        "fake_equals_cpu": None if cpu is None else fake == cpu,
                    }
                )
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "seconds": round(time.perf_counter() - t0, 1),
                "rows": rows,
            },
            indent=1,
        )
    )
    print("\n| model | dropout | n | fake probe B | real CPU B | formula B | formula vs fake |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        cpu = "—" if r["cpu"] is None else f"{r['cpu']:,}"
        print(
            f"| {r['model']} | {r['dropout']} | {r['n']} | {r['fake']:,} | {cpu} | "
            f"{r['formula']:,} | {r['formula_vs_fake_pct']:+.2f}% |"
        )


if __name__ == "__main__":
    main()
