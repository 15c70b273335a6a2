"""Time whole commands side by side: `archcheck probe` of a Llama-3-8B spec (issue #18: at most
5 s and 300 MiB over `import torch`) and `check --probe` of one example against its floor.

Each round runs, as fresh processes in alternation (so that a machine's drift hits every
column alike):

- `python -c "import torch"`: the part of every figure no code of ours can remove;
- `archcheck probe llama-3-8b.archcheck.toml --device fake` (the spec this script writes:
  32 layers, d 4096, GQA 32/8, d_ff 14336, vocab 128256, n 8192, bf16, AdamW, no factory),
  isolated as users run it;
- the floor of one example (`archcheck probe SPEC --device fake --in-process`: a fresh
  interpreter, `import torch`, the factory's fake build and one fake training step) and
  `archcheck check --probe --no-cache FOLDER` (the pool, the probe and every behavioural check);
- with `--before-src DIR`, the probe command and `check --probe` again on that source tree
  (e.g. a `git worktree` of an older commit), for a before/after ratio on the same machine.

Wall time is the median of the rounds; RSS is the largest resident set of the command's
process tree (wait4's ru_maxrss: the isolated child's, which imports torch). Prints JSON.

Run: python benchmarks/probe_command.py [--rounds 5] [--example examples/gpt-small]
     [--before-src /tmp/old/src]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LLAMA3 = """\
[model]
name = "llama-3-8b"
family = "transformer"
layers = 32
d_model = 4096
heads = 32
kv_heads = 8
d_ff = 14336
mlp = "swiglu"
norm = "rmsnorm"
vocab = 128256
tied_embeddings = false
bias = "none"
positional = "rotary"
max_positions = 8192

[train]
batch = 1
seq_len = 8192
dtype = "bf16"
optimizer = "adamw"
"""

ROOT = Path(__file__).resolve().parents[1]


def timed(argv: list[str], src: Path, cwd: Path) -> tuple[float, float]:
    """(seconds, max RSS MiB of the process tree) of one fresh run of `argv`."""
    env = {**os.environ, "PYTHONPATH": str(src), "ARCHCHECK_NO_CACHE": "1"}
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1: findings
        raise SystemExit(f"{argv} failed ({code}):\n{err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--example", default="examples/gpt-small")
    ap.add_argument("--before-src", type=Path, default=None)
    args = ap.parse_args()
    py = sys.executable
    src = ROOT / "src"
    example = (ROOT / args.example).resolve()
    [example_spec] = sorted(example.glob("*.archcheck.toml"))
    work = Path(tempfile.mkdtemp(prefix="probe-command-"))
    (work / "llama-3-8b.archcheck.toml").write_text(LLAMA3, encoding="utf-8")
    probe = [py, "-m", "pytest_archcheck", "probe", "llama-3-8b.archcheck.toml", "--device", "fake"]
    floor = [py, "-m", "pytest_archcheck", "probe", str(example_spec), "--device", "fake",
             "--in-process"]  # fmt: skip
    check = [py, "-m", "pytest_archcheck", "check", "--probe", "--no-cache", str(example)]
    columns: dict[str, tuple[list[str], Path, Path]] = {
        "import torch": ([py, "-c", "import torch"], src, work),
        "probe llama-3-8b": (probe, src, work),
        "floor (example)": (floor, src, ROOT),
        "check --probe (example)": (check, src, ROOT),
    }
    if args.before_src is not None:
        before = args.before_src.resolve()
        columns["probe llama-3-8b (before)"] = (probe, before, work)
        columns["check --probe (example, before)"] = (check, before, ROOT)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in columns}
    for _ in range(args.rounds):
        for name, (argv, tree, cwd) in columns.items():
            runs[name].append(timed(argv, tree, cwd))
    med = {name: statistics.median(s for s, _ in r) for name, r in runs.items()}
    rss = {name: max(m for _, m in r) for name, r in runs.items()}
    out = {
        "rounds": args.rounds,
        "example": args.example,
        "load_average": os.getloadavg(),
        "median_s": {k: round(v, 2) for k, v in med.items()},
        "all_s": {k: [round(s, 2) for s, _ in r] for k, r in runs.items()},
        "max_rss_mib": {k: round(v, 1) for k, v in rss.items()},
        "ratios": {
            "probe llama-3-8b RSS over import torch (MiB)": round(
                rss["probe llama-3-8b"] - rss["import torch"], 1
            ),
            "check --probe / floor": round(
                med["check --probe (example)"] / med["floor (example)"], 2
            ),
            "probe llama-3-8b - import torch (s)": round(
                med["probe llama-3-8b"] - med["import torch"], 2
            ),
        },
    }
    if args.before_src is not None:
        out["ratios"]["probe llama-3-8b before / after"] = round(
            med["probe llama-3-8b (before)"] / med["probe llama-3-8b"], 2
        )
        out["ratios"]["check --probe before / after"] = round(
            med["check --probe (example, before)"] / med["check --probe (example)"], 2
        )
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
