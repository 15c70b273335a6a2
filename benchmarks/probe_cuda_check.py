"""CUDA probe check (run on one GPU): python benchmarks/probe_cuda_check.py

For each reference-zoo model it compares, at the same (batch, n):

- harness: a plain hand-written loop (build on CUDA, one real warm-up training step, then
  reset_peak_memory_stats, one more step, torch.cuda.max_memory_allocated);
- cuda: pytest_archcheck.probe.run(device="cuda") (max_memory_allocated of its step), with
  memory_reserved and the storage tracker's exact byte count of the same step beside it;
- fake: the fake-tensor probe (CPU kernel choices: no CUDA-only attention kernels, fp32-wide
  dropout masks), and the formula with device="cuda".

Then it checks the OOM path (ARC101 finding, memory released afterwards) and that a user model's
train/eval mode, requires_grad flags, device and RNG states are restored. Prints JSON, then a
markdown table. Needs torch with CUDA and pydantic; adds ../src to sys.path itself.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ZOO: dict[str, dict[str, Any]] = {
    "gpt2": {"family": "transformer", "layers": 4, "d_model": 256, "heads": 4, "vocab": 8000,
             "max_positions": 2048},
    "llama": {"family": "transformer", "layers": 4, "d_model": 256, "heads": 8, "kv_heads": 2,
              "d_ff": 688, "mlp": "swiglu", "norm": "rmsnorm", "positional": "rotary",
              "bias": "none", "tied_embeddings": False, "vocab": 8000},
    "encoder": {"family": "transformer", "layers": 4, "d_model": 256, "heads": 4,
                "vocab": 8000, "causal": False, "max_positions": 2048},
    "lstm": {"family": "lstm", "layers": 2, "d_model": 256, "hidden": 256, "vocab": 8000},
    "tcn": {"family": "tcn", "layers": 4, "d_model": 256, "channels": 256, "kernel": 3,
            "dilations": [1, 2, 4, 8], "vocab": 8000},
    "resnet": {"family": "cnn", "input": "image", "layers": 3, "channels": [32, 64, 128],
               "strides": [1, 2, 2], "in_channels": 3, "classes": 100},
}
GPT2_SMALL = {"family": "transformer", "layers": 12, "d_model": 768, "heads": 12,
              "vocab": 50257, "max_positions": 1024}


def harness(spec: Any, n: int, batch: int) -> int:
    """Plain training loop, independent of the probe's step code."""
    import torch

    from pytest_archcheck.probe.zoo import build

    torch.cuda.empty_cache()
    model = build(spec).cuda().train()
    opt = {"adamw": torch.optim.AdamW, "adam": torch.optim.Adam}[spec.train.optimizer](
        model.parameters(), lr=1e-4
    )
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(spec.train.dtype)

    def step() -> None:
        m = spec.model
        if m.input == "image":
            x = torch.randn(batch, m.in_channels or 3, n, n, device="cuda")
        else:
            x = torch.randint(0, m.vocab, (batch, n), device="cuda")
        with torch.autocast("cuda", dtype=amp, enabled=amp is not None):
            loss = model(x).float().sum()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


