"""Formula against the fake probe for the math SDPA kernel under bf16 autocast on the CPU
(issue #12's open agreement cases), on a fixed grid and on random draws:

    PYTHONPATH=src python benchmarks/agreement_math_grid.py grid
    PYTHONPATH=src python benchmarks/agreement_math_grid.py random SEED [N] [--toml-dir DIR]

grid: a 2-head d 16 Transformer at n 64, batch 2 (seed 3's case 14 of the transformer sweep),
over kv heads {1, 2} x positional {rotary, learned} x causal x attention dropout {0.1, 0} x
layers {1, 2} x checkpointing. random: d 16-64, 2 or 4 heads, 1-4 KV heads, four positional
kinds, 1-3 layers, fused or separate q/k/v, three MLPs, two norms, tokens or embeddings,
dropout, checkpointing, batch 1-3, n 64-128. Each line: the case, probe and formula bytes and
the formula's error; `--toml-dir` writes each case outside 2 % as a spec file (for
benchmarks/peak_live_set.py). Results: benchmarks/results/agreement_math_lowp_cpu_*.txt.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

BASE: dict[str, dict[str, Any]] = {
    "model": {"family": "transformer", "input": "embeddings", "layers": 1, "d_model": 16,
              "heads": 2, "kv_heads": 1, "d_ff": 48, "mlp": "relu", "norm": "layernorm",
              "tied_embeddings": True, "bias": "qkv", "positional": "rotary",
              "max_positions": 4096, "causal": True},
    "train": {"batch": 2, "seq_len": 64, "dtype": "bf16", "optimizer": "adamw",
              "checkpointing": True, "attention_kernel": "math", "dropout": 0.1},
    "budget": {"device": "cpu"},
}  # fmt: skip


def grid() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for kv, pos, causal, drop, layers, ckpt in itertools.product(
        [1, 2], ["rotary", "learned"], [True, False], [0.1, 0.0], [1, 2], [True, False]
    ):
        t = copy.deepcopy(BASE)
        t["model"].update(kv_heads=kv, positional=pos, causal=causal, layers=layers)
        t["train"].update(checkpointing=ckpt, dropout=drop)
        out.append((f"kv{kv} {pos:7s} causal={causal!s:5s} drop={drop} L{layers} "
                    f"ckpt={ckpt!s:5s}", t))  # fmt: skip
    return out


def draws(seed: int, n: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = copy.deepcopy(BASE)
        heads = rng.choice([2, 4])
        m = t["model"]
        m.update(
            heads=heads, kv_heads=rng.choice([k for k in (1, 2, 4) if heads % k == 0]),
            d_model=rng.choice([16, 32, 64]),
            positional=rng.choice(["rotary", "learned", "none", "sinusoidal"]),
            max_positions=256, causal=rng.choice([True, False]), layers=rng.choice([1, 2, 3]),
            fused_projections=rng.choice([True, False]), mlp=rng.choice(["relu", "gelu", "swiglu"]),
            norm=rng.choice(["layernorm", "rmsnorm"]), bias=rng.choice(["none", "qkv", "all"]),
            input=rng.choice(["embeddings", "tokens"]), vocab=rng.choice([50, 300]),
        )  # fmt: skip
        m["d_ff"] = 2 * m["d_model"]
        t["train"].update(
            checkpointing=rng.choice([True, False]), dropout=rng.choice([0.0, 0.1]),
            batch=rng.choice([1, 2, 3]), seq_len=rng.choice([64, 96, 128]),
        )  # fmt: skip
        label = (f"{i:3d} h{m['d_model']} a{heads}/{m['kv_heads']} {m['positional'][:4]} "
                 f"c={int(m['causal'])} L{m['layers']} fused={int(m['fused_projections'])} "
                 f"{m['mlp']} {m['norm'][:3]} {m['input'][:3]} b{t['train']['batch']} "
                 f"n{t['train']['seq_len']} drop={t['train']['dropout']} "
                 f"ckpt={int(t['train']['checkpointing'])}")  # fmt: skip
        out.append((label, t))
    return out


def toml(t: dict[str, dict[str, Any]]) -> str:
    lines = []
    for table, values in t.items():
        lines.append(f"[{table}]")
        lines += [f"{k} = {str(v).lower() if isinstance(v, bool) else json.dumps(v)}"
                  for k, v in values.items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["grid", "random"])
    ap.add_argument("seed", nargs="?", type=int, default=0)
    ap.add_argument("n", nargs="?", type=int, default=40)
    ap.add_argument("--toml-dir", type=Path)
    args = ap.parse_args()

    from pytest_archcheck.estimate import estimate
    from pytest_archcheck.probe.step import measure
    from pytest_archcheck.spec.model import Spec

    cases = grid() if args.mode == "grid" else draws(args.seed, args.n)
    outside, worst = 0, 0.0
    for label, t in cases:
        spec = Spec.model_validate(t)
        n, b = spec.train.seq_len or 64, spec.train.batch
        formula = estimate(spec, n).memory.total
        probe = measure(spec, "fake", n, b).peak_bytes
        err = formula / probe - 1
        worst = max(worst, abs(err))
        flag = "  <<<" if abs(err) > 0.02 else ""
        outside += bool(flag)
        print(f"{label}: probe {probe:,} formula {formula:,} {err:+.2%}{flag}")
        if flag and args.toml_dir:
            args.toml_dir.mkdir(parents=True, exist_ok=True)
            name = label.split(":")[0].strip().split()[0]
            (args.toml_dir / f"math-{args.mode}-{args.seed}-{name}.archcheck.toml").write_text(
                toml(t)
            )
    print(f"{len(cases)} cases, {outside} outside 2 %, worst {worst:.2%}")


if __name__ == "__main__":
    main()
