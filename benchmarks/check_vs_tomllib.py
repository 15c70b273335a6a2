"""`archcheck check` on N generated spec files versus only parsing them with tomllib.

Each runs as one fresh Python process (interpreter start-up included, as a user or a pre-commit
hook pays it), best of R repetitions, side by side in one run:

- cold: `--no-cache` (every file checked; forked workers, and serial `--jobs 1`);
- cold filling the cache (the first run in a fresh clone);
- warm: nothing changed since the last run (cache.py reuses every result);
- warm, one file edited (the pre-commit case): that file is checked, the rest reused.

Also reports the in-process time of the engine alone (imports excluded).
Usage: python benchmarks/check_vs_tomllib.py [N] [R] [project|random]
"""

from __future__ import annotations

import compileall
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def best(cmd: list[str], reps: int, before: Callable[[int], None] | None = None) -> float:
    times = []
    for i in range(reps):
        if before is not None:
            before(i)
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    mix = sys.argv[3] if len(sys.argv) > 3 else "project"
    # An installed wheel has its bytecode compiled by pip; an editable checkout under
    # PYTHONDONTWRITEBYTECODE (as on our CI machines) would otherwise compile every module on
    # every run, which the stdlib's tomllib never pays.
    import pytest_archcheck

    compileall.compile_dir(Path(pytest_archcheck.__file__).parent, quiet=1)
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "specs"
        root.mkdir()
        cache = Path(tmp) / "cache"
        for i in range(n):
            (root / f"m{i:04d}.archcheck.toml").write_text(spec_text(i, rng, mix), encoding="utf-8")
        parse = (
            "import sys, tomllib, pathlib\n"
            "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.archcheck.toml')):\n"
            "    tomllib.loads(p.read_text(encoding='utf-8'))\n"
        )
        t_parse = best([sys.executable, "-c", parse, str(root)], reps)
        cmd = [sys.executable, "-m", "pytest_archcheck", "check", str(root), "--format", "json",
               "--output-file", str(Path(tmp) / "out.json"), "--cache-dir", str(cache)]  # fmt: skip
        t_cold = best([*cmd, "--no-cache"], reps)
        t_cold_serial = best([*cmd, "--no-cache", "--jobs", "1"], reps)
        t_fill = best(cmd, reps, lambda _: shutil.rmtree(cache, ignore_errors=True))
        t_warm = best(cmd, reps)
        first = root / "m0000.archcheck.toml"
        text = first.read_text(encoding="utf-8")
        t_edit = best(cmd, reps, lambda i: first.write_text(text + f"# edit {i}\n", "utf-8"))
        # in-process, engine only (imports excluded)
        from pytest_archcheck.engine import check_paths

        check_paths([str(root)])
        t0 = time.perf_counter()
        res = check_paths([str(root)], jobs=1)
        t_engine = time.perf_counter() - t0
        import tomllib

        t0 = time.perf_counter()
        for p in sorted(root.glob("*.archcheck.toml")):
            tomllib.loads(p.read_text(encoding="utf-8"))
        t_parse_in = time.perf_counter() - t0

        def row(t: float) -> dict[str, float]:
            return {"s": round(t, 3), "ratio": round(t / t_parse, 2)}

        print(
            json.dumps(
                {
                    "files": n,
                    "mix": mix,
                    "cores": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "findings": len(res.findings),
                    "repetitions": reps,
                    "tomllib_process_s": round(t_parse, 3),
                    "cold_no_cache": row(t_cold),
                    "cold_no_cache_serial": row(t_cold_serial),
                    "cold_filling_cache": row(t_fill),
                    "warm_cache": row(t_warm),
                    "warm_cache_one_file_edited": row(t_edit),
                    "tomllib_inprocess_s": round(t_parse_in, 3),
                    "engine_inprocess_serial_s": round(t_engine, 3),
                    "ratio_inprocess": round(t_engine / t_parse_in, 2),
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
