"""Our probe's FLOPs vs torch.utils.flop_counter.FlopCounterMode on the same training step.

Differences are expected in exactly two places: FlopCounterMode has no formula for the CPU
flash kernel (aten._scaled_dot_product_flash_attention_for_cpu and its backward: counted 0),
and it charges causal attention at full cost where we charge half.
Run: python benchmarks/probe_flops_vs_flopcounter.py
"""

from __future__ import annotations

import json
from typing import Any

from _common import GPT2_SMALL, SMALL_ZOO


def flopcounter_step(spec: Any, n: int, batch: int) -> tuple[int, int]:
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.utils.flop_counter import FlopCounterMode

    from pytest_archcheck.probe.build import build_model, make_inputs, make_loss
    from pytest_archcheck.probe.step import _materialise_fake, sdpa_context

    with torch.device("meta"):
        model = build_model(spec)
    with FakeTensorMode(allow_non_fake_inputs=True):
        _materialise_fake(model)
        model.train()
        with sdpa_context(spec.train.attention_kernel, "cpu"):
            inputs = make_inputs(spec, n, batch, "cpu")
            with FlopCounterMode(display=False) as fc:
                out = model(*inputs)
                loss = make_loss(spec)(out, inputs)
                fwd = fc.get_total_flops()
                del out
                loss.backward()
                total = fc.get_total_flops()
    return int(fwd), int(total)


def main() -> None:
    from pytest_archcheck import probe
    from pytest_archcheck.spec.model import Spec

    cases = {
        "gpt2-small n=1024": (GPT2_SMALL, 1024, 1),
        "encoder n=512": (SMALL_ZOO["encoder"], 512, 2),
        "llama-gqa n=512 math": (SMALL_ZOO["llama"], 512, 2),
        "lstm n=512": (SMALL_ZOO["lstm"], 512, 2),
        "tcn n=512": (SMALL_ZOO["tcn"], 512, 2),
        "resnet 64x64": (SMALL_ZOO["resnet"], 64, 2),
    }
    rows = []
    for name, (model, n, b) in cases.items():
        train: dict[str, Any] = {"batch": b}
        if "math" in name:
            train["attention_kernel"] = "math"
        spec = Spec.model_validate({"model": model, "train": train})
        ours = probe.run(spec, device="fake", n=n, batch=b)
        assert ours.flops is not None
        fc_fwd, fc_total = flopcounter_step(spec, n, b)
        rows.append(
            {
                "case": name,
                "kernel": ours.attention_kernel,
                "ours_forward": ours.flops["forward"],
                "flopcounter_forward": fc_fwd,
                "ours_train_step": ours.flops["train_step"],
                "flopcounter_train_step": fc_total,
                "gap_train_step_pct": round(
                    100 * (ours.flops["train_step"] - fc_total) / max(fc_total, 1), 3
                ),
            }
        )
    print(json.dumps(rows, indent=2))
    print()
    print("| case | kernel | ours fwd | FlopCounter fwd | ours step | FlopCounter step | gap |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['case']} | {r['kernel']} | {r['ours_forward']:.4e} | "
            f"{r['flopcounter_forward']:.4e} | {r['ours_train_step']:.4e} | "
            f"{r['flopcounter_train_step']:.4e} | {r['gap_train_step_pct']:+.3f}% |"
        )


if __name__ == "__main__":
    main()
