"""The training peak of the classes with their own attention (GPT-J, BLOOM, MPT:
`eager_attention`) against the fake probe of the real transformers class, beyond the
small-width harness (tests/adapters/test_hf_small_widths.py): longer sequences, where the
b·heads·n² terms dominate, other batch sizes, depths and head counts, and dropout 0.1 (set in
the config: the probe builds the class from it).

Each case is the model_type's default config cut as the harness cuts it (small_config), with
the overrides shown; formula total / fake probe - 1 on fp32 CPU, bf16 CPU and bf16 emulating
CUDA, and the phase the formula puts the peak in.

Run: PYTHONPATH=src python benchmarks/eager_attention.py [model_type ...]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from pytest_archcheck import probe  # noqa: E402
from pytest_archcheck.estimate import estimate  # noqa: E402
from pytest_archcheck.spec.load import load_spec_file  # noqa: E402
from tests.adapters.test_hf_small_widths import small_config  # noqa: E402

COMBOS = [("fp32", "cpu"), ("bf16", "cpu"), ("bf16", "cuda")]
KEYS = {  # the config's own names for heads and layers
    "gptj": ("n_head", "n_layer"),
    "bloom": ("n_head", "n_layer"),
    "mpt": ("n_heads", "n_layers"),
}
DROPOUT: dict[str, dict[str, Any]] = {  # every dropout of the class at 0.1
    "gptj": {"resid_pdrop": 0.1, "attn_pdrop": 0.1, "embd_pdrop": 0.1},
    "bloom": {"hidden_dropout": 0.1, "attention_dropout": 0.1},
    "mpt": {"attn_config": {"attn_pdrop": 0.1}},
}


def case(model_type: str, d: int, n: int, batch: int, **over: Any) -> str:
    """One markdown row: the case and formula / probe - 1 per target."""
    cfg = small_config(model_type, d)
    cfg.update(over)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.json").write_text(json.dumps(cfg, default=str))
    cells = []
    for dtype, target in COMBOS:
        text = (
            '[model]\nextends = "config.json"\n'
            f'[train]\nbatch = {batch}\nseq_len = {n}\ndtype = "{dtype}"\n'
        )
        spec = load_spec_file(text, str(tmp / "m.archcheck.toml"), root=tmp).spec
        assert spec is not None
        res = probe.run(spec, device="fake", n=n, batch=batch, emulate=target)
        assert res.peak_bytes is not None, res.findings
        mem = estimate(spec, n=n, batch=batch, target=target).memory
        cells.append(f"{mem.total / res.peak_bytes - 1:+.2%} ({mem.phase})")
    extra = ", ".join(f"{k} {json.dumps(v)}" for k, v in over.items())
    return f"| {model_type} | {d} | {n} | {batch} | {extra} | " + " | ".join(cells) + " |"


def main(types: list[str]) -> None:
    print("| model_type | d | n | batch | config | fp32 cpu | bf16 cpu | bf16 cuda |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for t in types or list(KEYS):
        heads, layers = KEYS[t]
        print(case(t, 64, 512, 2), flush=True)
        print(case(t, 64, 256, 2), flush=True)
        print(case(t, 128, 192, 1), flush=True)
        print(case(t, 128, 64, 4), flush=True)
        print(case(t, 96, 256, 2, **{layers: 3}), flush=True)
        print(case(t, 64, 256, 3, **{heads: 2}), flush=True)
        print(case(t, 64, 128, 2, **{heads: 1}), flush=True)
        print(case(t, 64, 128, 2, **DROPOUT[t]), flush=True)
        print(case(t, 64, 512, 2, **DROPOUT[t]), flush=True)
        print(case(t, 256, 128, 2, **DROPOUT[t]), flush=True)
        print(case(t, 128, 64, 4, **DROPOUT[t]), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
