"""CUDA probe check (run on one GPU): python benchmarks/probe_cuda_check.py

For each reference-zoo model it compares, at the same (batch, n):

- harness: a plain hand-written loop (build on CUDA, one real warm-up training step, then
  reset_peak_memory_stats, one more step, torch.cuda.max_memory_allocated);
- cuda: pytest_archcheck.probe.run(device="cuda") (max_memory_allocated of its step), with
  memory_reserved and the storage tracker's exact byte count of the same step beside it;
- fake: the fake-tensor probe with pure CPU semantics (emulate="cpu": CPU kernel choices,
  activation-wide dropout masks) and in CUDA emulation (emulate="cuda": CUDA's SDPA backend,
  fused RMSNorm, 1-byte dropout masks, foreach optimizer, 512-byte allocator rounding, cuBLAS
  workspaces), and the formula with device="cuda" (same CUDA rules and allocator overhead):
  the predicted-vs-measured columns, against the CUDA probe and against the harness.

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

from _common import GPT2_SMALL
from _common import pct as _pct

ZOO: dict[str, dict[str, Any]] = {
    "gpt2": {
        "family": "transformer",
        "layers": 4,
        "d_model": 256,
        "heads": 4,
        "vocab": 8000,
        "max_positions": 2048,
    },
    "llama": {
        "family": "transformer",
        "layers": 4,
        "d_model": 256,
        "heads": 8,
        "kv_heads": 2,
        "d_ff": 688,
        "mlp": "swiglu",
        "norm": "rmsnorm",
        "positional": "rotary",
        "bias": "none",
        "tied_embeddings": False,
        "vocab": 8000,
    },
    "encoder": {
        "family": "transformer",
        "layers": 4,
        "d_model": 256,
        "heads": 4,
        "vocab": 8000,
        "causal": False,
        "max_positions": 2048,
    },
    "lstm": {"family": "lstm", "layers": 2, "d_model": 256, "hidden": 256, "vocab": 8000},
    "tcn": {
        "family": "tcn",
        "layers": 4,
        "d_model": 256,
        "channels": 256,
        "kernel": 3,
        "dilations": [1, 2, 4, 8],
        "vocab": 8000,
    },
    "resnet": {
        "family": "cnn",
        "input": "image",
        "layers": 3,
        "channels": [32, 64, 128],
        "strides": [1, 2, 2],
        "in_channels": 3,
        "classes": 100,
    },
}


def harness(spec: Any, n: int, batch: int) -> int:
    """Plain training loop, independent of the probe's step code."""
    import torch

    from pytest_archcheck.families import family_of

    torch.cuda.empty_cache()
    model = family_of(spec).reference_module(spec).cuda().train()
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


def _why(res: Any) -> str | None:
    """The finding of a probe that returned no peak (instead of a TypeError downstream)."""
    if res.peak_bytes is not None:
        return None
    return res.findings[0].message if res.findings else "no peak"


