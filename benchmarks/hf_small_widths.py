"""The formula's training peak against the fake probe of the real transformers class at small
widths, where activations outweigh the weights (tests/adapters/test_hf_small_widths.py asserts
the same cases; this prints the figures).

Each supported model_type's default config, cut to 2 layers at d 64 and d 256 (4 heads, 2 KV
heads where the config has them, d_ff 2d), n 128 (ViT: 64-px images, patch 8), batch 2; fp32 and bf16 on the CPU target and
on the emulated CUDA one.

Run: python benchmarks/hf_small_widths.py [model_type ...]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pytest_archcheck import probe  # noqa: E402
from pytest_archcheck.adapters.hf import SEQ2SEQ, SUPPORTED_MODEL_TYPES  # noqa: E402
from pytest_archcheck.estimate import estimate  # noqa: E402
from pytest_archcheck.families import NotModelled  # noqa: E402
from pytest_archcheck.spec.load import load_spec_file  # noqa: E402
from tests.adapters.test_hf_small_widths import sample_len, small_config  # noqa: E402

COMBOS = [("fp32", "cpu"), ("bf16", "cpu"), ("fp32", "cuda"), ("bf16", "cuda")]


def main(types: list[str]) -> None:
    types = types or [t for t in SUPPORTED_MODEL_TYPES if t not in SEQ2SEQ]
    print("| model_type | d | " + " | ".join(f"{a} {b}" for a, b in COMBOS) + " |")
    print("| --- | ---: |" + " ---: |" * len(COMBOS))
    for t in types:
        for d in (64, 256):
            tmp = Path(tempfile.mkdtemp())
            (tmp / "config.json").write_text(json.dumps(small_config(t, d), default=str))
            cells = []
            t0 = time.perf_counter()
            for dtype, target in COMBOS:
                text = (
                    '[model]\nextends = "config.json"\n'
                    f'[train]\nbatch = 2\nseq_len = 128\ndtype = "{dtype}"\n'
                )
                spec = load_spec_file(text, str(tmp / "m.archcheck.toml"), root=tmp).spec
                assert spec is not None
                n = sample_len(t)
                e = estimate(spec, n=n, target=target)
                try:
                    total = e.memory.total
                except NotModelled:  # the class's own attention, or a per-layer kernel mix
                    cells.append("refused")
                    continue
                res = probe.run(spec, device="fake", n=n, batch=2, emulate=target)
                if res.peak_bytes is None:
                    cells.append("probe failed")
                    continue
                cells.append(f"{total / res.peak_bytes - 1:+.2%}")
            took = time.perf_counter() - t0
            print(f"| {t} | {d} | " + " | ".join(cells) + f" |  <!-- {took:.1f} s -->", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
