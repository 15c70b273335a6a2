"""`archcheck check` on N generated spec files versus only parsing them with tomllib.

Each runs as one fresh Python process (interpreter start-up included, as a user or a pre-commit
hook pays it), side by side in one run: every repetition runs every arm once, in turn
(interleaved, so that a change in the machine's load hits all arms alike), and each arm reports
its median (and best) wall time over the repetitions, and its median CPU time (user + system
of the process and its workers: on a shared machine far steadier than wall time):

- cold: `--no-cache` (every file checked; forked workers, and serial `--jobs 1`);
- cold filling the cache (the first run in a fresh clone);
- warm: nothing changed since the last run (cache.py reuses every result);
- warm, one file edited (the pre-commit case): that file is checked, the rest reused.

Also reports the in-process time of the engine alone (imports excluded), median of R.
`--before SRC`: also time another source tree (e.g. `git archive` of an older commit) in the
same interleaved run, so that a change is measured side by side with what it replaces.
Usage: python benchmarks/check_vs_tomllib.py [N] [R] [project|random] [--before SRC]
"""

from __future__ import annotations

import compileall
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FAMILIES = ["transformer", "lstm", "cnn", "tcn", "gru"]


def spec_text(i: int, rng: random.Random, mix: str = "random") -> str:
    """One spec. mix="random": every value random (about one finding per file);
    mix="project": budgets sized to pass, as in a repository whose CI is green, with every
    20th spec carrying a planted problem."""
    if mix == "project":
        return project_spec_text(i, rng)
    return random_spec_text(i, rng)


def model_head(i: int, fam: str, layers: int, d: int, vocab: int) -> list[str]:
    """The [model] lines every generated spec starts with."""
    return [
        "[model]",
        f'name = "m{i}"',
        f'family = "{fam}"',
        f"layers = {layers}",
        f"d_model = {d}",
        f"vocab = {vocab}",
    ]


def project_spec_text(i: int, rng: random.Random) -> str:
    fam = ["transformer", "transformer", "lstm", "tcn"][i % 4]
    layers, d = rng.choice([(6, 512), (12, 768), (4, 256)])
    lines = model_head(i, fam, layers, d, 32000)
    if fam == "transformer":
        lines += [f"heads = {d // 64}", f"d_ff = {4 * d}", "max_positions = 2048"]
    elif fam == "tcn":
        lines += [
            "kernel = 3",
            f"channels = {d}",
            'padding = "causal"',
            "dilations = [" + ", ".join(str(2**j) for j in range(layers)) + "]",
        ]
    else:
        lines += [f"hidden = {d}"]
    span = 16 if fam == "tcn" else 256
    bptt = 128 if i % 20 == 2 else 512  # every 20th spec (a recurrent one): ARC207
    lines += [
        "",
        "[train]",
        "batch = 8",
        "seq_len = 1024",
        'dtype = "bf16"',
        f"bptt = {bptt}",
        "",
        "[budget]",
        'memory = "80 GiB"',
        "max_n = 1024",
        f"span = {span}",
        'p95_latency = "200 ms"',
        'device = "A100-80GB"',
    ]
    return "\n".join(lines) + "\n"


def random_spec_text(i: int, rng: random.Random) -> str:
    fam = rng.choice(FAMILIES)
    layers = rng.choice([2, 4, 6, 8, 12, 24])
    d = rng.choice([128, 256, 512, 768, 1024])
    lines = model_head(i, fam, layers, d, rng.choice([1000, 32000, 50257]))
    if fam == "transformer":
        lines += [
            f"heads = {d // 64}",
            f"d_ff = {4 * d}",
            f"max_positions = {rng.choice([512, 1024, 2048])}",
            f"causal = {rng.choice(['true', 'false'])}",
        ]
    elif fam in ("cnn", "tcn"):
        lines += [
            "kernel = 3",
            f"channels = {d}",
            f'padding = "{"causal" if fam == "tcn" else "same"}"',
        ]
        if fam == "tcn":
            lines.append(
                "dilations = [" + ", ".join(str(2 ** (j % 10)) for j in range(layers)) + "]"
            )
    else:
        lines += [f"hidden = {d}"]
    lines += [
        "",
        "[train]",
        f"batch = {rng.choice([1, 4, 8, 16])}",
        f"seq_len = {rng.choice([256, 512, 1024])}",
        f'dtype = "{rng.choice(["fp32", "bf16"])}"',
        f"bptt = {rng.choice([35, 128, 512])}",
        "",
        "[budget]",
        f'memory = "{rng.choice([8, 16, 24, 80])} GiB"',
        f"max_n = {rng.choice([512, 1024, 2048, 4096])}",
        f"span = {rng.choice([64, 256, 512])}",
        f'p95_latency = "{rng.choice([50, 200])} ms"',
        'device = "A100-80GB"',
    ]
    return "\n".join(lines) + "\n"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, the process and every process it waited
    for: forked workers included). CPU time depends far less on what else the shared machine
    runs than wall time does."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def stats(times: list[tuple[float, float]], base: tuple[float, float]) -> dict[str, float]:
    wall = statistics.median(t[0] for t in times)
    cpu = statistics.median(t[1] for t in times)
    return {
        "median_s": round(wall, 3),
        "min_s": round(min(t[0] for t in times), 3),
        "ratio": round(wall / base[0], 2),
        "cpu_median_s": round(cpu, 3),
        "cpu_ratio": round(cpu / base[1], 2),
    }


