"""Training-step peak: our probe vs torchinfo's estimate vs accelerate's `estimate-memory`.

Models: the reference zoo (probe/zoo.py) at the sizes of _common.SMALL_ZOO (as in
probe_flops_vs_flopcounter.py), plus GPT-2 small at n = 1024, batch 8, fp32 and bf16
(autocast). For each:

- probe: probe.run(spec, device="fake") -- the peak of live bytes over one steady-state AdamW
  training step; device="cpu" too for the small models (it must agree with "fake").
- formula: formulas.peak.train_memory(spec, n, batch, device="cpu") (JSON only).
- torchinfo: torchinfo.summary(model, input_data=..., verbose=0); "Estimated Total Size" =
  total_input + total_output_bytes + total_param_bytes (torchinfo/model_statistics.py, the
  lines that print "Input size", "Forward/backward pass size", "Params size"). For the small
  models it runs on real CPU tensors; GPT-2 small runs on fake CPU tensors (FakeTensorMode, no
  memory). The two give the same three numbers, which the script asserts on the small models.
  bf16 runs the summary under torch.autocast("cpu", bfloat16), as the probe trains.
- accelerate: `accelerate estimate-memory` needs a Hub model, so its code path is followed on
  our models (accelerate/commands/estimate.py, accelerate 1.15.0):
  * create_empty_model (l. 133, 145): the model is built under `init_empty_weights()` in fp32;
  * gather_data (l. 288): `total_size, largest_layer = calculate_maximum_sizes(model)`;
  * gather_data (l. 293-295): `estimate_training_usage(total_size, dtype)` on the fp32 size;
  * estimate_training_usage (l. 252-271): float32 -> model 1x, gradients 1x, optimizer 2x,
    step 4x; float16/bfloat16 -> model 1x, gradients 1.5x, optimizer 2x, step 2x;
  * estimate_command (l. 316-317): "Training using Adam" = max(those values), i.e. 4x the
    fp32 model size for float32 and 2x for mixed precision, independent of n and batch.
    (The CLI offers float16, not bfloat16; l. 261 treats both alike.)
  Note: init_empty_weights re-wraps every parameter as it is registered (big_modeling.py,
  register_empty_parameter, l. 131-139), so `head.weight = wte.weight` no longer ties and a
  tied head is counted twice (GPT-2 small: 163.0M instead of 124.4M parameters). The table
  keeps accelerate's number; the JSON adds `training_adam_tied`, the same estimate on a
  torch.device("meta") build that keeps the tie. torchinfo also counts a tied weight twice
  in "Params size" (it sums each leaf module's parameters).

Install the two tools for this benchmark only (not project dependencies):
    pip install torchinfo && pip install accelerate --no-deps && pip install safetensors psutil
    huggingface_hub
Run: python benchmarks/compare_tools.py   (about 10 s on 2 CPU cores)
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from typing import Any

from _common import GPT2_SMALL, SMALL_ZOO

SMALL_CASES = {
    "gpt2-style decoder": "gpt2",
    "llama-style decoder (GQA, SwiGLU, RMSNorm)": "llama",
    "bidirectional encoder": "encoder",
    "LSTM LM": "lstm",
    "TCN": "tcn",
    "small ResNet (64x64 image)": "resnet",
}
CASES: list[dict[str, Any]] = [
    {
        "name": label,
        "n": 64 if key == "resnet" else 512,
        "batch": 2,
        "cpu": True,
        "model": SMALL_ZOO[key],
    }
    for label, key in SMALL_CASES.items()
]
CASES += [
    {"name": "GPT-2 small", "n": 1024, "batch": 8, "cpu": False, "model": GPT2_SMALL, "dtype": dt}
    for dt in ("fp32", "bf16")
]


def torchinfo_estimate(spec: Any, n: int, batch: int, fake: bool) -> dict[str, int]:
    """torchinfo's three sizes and their sum ("Estimated Total Size"), in bytes."""
    import torch
    import torchinfo

    from pytest_archcheck.probe.build import build_model, make_inputs

    amp = (
        torch.autocast("cpu", dtype=torch.bfloat16)
        if spec.train.dtype == "bf16"
        else contextlib.nullcontext()
    )
    if fake:
        from torch._subclasses.fake_tensor import FakeTensorMode

        from pytest_archcheck.probe.step import _materialise_fake

        with torch.device("meta"):
            model = build_model(spec)
        with FakeTensorMode(allow_non_fake_inputs=True):
            _materialise_fake(model)
            inputs = make_inputs(spec, n, batch, "cpu")
            with amp:
                s = torchinfo.summary(model, input_data=list(inputs), verbose=0)
    else:
        torch.manual_seed(0)
        model = build_model(spec)
        inputs = make_inputs(spec, n, batch, "cpu")
        with amp:
            s = torchinfo.summary(model, input_data=list(inputs), verbose=0)
    out = {
        "input": int(s.total_input),
        "forward_backward": int(s.total_output_bytes),
        "params": int(s.total_param_bytes),
    }
    out["total"] = sum(out.values())
    return out