def _budget_device(name: str) -> str | None:
    for known in ("H200", "H100", "H800", "A100", "L40S", "L4", "B200"):
        if known.lower() in name.lower():
            return known
    return None


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
    gpu = _budget_device(torch.cuda.get_device_name(0))
    for name, model, train, n, b in cases:
        spec = Spec.model_validate(
            {
                "model": {"name": name, **model},
                "train": {"batch": b, **train},
                "budget": {"device": gpu} if gpu else {},
            }
        )
        row: dict[str, Any] = {"model": name, **train, "n": n, "batch": b}
        try:
            row["harness"] = harness(spec, n, b)
        except Exception as e:  # keep going: the table shows what failed
            row["error_harness"] = f"{type(e).__name__}: {e}"[:300]
        torch.cuda.empty_cache()
        try:
            cu = probe.run(spec, device="cuda", n=n, batch=b)
            row["cuda"] = cu.peak_bytes
            row["error_cuda"] = _why(cu)
            row["reserved"] = cu.extra.get("memory_reserved")
            row["tracked"] = cu.extra.get("tracked_peak")
            row["kernel_cuda"] = cu.attention_kernel
            row["flops_cuda"] = (cu.flops or {}).get("train_step")
            for emu in ("cpu", "cuda"):
                fk = probe.run(spec, device="fake", n=n, batch=b, emulate=emu)
                row[f"fake_{emu}"] = fk.peak_bytes
                row[f"error_fake_{emu}"] = _why(fk)
                row[f"kernel_fake_{emu}"] = fk.attention_kernel
                row[f"flops_fake_{emu}"] = (fk.flops or {}).get("train_step")
            row["formula_cuda"] = train_memory(spec, n, b, device="cuda").total
        except Exception as e:  # keep going: the table shows what failed
            row["error"] = f"{type(e).__name__}: {e}"[:300]
        row["cuda_vs_harness_pct"] = _pct(row.get("cuda"), row.get("harness"))
        row["tracked_vs_cuda_pct"] = _pct(row.get("tracked"), row.get("cuda"))
        for key in ("fake_cpu", "fake_cuda", "formula_cuda"):
            row[f"{key}_vs_cuda_pct"] = _pct(row.get(key), row.get("cuda"))
            row[f"{key}_vs_harness_pct"] = _pct(row.get(key), row.get("harness"))
        rows.append({k: v for k, v in row.items() if v is not None or not k.startswith("error")})
        torch.cuda.empty_cache()

    print(json.dumps({"rows": rows}, indent=1, default=str), flush=True)
    checks: dict[str, Any] = {}
    try:
        _checks(checks, probe, Spec)
    except Exception as e:  # report what ran; never lose the rows above
        checks["error"] = f"{type(e).__name__}: {e}"[:500]
    checks["device"] = torch.cuda.get_device_name(0)
    checks["torch"] = torch.__version__
    checks["seconds"] = round(time.perf_counter() - t_start, 1)
    _table(rows, checks)


def _checks(checks: dict[str, Any], probe: Any, Spec: Any) -> None:
    import torch

    # OOM -> ARC101 finding, memory released afterwards, the next probe still works.
    base = torch.cuda.memory_allocated()
    big = Spec.model_validate(
        {
            "model": GPT2_SMALL | {"max_positions": 32768},
            "train": {"batch": 64, "attention_kernel": "math"},
        }
    )
    oom = probe.run(big, device="cuda", n=32768, batch=64)
    checks["oom_codes"] = [f.code for f in oom.findings]
    checks["oom_message"] = oom.findings[0].message if oom.findings else None
    checks["oom_released"] = torch.cuda.memory_allocated() == base
    small = Spec.model_validate({"model": ZOO["gpt2"], "train": {"batch": 2}})
    checks["after_oom_peak"] = probe.run(small, device="cuda", n=256).peak_bytes

    # User model state restored.
    from pytest_archcheck.families import family_of

    user: Any = family_of(small).reference_module(small).eval()
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


def _table(rows: list[dict[str, Any]], checks: dict[str, Any]) -> None:
    def pct(r: dict[str, Any], key: str) -> str:
        v = r.get(key)
        return "–" if v is None else f"{v:+.2f}%"

    def mib(v: Any) -> str:
        return "–" if not isinstance(v, int) else f"{v / 2**20:.1f}"

    print()
    print(
        "| model | dtype | drop | n×b | harness MiB | cuda probe MiB | Δ vs harness "
        "| reserved MiB | tracked Δ | fake(CPU) Δ | fake(CUDA emu) Δ | formula(cuda) Δ "
        "| emu / formula Δ vs harness | kernel cuda/emu/cpu | errors |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        errors = "; ".join(f"{k}: {v}" for k, v in r.items() if k.startswith("error"))
        print(
            f"| {r['model']} | {r.get('dtype')} | {r.get('dropout', 0)} | {r['n']}×{r['batch']} | "
            f"{mib(r.get('harness'))} | {mib(r.get('cuda'))} | "
            f"{pct(r, 'cuda_vs_harness_pct')} | {mib(r.get('reserved'))} | "
            f"{pct(r, 'tracked_vs_cuda_pct')} | {pct(r, 'fake_cpu_vs_cuda_pct')} | "
            f"{pct(r, 'fake_cuda_vs_cuda_pct')} | {pct(r, 'formula_cuda_vs_cuda_pct')} | "
            f"{pct(r, 'fake_cuda_vs_harness_pct')} / {pct(r, 'formula_cuda_vs_harness_pct')} | "
            f"{r.get('kernel_cuda')}/{r.get('kernel_fake_cuda')}/{r.get('kernel_fake_cpu')} | "
            f"{errors[:200]} |"
        )
    print()
    print("checks:", json.dumps(checks, default=str))


if __name__ == "__main__":
    main()