def main() -> None:
    import torch

    from pytest_archcheck import probe
    from pytest_archcheck.formulas.peak import train_memory
    from pytest_archcheck.spec.model import Spec

    t_start = time.perf_counter()
    assert torch.cuda.is_available(), "needs a CUDA device"
    rows: list[dict[str, Any]] = []
    cases: list[tuple[str, dict[str, Any], dict[str, Any], int, int]] = []
    for name, model in ZOO.items():
        for dtype in ("fp32", "bf16"):
            for dropout in (0.0, 0.1):
                n = 64 if name == "resnet" else 1024
                cases.append((name, model, {"dtype": dtype, "dropout": dropout}, n, 4))
    cases.append(("gpt2-small", GPT2_SMALL, {"dtype": "bf16"}, 1024, 8))
    for name, model, train, n, b in cases:
        spec = Spec.model_validate({"model": {"name": name, **model},
                                    "train": {"batch": b, **train}})
        row: dict[str, Any] = {"model": name, **train, "n": n, "batch": b}
        try:
            row["harness"] = harness(spec, n, b)
            cu = probe.run(spec, device="cuda", n=n, batch=b)
            row["cuda"] = cu.peak_bytes
            row["reserved"] = cu.extra.get("memory_reserved")
            row["tracked"] = cu.extra.get("tracked_peak")
            row["kernel_cuda"] = cu.attention_kernel
            row["flops_cuda"] = (cu.flops or {}).get("train_step")
            fk = probe.run(spec, device="fake", n=n, batch=b)
            row["fake"] = fk.peak_bytes
            row["kernel_fake"] = fk.attention_kernel
            row["flops_fake"] = (fk.flops or {}).get("train_step")
            row["formula_cuda"] = train_memory(spec, n, b, device="cuda").total
            row["cuda_vs_harness_pct"] = 100 * (row["cuda"] - row["harness"]) / row["harness"]
            row["fake_vs_cuda_pct"] = 100 * (row["fake"] - row["cuda"]) / row["cuda"]
            row["formula_vs_cuda_pct"] = 100 * (row["formula_cuda"] - row["cuda"]) / row["cuda"]
            row["tracked_vs_cuda_pct"] = 100 * (row["tracked"] - row["cuda"]) / row["cuda"]
        except Exception as e:  # keep going: the table shows what failed
            row["error"] = f"{type(e).__name__}: {e}"[:300]
        rows.append(row)
        torch.cuda.empty_cache()

    checks: dict[str, Any] = {}
    # OOM -> ARC101 finding, memory released afterwards, the next probe still works.
    base = torch.cuda.memory_allocated()
    big = Spec.model_validate({"model": GPT2_SMALL | {"max_positions": 32768},
                               "train": {"batch": 64, "attention_kernel": "math"}})
    oom = probe.run(big, device="cuda", n=32768, batch=64)
    checks["oom_codes"] = [f.code for f in oom.findings]
    checks["oom_message"] = oom.findings[0].message if oom.findings else None
    checks["oom_released"] = torch.cuda.memory_allocated() == base
    small = Spec.model_validate({"model": ZOO["gpt2"], "train": {"batch": 2}})
    checks["after_oom_peak"] = probe.run(small, device="cuda", n=256).peak_bytes

    # User model state restored.
    from pytest_archcheck.probe.zoo import build

    user = build(small).eval()
    user.blocks[0].attn.qkv.weight.requires_grad_(False)
    torch.manual_seed(123)
    torch.cuda.manual_seed_all(456)
    cpu_rng, cuda_rng = torch.get_rng_state(), torch.cuda.get_rng_state_all()
    flags = [p.requires_grad for p in user.parameters()]
    r = probe.run(small, device="cuda", n=256, model=user)
    checks["user_model_probe_ok"] = r.peak_bytes is not None
    checks["restored_eval_mode"] = not any(m.training for m in user.modules())
    checks["restored_requires_grad"] = flags == [p.requires_grad for p in user.parameters()]
    checks["restored_device_cpu"] = all(p.device.type == "cpu" for p in user.parameters())
    now_cuda = torch.cuda.get_rng_state_all()
    checks["restored_rng"] = bool(
        torch.equal(cpu_rng, torch.get_rng_state())
        and all(torch.equal(a, b) for a, b in zip(cuda_rng, now_cuda, strict=True))
    )
    lat = probe.run(small, device="cuda", n=256, latency=True).latency
    checks["latency"] = lat
    checks["device"] = torch.cuda.get_device_name(0)
    checks["torch"] = torch.__version__
    checks["seconds"] = round(time.perf_counter() - t_start, 1)

    print(json.dumps({"rows": rows, "checks": checks}, indent=1, default=str))
    print()
    mib = 2**20
    print("| model | dtype | drop | n×b | harness MiB | cuda probe MiB | Δ vs harness "
          "| reserved MiB | tracked Δ | fake Δ (CPU kernels) | formula(cuda) Δ "
          "| kernel cuda/fake |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r_ in rows:
        if "error" in r_:
            print(f"| {r_['model']} | {r_.get('dtype')} | {r_.get('dropout', 0)} | "
                  f"{r_['n']}×{r_['batch']} | error: {r_['error']} |")
            continue
        print(
            f"| {r_['model']} | {r_['dtype']} | {r_.get('dropout', 0)} | {r_['n']}×{r_['batch']} | "
            f"{r_['harness'] / mib:.1f} | {r_['cuda'] / mib:.1f} | "
            f"{r_['cuda_vs_harness_pct']:+.2f}% | {r_['reserved'] / mib:.1f} | "
            f"{r_['tracked_vs_cuda_pct']:+.2f}% | {r_['fake_vs_cuda_pct']:+.2f}% | "
            f"{r_['formula_vs_cuda_pct']:+.2f}% | {r_['kernel_cuda']}/{r_['kernel_fake']} |"
        )
    print()
    print("checks:", json.dumps(checks, default=str))


if __name__ == "__main__":
    main()
