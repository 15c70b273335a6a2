"""What the installed but unused plugin costs pytest's collection.

A throw-away project of 500 tests (50 files x 10: eight plain functions and one function
parametrized twice per file, no archcheck configuration) is collected with
`python -m pytest --collect-only -q`, each run a fresh interpreter, alternately with the plugin
as installed (entry point `archcheck`, unused) and with `-p no:archcheck`, in ABBA order after one
untimed warm-up run of each. Reported: median and min wall time of each arm, and the overhead
of the plugin in % (median vs median, min vs min).

The same script checks, from one extra (untimed) run per arm with a helper plugin that writes
sys.modules at pytest_unconfigure, that the unused plugin imports no torch, pydantic or rich (nor
any of their submodules), that it is imported at all (otherwise the comparison would be empty),
and that `-p no:archcheck` keeps pytest_archcheck out. (`-X importtime` cannot tell: pytest
loads entry points with importlib.import_module, which importtime does not log.) The plugin
module's own import time is read from `python -X importtime -c "import pytest;
import pytest_archcheck.plugin"`.
Bytecode: the children run with Python's normal bytecode caching (PYTHONDONTWRITEBYTECODE is
dropped, PYTHONPYCACHEPREFIX points into the temp dir, so nothing is written next to the
sources), as in a normal checkout from the second run on; `--no-bytecode-cache` keeps
PYTHONDONTWRITEBYTECODE=1 instead (every run recompiles the 50 test files and plugin.py).
Besides wall time, the children's CPU time (user + sys, getrusage) is recorded: on a shared
machine it is less disturbed by other load than wall time.
Run: python benchmarks/collect_overhead.py [--reps 15]   (about 40 s on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_archcheck.machine import cpu_name

FILES, PLAIN, PARAMS = 50, 8, 2  # 50 x (8 + 2) = 500 tests
HEAVY = ("torch", "pydantic", "rich")
ARMS = {"plugin unused": [], "-p no:archcheck": ["-p", "no:archcheck"]}


def make_project(root: Path) -> int:
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    tests = root / "tests"
    tests.mkdir()
    for i in range(FILES):
        lines = ["import pytest", ""]
        for j in range(PLAIN):
            lines += [f"def test_plain_{i}_{j}():", f"    assert {j} + {i} == {i + j}", ""]
        lines += [
            f"@pytest.mark.parametrize('x', range({PARAMS}))",
            f"def test_param_{i}(x):",
            "    assert x >= 0",
            "",
        ]
        (tests / f"test_mod_{i:02d}.py").write_text("\n".join(lines))
    return FILES * (PLAIN + PARAMS)


MODCHECK = """
import os, sys