def accelerate_estimate(spec: Any) -> dict[str, Any]:
    """`accelerate estimate-memory`'s "Training using Adam" for our model (see module docs)."""
    from accelerate import init_empty_weights
    from accelerate.commands.estimate import estimate_training_usage
    from accelerate.utils import calculate_maximum_sizes

    from pytest_archcheck.probe.build import build_model

    with init_empty_weights():
        model = build_model(spec)
    total_size, largest_layer = calculate_maximum_sizes(model)
    mp = "bfloat16" if spec.train.dtype == "bf16" else "float32"
    usage = estimate_training_usage(total_size, mp)
    import torch

    with torch.device("meta"):
        tied = build_model(spec)
    tied_size = calculate_maximum_sizes(tied)[0]
    return {
        "model_size": int(total_size),
        "largest_layer": int(largest_layer[0]),
        "mixed_precision": mp,
        "parts": {k: int(v) for k, v in usage.items()},
        "training_adam": int(max(usage.values())),
        "model_size_tied": int(tied_size),
        "training_adam_tied": int(max(estimate_training_usage(tied_size, mp).values())),
    }


def machine() -> dict[str, Any]:
    from pytest_archcheck.machine import cpu_name

    return {
        "cpu": cpu_name(),
        "cores_visible": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {p: version(p) for p in ("torch", "torchinfo", "accelerate", "pytest-archcheck")}


def human(b: int | None) -> str:
    if b is None:
        return "-"
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.2f} MiB"


def main() -> None:
    import torch

    from pytest_archcheck import probe
    from pytest_archcheck.formulas.peak import train_memory
    from pytest_archcheck.spec.model import Spec

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    t_start = time.perf_counter()
    rows = []
    for case in CASES:
        n, b, dt = case["n"], case["batch"], case.get("dtype", "fp32")
        spec = Spec.model_validate({"model": case["model"], "train": {"batch": b, "dtype": dt}})
        t0 = time.perf_counter()
        fake = probe.run(spec, device="fake", n=n, batch=b)
        assert fake.ok, fake.findings
        row: dict[str, Any] = {
            "model": case["name"],
            "dtype": dt,
            "n": n,
            "batch": b,
            "probe_fake_peak": fake.peak_bytes,
            "probe_cpu_peak": None,
            "probe_breakdown": fake.breakdown,
            "attention_kernel": fake.attention_kernel,
            "formula_cpu": train_memory(spec, n, b, device="cpu").total,
        }
        ti = torchinfo_estimate(spec, n, b, fake=not case["cpu"])
        if case["cpu"]:
            cpu = probe.run(spec, device="cpu", n=n, batch=b)
            assert cpu.ok, cpu.findings
            row["probe_cpu_peak"] = cpu.peak_bytes
            ti_fake = torchinfo_estimate(spec, n, b, fake=True)
            assert ti_fake == ti, (case["name"], ti, ti_fake)
        row["torchinfo"] = ti
        row["torchinfo_ran_on"] = "cpu" if case["cpu"] else "fake"
        row["accelerate"] = accelerate_estimate(spec)
        peak = fake.peak_bytes
        assert peak
        row["ratio_torchinfo_over_probe"] = round(ti["total"] / peak, 3)
        row["ratio_accelerate_over_probe"] = round(row["accelerate"]["training_adam"] / peak, 3)
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "versions": versions(),
        "optimizer": "adamw (probe); Adam (accelerate)",
        "rows": rows,
        "wall_seconds": round(time.perf_counter() - t_start, 1),
    }
    print(json.dumps(result, indent=2))
    print()
    print(
        "| model | dtype | n×batch | probe peak (fake) | probe peak (cpu) | torchinfo | "
        "accelerate (Adam) | torchinfo/probe | accelerate/probe |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['model']} | {r['dtype']} | {r['n']}×{r['batch']} | "
            f"{human(r['probe_fake_peak'])} | {human(r['probe_cpu_peak'])} | "
            f"{human(r['torchinfo']['total'])} | {human(r['accelerate']['training_adam'])} | "
            f"{r['ratio_torchinfo_over_probe']:.2f} | {r['ratio_accelerate_over_probe']:.2f} |"
        )
    v, mc = result["versions"], result["machine"]
    print()
    for r in rows:
        a = r["accelerate"]
        if a["model_size_tied"] != a["model_size"]:
            print(
                f"accelerate, tie kept ({r['model']} {r['dtype']}): "
                f"{human(a['training_adam_tied'])} = "
                f"{a['training_adam_tied'] / r['probe_fake_peak']:.2f} x probe "
                f"(init_empty_weights unties the head: {human(a['model_size'])} vs "
                f"{human(a['model_size_tied'])} of weights)"
            )
    print(
        f"torch {v['torch']}, torchinfo {v['torchinfo']}, accelerate {v['accelerate']}; "
        f"{mc['cpu']}, {mc['cores_usable']} cores usable; {result['wall_seconds']} s"
    )


if __name__ == "__main__":
    main()
