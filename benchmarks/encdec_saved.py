"""What the real transformers encoder-decoders (T5, BART, Whisper) save for backward, per module
(issue #13): the measurement behind a future EncoderDecoder.forward_saved.

Builds each class from the small-width harness config (tests/adapters/test_hf_small_widths.py:
2 + 2 layers, 4 heads, d_ff 2d, vocab 300, batch 2, 64 source and 64 target positions), runs a
real fp32 CPU training forward (train mode, the config's dropout) under
torch.autograd.graph.saved_tensors_hooks, and sums the bytes of every distinct saved storage by
the innermost module running when it was saved. Run: PYTHONPATH=src python
benchmarks/encdec_saved.py [d] [model_type ...]
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import torch
import transformers

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "adapters"))
from test_hf_small_widths import sample_len, small_config

from pytest_archcheck.adapters.hf import MODELLED_CLASS
from pytest_archcheck.families import family_of
from pytest_archcheck.probe.hf_class import with_attention_mask
from pytest_archcheck.spec.load import load_spec_file


def saved_by_module(model_type: str, d: int) -> dict[str, int]:
    """Bytes of distinct storages saved for backward, keyed by the innermost module's name."""
    cfg = small_config(model_type, d)
    tmp = Path(tempfile.mkdtemp())
    (tmp / "config.json").write_text(json.dumps(cfg, default=str))
    text = '[model]\nextends = "config.json"\n[train]\nbatch = 2\nseq_len = 64\n'
    spec = load_spec_file(text, str(tmp / "m.archcheck.toml"), root=tmp).spec
    assert spec is not None
    config = transformers.AutoConfig.for_model(
        model_type, **{k: v for k, v in cfg.items() if k != "model_type"}
    )
    auto = getattr(transformers, MODELLED_CLASS[model_type])
    try:  # as the probe builds it (probe/hf_class.py): SDPA, else the class's eager attention
        model = auto.from_config(config, attn_implementation="sdpa").train()
    except ValueError:  # T5: eager only
        model = auto.from_config(config, attn_implementation="eager").train()
    inputs = family_of(spec).make_inputs(spec, sample_len(model_type), 2, "cpu")
    inputs = with_attention_mask(model, inputs)  # the mask of ones the probe passes too
    stack: list[str] = ["<top>"]
    names = {mod: name or "<root>" for name, mod in model.named_modules()}
    hooks = []
    for mod in model.modules():
        hooks.append(mod.register_forward_pre_hook(lambda m, a: stack.append(names[m])))
        hooks.append(mod.register_forward_hook(lambda m, a, o: stack.pop() and None))
    # weights (and the transposed views of them a Linear saves) are not activations
    seen: set[int] = {q.untyped_storage().data_ptr() for q in model.parameters()}
    out: dict[str, int] = defaultdict(int)

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in seen:
            seen.add(s.data_ptr())
            out[f"{stack[-1]} {tuple(t.shape)} {t.dtype}"] += s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(*inputs).logits
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), inputs[-1].flatten())
    for h in hooks:
        h.remove()
    loss.backward()
    return dict(out)


if __name__ == "__main__":
    d = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    for mt in sys.argv[2:] or ["t5", "bart", "whisper"]:
        rows = saved_by_module(mt, d)
        print(f"== {mt} d {d}: {sum(rows.values()):,} bytes saved in {len(rows)} groups")
        for key, nbytes in rows.items():
            print(f"{nbytes:>10,}  {key}")
