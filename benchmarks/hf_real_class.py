"""The formula's training peak against the fake probe of the real transformers class.

For every published config.json in tests/adapters/data: a spec that extends it with
`layers = 2` (written back into the config, so the probe builds the transformers class itself
at the config's real widths), batch 1, n 256, CPU target (`--target cuda`: the emulated CUDA
one), fp32 and bf16. Prints one row per
config: formula total, probe peak, their ratio, parameter bytes both ways, and which model the
probe built (mixture-of-experts classes cannot run on fake tensors: the reference is probed).

Run: python benchmarks/hf_real_class.py [--target cuda] [name ...]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pytest_archcheck import probe  # noqa: E402
from pytest_archcheck.estimate import estimate  # noqa: E402
from pytest_archcheck.spec.load import load_spec_file  # noqa: E402

DATA = ROOT / "tests" / "adapters" / "data"


def main(names: list[str], target: str = "cpu") -> None:
    names = names or sorted(p.name for p in DATA.iterdir() if (p / "config.json").exists())
    print("| config | dtype | formula | real-class probe | formula / probe - 1 | model probed |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for name in names:
        tmp = Path(tempfile.mkdtemp())
        (tmp / "config.json").write_text((DATA / name / "config.json").read_text())
        for dtype in ("fp32", "bf16"):
            text = (
                '[model]\nextends = "config.json"\nlayers = 2\n'
                f'[train]\nbatch = 1\nseq_len = 256\ndtype = "{dtype}"\n'
            )
            loaded = load_spec_file(text, str(tmp / "m.archcheck.toml"), root=tmp)
            if loaded.spec is None:
                print(f"| {name} | {dtype} | refused: {loaded.problems[0].message[:60]} | | | |")
                break
            t0 = time.perf_counter()
            from pytest_archcheck.families import family_of

            unit = family_of(loaded.spec)
            n = 256 if unit.sequence else unit.train_n(loaded.spec)  # an image model: its side
            if loaded.spec.model.stem_strides and loaded.spec.model.max_positions:
                n = loaded.spec.model.max_positions  # Whisper's encoder: exactly its positions
            e = estimate(loaded.spec, n=n, target=target)
            if "memory" in e.refused:  # no formula: nothing to compare (ARC307)
                print(f"| {name} | {dtype} | not modelled | | | |")
                break
            res = probe.run(loaded.spec, device="fake", n=n, batch=1, emulate=target)
            took = time.perf_counter() - t0
            if res.peak_bytes is None:
                print(f"| {name} | {dtype} | probe failed: {res.findings[0].message[:80]} | | | |")
                continue
            err = e.memory.total / res.peak_bytes - 1
            print(
                f"| {name} | {dtype} | {e.memory.total:,} | {res.peak_bytes:,} | {err:+.2%} |"
                f" {res.extra.get('model')} ({took:.1f} s) |",
                flush=True,
            )


if __name__ == "__main__":
    args = sys.argv[1:]
    target = "cpu"
    if args[:1] == ["--target"]:
        target, args = args[1], args[2:]
    main(args, target)
