"""Predicted vs measured CUDA training peaks, no GPU needed:
python benchmarks/probe_cuda_predict.py [results file]

Reads the JSON rows of a `probe_cuda_check.py` run (default: the H200 run of 2026-11-27) and
prints, per row, the peak measured on the GPU -- the plain harness (a hand-written training
loop: what the user's training allocates) and the CUDA probe -- against

- before: the numbers recorded in that run (formula with device="cuda"; fake probe with CPU
  kernel choices);
- after: the current formula (device="cuda": CUDA's SDPA backend rules, fused RMSNorm and
  dropout masks, cuBLAS workspaces and 512-byte allocator rounding) and the fake probe in CUDA
  emulation (emulate="cuda").

Δ is (predicted - measured) / measured. The CUDA probe of that run measured under the storage
tracker's dispatch mode, which made at::linear keep one more logits-sized tensor for the fp32
LSTM/TCN heads (fixed since: the probe now measures without a dispatch mode), and it failed on
the llama bf16 rows; the harness column is the reference there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import GPT2_SMALL
from _common import pct as _gap

RESULTS = Path(__file__).resolve().parent / "results" / "cuda_check_h200_2026-11-27.txt"


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The {"rows": [...]} JSON object at the top of a probe_cuda_check.py output."""
    text = path.read_text()
    start = text.index("{")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return list(obj["rows"])


def spec_for(row: dict[str, Any], device: str | None = None) -> Any:
    from probe_cuda_check import ZOO

    from pytest_archcheck.spec.model import Spec

    model = GPT2_SMALL if row["model"] == "gpt2-small" else ZOO[row["model"]]
    train = {"batch": row["batch"], "dtype": row["dtype"]}
    if "dropout" in row:
        train["dropout"] = row["dropout"]
    budget = {"device": device} if device else {}
    return Spec.model_validate(
        {"model": {"name": row["model"], **model}, "train": train, "budget": budget}
    )


def predict(spec: Any, n: int, batch: int) -> dict[str, Any]:
    """Formula (device="cuda") and fake probe (emulate="cuda") peaks for one spec."""
    from pytest_archcheck import probe
    from pytest_archcheck.formulas.peak import train_memory

    fk = probe.run(spec, device="fake", n=n, batch=batch, emulate="cuda")
    return {
        "formula_cuda_new": train_memory(spec, n, batch, device="cuda").total,
        "fake_cuda_new": fk.peak_bytes,
        "kernel_fake_new": fk.attention_kernel,
        "flops_fake_new": (fk.flops or {}).get("train_step"),
        "fake_error": fk.findings[0].message if fk.findings else None,
    }


def pct(a: Any, b: Any) -> str:
    g = _gap(a, b)
    return "–" if g is None else f"{g:+.2f}%"


def main(path: Path = RESULTS) -> None:
    rows = read_rows(path)
    mib = 2**20
    print(f"results: {path.name}")
    print(
        "| model | dtype | drop | harness MiB | cuda probe MiB | before: formula Δ "
        "| before: fake(CPU) Δ | after: formula Δ | after: fake(CUDA emu) Δ "
        "| after vs harness: formula / fake | kernel cuda / emu |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in rows:
        p = predict(spec_for(r, "H200"), r["n"], r["batch"])
        ref = r.get("cuda")
        h = r.get("harness")
        print(
            f"| {r['model']} | {r['dtype']} | {r.get('dropout', 0)} | "
            f"{h / mib if h else 0:.1f} | {ref / mib if ref else 0:.1f} | "
            f"{pct(r.get('formula_cuda'), ref)} | {pct(r.get('fake'), ref)} | "
            f"{pct(p['formula_cuda_new'], ref)} | {pct(p['fake_cuda_new'], ref)} | "
            f"{pct(p['formula_cuda_new'], h)} / {pct(p['fake_cuda_new'], h)} | "
            f"{r.get('kernel_cuda')} / {p['kernel_fake_new']} |"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS)
