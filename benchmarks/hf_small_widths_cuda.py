"""On one GPU: the formula's training peak and the fake probe's CUDA emulation against a real
CUDA training step of the transformers class, at small widths (the CUDA side of
benchmarks/hf_small_widths.py, which emulates CUDA on the CPU).

For each model_type: its default config cut to 2 layers at width d (tests/adapters/
test_hf_small_widths.py's `small_config`), n 128, batch 2, fp32 and bf16 (autocast). Columns:
the formula for the CUDA target, `probe --device fake` emulating CUDA, and `probe --device
cuda` (the class built on the GPU, one real step, torch.cuda.max_memory_allocated), and the
two ratios against the real step. Prints a markdown table.

Run: python benchmarks/hf_small_widths_cuda.py [model_type ...]
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

import torch  # noqa: E402

from pytest_archcheck import probe  # noqa: E402
from pytest_archcheck.estimate import estimate  # noqa: E402
from pytest_archcheck.families import NotModelled  # noqa: E402
from pytest_archcheck.spec.load import load_spec_file  # noqa: E402
from tests.adapters.test_hf_small_widths import small_config  # noqa: E402

TYPES = ["gpt2", "bert", "llama", "qwen2", "gemma", "gemma2", "phi3", "olmo", "stablelm",
         "starcoder2", "gpt_neox", "falcon", "phi", "opt"]  # fmt: skip


def main(types: list[str]) -> None:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    print(f"torch {torch.__version__}, {gpu}", flush=True)
    print("| model_type | d | dtype | formula | fake (CUDA emulation) | real CUDA step |"
          " formula / real - 1 | fake / real - 1 |")  # fmt: skip
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for t in types or TYPES:
        for d in (64, 256):
            tmp = Path(tempfile.mkdtemp())
            (tmp / "config.json").write_text(json.dumps(small_config(t, d), default=str))
            for dtype in ("fp32", "bf16"):
                t0 = time.perf_counter()
                text = (
                    '[model]\nextends = "config.json"\n'
                    f'[train]\nbatch = 2\nseq_len = 128\ndtype = "{dtype}"\n'
                )
                spec = load_spec_file(text, str(tmp / "m.archcheck.toml"), root=tmp).spec
                assert spec is not None
                try:
                    formula: int | str = estimate(spec, target="cuda").memory.total
                except NotModelled:
                    formula = "refused"
                fake = probe.run(spec, device="fake", n=128, batch=2, emulate="cuda")
                try:
                    real = probe.run(spec, device="cuda", n=128, batch=2)
                except Exception as e:  # a benchmark row, not a crash
                    print(f"| {t} | {d} | {dtype} | cuda probe raised {e!r:.100} |||||")
                    continue
                if real.peak_bytes is None:
                    msg = real.findings[0].message[:100] if real.findings else "?"
                    print(f"| {t} | {d} | {dtype} | cuda probe failed: {msg} |||||", flush=True)
                    continue
                r = real.peak_bytes
                f_ratio = f"{formula / r - 1:+.2%}" if isinstance(formula, int) else "refused"
                fk = fake.peak_bytes
                k_ratio = f"{fk / r - 1:+.2%}" if fk else "failed"
                print(
                    f"| {t} | {d} | {dtype} | {formula:,} | {fk or 0:,} | {r:,} | {f_ratio} |"
                    f" {k_ratio} |  <!-- {time.perf_counter() - t0:.1f} s,"
                    f" {real.extra.get('model')} -->"
                    if isinstance(formula, int)
                    else f"| {t} | {d} | {dtype} | refused | {fk or 0:,} | {r:,} | refused |"
                    f" {k_ratio} |",
                    flush=True,
                )


if __name__ == "__main__":
    main(sys.argv[1:])