def pytest_unconfigure(config):
    with open(os.environ["ARCHCHECK_MODCHECK_OUT"], "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
"""


def collect(root: Path, extra: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """One fresh `pytest --collect-only -q`: (wall s, child CPU s, stdout)."""
    cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", *extra]
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False, env=env)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0:
        raise RuntimeError(f"{cmd} exited {p.returncode}:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
    return dt, cpu, p.stdout


def modules_after(root: Path, helper: Path, extra: list[str], env: dict[str, str]) -> list[str]:
    """sys.modules at the end of one collect-only run (helper plugin `-p _archcheck_modcheck`)."""
    out = helper / "modules.txt"
    env = dict(env, ARCHCHECK_MODCHECK_OUT=str(out))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(helper), env.get("PYTHONPATH")) if p)
    collect(root, [*extra, "-p", "_archcheck_modcheck"], env)
    return out.read_text().split("\n")


def plugin_import_us(env: dict[str, str]) -> int | None:
    """Cumulative import time (us) of pytest_archcheck.plugin with pytest already imported."""
    code = "import pytest; import pytest_archcheck.plugin"
    cmd = [sys.executable, "-X", "importtime", "-c", code]
    found = None
    for _ in range(2):  # the first run may write the bytecode cache
        p = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
        for line in p.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == "pytest_archcheck.plugin":
                found = int(parts[1])
    return found


def stats(xs: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(1e3 * statistics.median(xs), 1),
        "min_ms": round(1e3 * min(xs), 1),
        "max_ms": round(1e3 * max(xs), 1),
    }


def overhead(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {
        "median_pct": round(100 * (a["median_ms"] / b["median_ms"] - 1), 2),
        "min_pct": round(100 * (a["min_ms"] / b["min_ms"] - 1), 2),
        "median_ms": round(a["median_ms"] - b["median_ms"], 1),
        "min_ms": round(a["min_ms"] - b["min_ms"], 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--no-bytecode-cache", action="store_true")
    args = ap.parse_args()
    t_start = time.perf_counter()
    env_plugins = sorted(
        ep.name for ep in __import__("importlib.metadata").metadata.entry_points(group="pytest11")
    )
    with tempfile.TemporaryDirectory(prefix="archcheck-collect-") as tmp:
        root = Path(tmp)
        expected = make_project(root)
        env = dict(os.environ)
        if args.no_bytecode_cache:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(root / "_pycache")
        # warm-up (untimed): writes the bytecode and assertion-rewrite caches
        for arm, extra in ARMS.items():
            _, _, stdout = collect(root, extra, env)
            if f"{expected} tests collected" not in stdout:
                raise RuntimeError(f"{arm}: expected {expected} tests:\n{stdout[-500:]}")
        helper = root / "_helper"
        helper.mkdir()
        (helper / "_archcheck_modcheck.py").write_text(MODCHECK)
        mods = {arm: modules_after(root, helper, extra, env) for arm, extra in ARMS.items()}
        unused = mods["plugin unused"]
        heavy = sorted(m for m in unused if m.split(".")[0] in HEAVY)
        ours = sorted(m for m in unused if m.split(".")[0] == "pytest_archcheck")
        ours_blocked = sorted(
            m for m in mods["-p no:archcheck"] if m.split(".")[0] == "pytest_archcheck"
        )
        assert "pytest_archcheck.plugin" in ours, "the plugin was not loaded: nothing measured"
        assert not heavy, f"unused plugin imported {heavy}"
        assert not ours_blocked, f"-p no:archcheck still imported {ours_blocked}"
        import_us = plugin_import_us(env)

        wall: dict[str, list[float]] = {arm: [] for arm in ARMS}
        cpu: dict[str, list[float]] = {arm: [] for arm in ARMS}
        names = list(ARMS)
        for r in range(args.reps):
            order = names if r % 2 == 0 else names[::-1]  # ABBA: drift hits both arms alike
            for arm in order:
                dt, ct, stdout = collect(root, ARMS[arm], env)
                if f"{expected} tests collected" not in stdout:
                    raise RuntimeError(f"{arm}: expected {expected} tests:\n{stdout[-500:]}")
                wall[arm].append(dt)
                cpu[arm].append(ct)

    a, b = stats(wall["plugin unused"]), stats(wall["-p no:archcheck"])
    ca, cb = stats(cpu["plugin unused"]), stats(cpu["-p no:archcheck"])
    ov, cov = overhead(a, b), overhead(ca, cb)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "tests": expected,
        "files": FILES,
        "reps_per_arm": args.reps,
        "command": "python -m pytest --collect-only -q [-p no:archcheck]",
        "bytecode_cache": not args.no_bytecode_cache,
        "wall": {"plugin_unused": a, "no_archcheck": b, "overhead": ov},
        "cpu": {"plugin_unused": ca, "no_archcheck": cb, "overhead": cov},
        "raw_wall_ms": {arm: [round(1e3 * t, 1) for t in ts] for arm, ts in wall.items()},
        "raw_cpu_ms": {arm: [round(1e3 * t, 1) for t in ts] for arm, ts in cpu.items()},
        "import_check": {
            "heavy_modules_imported_when_unused": heavy,
            "pytest_archcheck_modules_when_unused": ours,
            "pytest_archcheck_plugin_import_us": import_us,
            "pytest_archcheck_modules_with_no_archcheck": ours_blocked,
            "modules_imported": {arm: len(m) for arm, m in mods.items()},
        },
        "pytest11_plugins_installed": env_plugins,
        "versions": {
            "python": platform.python_version(),
            "pytest": __import__("pytest").__version__,
        },
        "machine": {
            "cpu": cpu_name(),
            "cores_usable": len(os.sched_getaffinity(0)),
            "loadavg_at_end": os.getloadavg(),
        },
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result, indent=2))
    print()
    print(
        f"collect-only, {expected} tests, {args.reps} fresh runs each"
        f"{'' if result['bytecode_cache'] else ' (no bytecode cache)'}: plugin unused "
        f"{a['median_ms']:.0f} ms median / {a['min_ms']:.0f} ms min vs -p no:archcheck "
        f"{b['median_ms']:.0f} / {b['min_ms']:.0f} ms -> overhead "
        f"{ov['median_pct']:+.1f}% median, {ov['min_pct']:+.1f}% min "
        f"(CPU time {cov['median_pct']:+.1f}% / {cov['min_pct']:+.1f}%); "
        f"plugin import {import_us} us; unused plugin imports {', '.join(ours)}, "
        f"no torch/pydantic/rich"
    )


if __name__ == "__main__":
    main()
