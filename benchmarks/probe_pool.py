"""`check --probe` over the examples against its floor, side by side in one run (issue #18).

Run: python benchmarks/probe_pool.py [--examples examples] [-j 2] [--before-src DIR]
                                     [--output benchmarks/results/probe_pool.json]

What is timed, each as a fresh process, one after the other on the same machine:

- floor: for each example spec, `archcheck probe SPEC --device fake --in-process`: one fresh
  interpreter that imports torch, builds the example's model through its factory and runs one
  fake-tensor training step, unisolated (archcheck's spec loading, about 0.3 s, included).
  Its sum over the examples is the floor: what measuring every model once costs when nothing
  is shared.
- `import torch` alone in a fresh interpreter (best of 3).
- cold: `archcheck check --probe --device fake EXAMPLES -j N` with an empty cache: the probe,
  the n_max search where a budget is missed, and every behavioural check, in the probe pool.
- warm: the same command again (every measurement from the cache).
- static: `archcheck check EXAMPLES` (no --probe), cold and warm cache.
- before (with --before-src DIR): the cold command with DIR first on PYTHONPATH and the cache
  off, e.g. the main branch's source without the pool (one fresh child per model).

The figures and ratios are printed and written as JSON (with date, machine, versions and the
load average before and after: the development machine is shared, so say how loaded it was).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def _env(src: Path = SRC, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ARCHCHECK_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(src), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _timed(cmd: list[str], env: dict[str, str], cwd: Path = ROOT) -> tuple[float, int, bytes]:
    """Wall seconds, exit status and stdout of one fresh process."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - started, proc.returncode, proc.stdout


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "pebble", "pydantic"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=Path, default=ROOT / "examples")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--before-src", type=Path, default=None)
    ap.add_argument("--output", type=Path, default=None)
    args = ap.parse_args()
    py = sys.executable
    specs = sorted(args.examples.glob("*/*.archcheck.toml"))
    load_before = os.getloadavg()
    doc: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "platform": platform.platform()},
        "versions": _versions(),
        "jobs": args.jobs,
        "specs": len(specs),
    }

    imports = [_timed([py, "-c", "import torch"], _env())[0] for _ in range(3)]
    doc["import_torch_s"] = round(min(imports), 2)

    floor: dict[str, float] = {}
    for spec in specs:
        s, rc, _ = _timed(
            [py, "-m", "pytest_archcheck", "probe", str(spec), "--device", "fake",
             "--in-process", "--format", "json"], _env(),
        )  # fmt: skip
        label = f"{spec.parent.name}/{spec.name.removesuffix('.archcheck.toml')}"
        floor[label] = round(s, 2)
        print(f"floor {label}: {s:.2f} s (exit {rc})", flush=True)
    doc["floor_s"] = floor
    doc["floor_sum_s"] = round(sum(floor.values()), 2)

    with tempfile.TemporaryDirectory() as cache:
        check = [py, "-m", "pytest_archcheck", "check", str(args.examples), "--exit-zero",
                 "--cache-dir", cache]  # fmt: skip
        probe = [*check, "--probe", "--device", "fake", "-j", str(args.jobs), "--format", "json"]
        before_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cold, rc, out = _timed(probe, _env())
        doc["cold_s"], doc["cold_exit"] = round(cold, 2), rc
        doc["cold_max_child_rss_mib"] = round(
            max(before_rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024, 1
        )
        try:
            report = json.loads(out)
            doc["models"] = {m["model"]: m for m in report["timings"]["models"]}
        except (ValueError, KeyError):
            doc["models"] = None
        print(f"cold check --probe: {cold:.2f} s (exit {rc})", flush=True)
        # best of 3 each: these are a few seconds at most, and the machine is shared
        warm = min(_timed(probe, _env())[0] for _ in range(3))
        doc["warm_s"] = round(warm, 2)
        print(f"warm check --probe: {warm:.2f} s", flush=True)
        statics = [_timed([*check, "--no-cache"], _env()) for _ in range(3)]
        assert all(rc == 0 for _, rc, _ in statics), [rc for _, rc, _ in statics]
        static_cold = min(s for s, _, _ in statics)
        _timed(check, _env())
        static_warm = min(_timed(check, _env())[0] for _ in range(3))
        doc["static_cold_s"], doc["static_warm_s"] = round(static_cold, 2), round(static_warm, 2)
        print(f"static: {static_cold:.2f} s no cache, {static_warm:.2f} s warm", flush=True)
    if args.before_src is not None:
        before, rc, _ = _timed(
            [py, "-m", "pytest_archcheck", "check", str(args.examples), "--exit-zero", "--probe",
             "--device", "fake", "--format", "json"], _env(args.before_src, ARCHCHECK_NO_CACHE="1"),
        )  # fmt: skip
        doc["before_s"] = round(before, 2)
        print(f"before (one child per model, {args.before_src}): {before:.2f} s", flush=True)
    doc["load_average"] = {"before": load_before, "after": os.getloadavg()}
    doc["ratios"] = {
        "cold / floor_sum": round(doc["cold_s"] / doc["floor_sum_s"], 2),
        "warm / static_cold": round(doc["warm_s"] / doc["static_cold_s"], 2),
        "warm / static_warm": round(doc["warm_s"] / doc["static_warm_s"], 2),
    }
    if "before_s" in doc:
        doc["ratios"]["before / cold"] = round(doc["before_s"] / doc["cold_s"], 2)
    print(json.dumps({k: doc[k] for k in ("floor_sum_s", "cold_s", "warm_s", "static_cold_s",
                                           "static_warm_s", "ratios", "load_average")},
                     indent=2))  # fmt: skip
    if args.output:
        args.output.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