def in_process(src: str, root: Path, reps: int) -> tuple[float, float, int]:
    """Median seconds of the engine alone (serial, imports excluded) and of tomllib over the
    same files, in a fresh process running the tree `src`; and the number of findings."""
    code = (
        "import json, pathlib, statistics, sys, time, tomllib\n"
        "from pytest_archcheck.engine import check_paths\n"
        "root = sys.argv[1]; reps = int(sys.argv[2])\n"
        "res = check_paths([root], jobs=1)\n"
        "eng, par = [], []\n"
        "for _ in range(reps):\n"
        "    t0 = time.perf_counter(); check_paths([root], jobs=1)\n"
        "    eng.append(time.perf_counter() - t0)\n"
        "    t0 = time.perf_counter()\n"
        "    for p in sorted(pathlib.Path(root).glob('*.archcheck.toml')):\n"
        "        tomllib.loads(p.read_text(encoding='utf-8'))\n"
        "    par.append(time.perf_counter() - t0)\n"
        "print(json.dumps([statistics.median(eng), statistics.median(par), len(res.findings)]))\n"
    )
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code, str(root), str(reps)], env=env,
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    eng, par, findings = json.loads(out)
    return eng, par, findings


def main() -> None:
    args = sys.argv[1:]
    before = None
    if "--before" in args:
        i = args.index("--before")
        before = str(Path(args[i + 1]).resolve())
        del args[i : i + 2]
    n = int(args[0]) if len(args) > 0 else 1000
    reps = int(args[1]) if len(args) > 1 else 5
    mix = args[2] if len(args) > 2 else "project"
    import pytest_archcheck

    here = str(Path(pytest_archcheck.__file__).parent.parent)
    trees = {"after": here} | ({"before": before} if before else {})
    # An installed wheel has its bytecode compiled by pip; an editable checkout under
    # PYTHONDONTWRITEBYTECODE (as on our CI machines) would otherwise compile every module on
    # every run, which the stdlib's tomllib never pays.
    for src in trees.values():
        compileall.compile_dir(Path(src) / "pytest_archcheck", quiet=1)
    rng = random.Random(0)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "specs"
        root.mkdir()
        for i in range(n):
            (root / f"m{i:04d}.archcheck.toml").write_text(spec_text(i, rng, mix), encoding="utf-8")
        parse = (
            "import sys, tomllib, pathlib\n"
            "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.archcheck.toml')):\n"
            "    tomllib.loads(p.read_text(encoding='utf-8'))\n"
        )
        first = root / "m0000.archcheck.toml"
        text = first.read_text(encoding="utf-8")
        times: dict[str, list[tuple[float, float]]] = {"tomllib": []}
        base_env = {k: v for k, v in os.environ.items() if k != "ARCHCHECK_NO_CACHE"}
        for rep in range(reps):
            times["tomllib"].append(timed([sys.executable, "-c", parse, str(root)], base_env))
            for tree, src in trees.items():
                env = {**base_env, "PYTHONPATH": src}
                cache = Path(tmp) / f"cache-{tree}"
                cmd = [sys.executable, "-m", "pytest_archcheck", "check", str(root), "--format",
                       "json", "--output-file", str(Path(tmp) / "out.json"), "--cache-dir",
                       str(cache)]  # fmt: skip
                arms: list[tuple[str, list[str], Callable[[], object] | None]] = [
                    ("cold_no_cache", [*cmd, "--no-cache"], None),
                    ("cold_no_cache_serial", [*cmd, "--no-cache", "--jobs", "1"], None),
                    ("cold_filling_cache", cmd, lambda c=cache: shutil.rmtree(c, True)),
                    ("warm_cache", cmd, None),
                    ("warm_cache_one_file_edited", cmd,
                     lambda r=f"{tree} {rep}": first.write_text(text + f"# edit {r}\n", "utf-8")),
                ]  # fmt: skip
                for arm, argv, before_run in arms:
                    if before_run is not None:
                        before_run()
                    times.setdefault(f"{tree}:{arm}", []).append(timed(argv, env))
        t_parse = (
            statistics.median(t[0] for t in times["tomllib"]),
            statistics.median(t[1] for t in times["tomllib"]),
        )
        report: dict[str, Any] = {
            "files": n,
            "mix": mix,
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
            "repetitions": reps,
            "load_average_start": [round(x, 2) for x in load_start],
            "tomllib_process": stats(times["tomllib"], t_parse),
        }
        for tree, src in trees.items():
            eng, par, findings = in_process(src, root, reps)
            report[tree] = {
                "findings": findings,
                **{arm.split(":", 1)[1]: stats(t, t_parse) for arm, t in times.items()
                   if arm.startswith(f"{tree}:")},
                "tomllib_inprocess_s": round(par, 3),
                "engine_inprocess_serial_s": round(eng, 3),
                "ratio_inprocess": round(eng / par, 2),
            }  # fmt: skip
        report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
