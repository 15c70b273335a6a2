"""Decode steps on this machine's CPU: a clock against the per-op estimate (issue #18 point 5).

`benchmarks/latency_cpu.py` times one forward (the prefill); the probe has no decode timing.
This script times transformers' own GPT-2 class decoding one token at a time with its KV cache
after a 128-token prompt (median of 25 steps after 5 of warm-up, no_grad, fp32) and prints the
per-step estimate of `latency.transformer_ops` on this host as `archcheck calibrate` measures
it (probe/calibrate.py), side by side. Run it on an idle machine:

    PYTHONPATH=src python benchmarks/latency_decode_cpu.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

# (layers, d_model, heads, d_ff, vocab)
SHAPES = [(4, 256, 4, 1024, 1000), (12, 768, 12, 3072, 50257)]


def main() -> None:
    import torch
    import transformers
    from latency_cpu import devices, host_rates

    from pytest_archcheck.formulas.latency import Block, transformer_op_latency

    cal = host_rates()
    _, host = devices(cal)
    torch.manual_seed(0)
    rows = []
    for layers, d, h, f, vocab in SHAPES:
        cfg = transformers.GPT2Config(n_layer=layers, n_embd=d, n_head=h, n_inner=f,
                                      vocab_size=vocab, n_positions=1024)  # fmt: skip
        model = transformers.GPT2LMHeadModel(cfg).eval()
        prompt = torch.randint(0, vocab, (1, 128))
        token = torch.randint(0, vocab, (1, 1))
        steps = []
        with torch.no_grad():
            cache = model(prompt, use_cache=True).past_key_values
            for _ in range(30):
                t0 = time.perf_counter()
                model(token, past_key_values=cache, use_cache=True)
                steps.append(time.perf_counter() - t0)
        measured = statistics.median(steps[5:])

        def estimate(new: int, layers: int = layers, d: int = d, h: int = h, f: int = f,
                     vocab: int = vocab) -> float:  # fmt: skip
            return transformer_op_latency(
                host, "fp32", layers, 1, 128, d_model=d, heads=h, d_ff=f, vocab=vocab,
                new_tokens=new, block=Block(learned_positions=True),
            ).seconds  # fmt: skip

        per_step = (estimate(10) - estimate(0)) / 10
        rows.append({"layers": layers, "d_model": d, "measured_ms": measured * 1e3,
                     "estimate_ms": per_step * 1e3, "ratio": per_step / measured})  # fmt: skip
    print(json.dumps({"date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
                      "transformers": transformers.__version__, "host": cal, "rows": rows},
                     indent=1))  # fmt: skip
    print("\n| GPT-2 | decode step (median) | estimate | ÷ clock |\n| --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['layers']} x d {r['d_model']} | {r['measured_ms']:.3f} ms | "
              f"{r['estimate_ms']:.3f} ms | {r['ratio']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
