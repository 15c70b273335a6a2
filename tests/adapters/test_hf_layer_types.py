"""Hugging Face `layer_types` (Gemma-2, Gemma-3, Qwen2, Mistral): per-layer sliding / full
attention mapped onto `[model] window` and `global_every`, checked against the transformers
classes themselves (4.57): which keys a position sees (gradients through the real class), what
its KV cache holds after a forward (the class's own cache object), and its training peak (the
fake probe of the class).

Expected values come from the classes or by hand: transformers' sliding layer lets query q see
keys q - sliding_window + 1 .. q (masking_utils.sliding_window_overlay), so L sliding layers
reach L · (sliding_window - 1) positions back, and a global layer reaches every position.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_archcheck.spec.load import LoadedSpec, load_spec_file

TINY = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=4,
            head_dim=16, vocab_size=300, max_position_embeddings=1024)  # fmt: skip


def _load(tmp_path: Path, cfg: dict[str, Any], extra: str = "") -> LoadedSpec:
    text = json.dumps(cfg, indent=2)
    (tmp_path / "config.json").write_text(text, encoding="utf-8")
    spec_text = '[model]\nextends = "config.json"\n' + extra
    (tmp_path / "m.archcheck.toml").write_text(spec_text, encoding="utf-8")
    return load_spec_file(spec_text, str(tmp_path / "m.archcheck.toml"), root=tmp_path)


def _gemma2(layers: int, sliding_window: int, **kw: Any) -> dict[str, Any]:
    cfg = {"model_type": "gemma2", "num_hidden_layers": layers, "sliding_window": sliding_window}
    return {**TINY, **cfg, **kw}


# -- the mapping (no transformers needed) --------------------------------------------------


def test_gemma2_default_alternation_is_global_every_2(tmp_path: Path) -> None:
    """Gemma2Config fills layer_types with layer i full when (i + 1) % 2 == 0."""
    spec = _load(tmp_path, _gemma2(4, 32)).spec
    assert spec is not None
    m = spec.model
    assert (m.attention, m.window, m.global_every) == ("sliding", 31, 2)


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        # Gemma-3's sliding_window_pattern 6: every 6th layer full
        ((["sliding_attention"] * 5 + ["full_attention"]) * 2, ("sliding", 31, 6)),
        # 7 layers of pattern 3: full at 2 and 5, layer 6 sliding
        ((["sliding_attention"] * 2 + ["full_attention"]) * 2 + ["sliding_attention"],
         ("sliding", 31, 3)),
    ],
)  # fmt: skip
def test_explicit_regular_layer_types(tmp_path: Path, types: list[str], expected: tuple) -> None:
    spec = _load(tmp_path, _gemma2(len(types), 32, layer_types=types)).spec
    assert spec is not None
    assert (spec.model.attention, spec.model.window, spec.model.global_every) == expected


def test_all_sliding_and_all_full(tmp_path: Path) -> None:
    spec = _load(tmp_path, _gemma2(3, 32, layer_types=["sliding_attention"] * 3)).spec
    assert spec is not None
    assert (spec.model.attention, spec.model.window, spec.model.global_every) == (
        "sliding",
        31,
        None,
    )
    spec = _load(tmp_path, _gemma2(3, 32, layer_types=["full_attention"] * 3)).spec
    assert spec is not None
    assert (spec.model.attention, spec.model.global_every) == ("full", None)


def test_irregular_layer_types_is_arc302_at_the_key(tmp_path: Path) -> None:
    types = ["sliding_attention", "full_attention", "sliding_attention", "sliding_attention"]
    loaded = _load(tmp_path, _gemma2(4, 32, layer_types=types))
    assert loaded.spec is None
    (p,) = loaded.problems
    text = (tmp_path / "config.json").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if '"layer_types"' in t)
    assert "ARC302" in repr(p) or p.kind == "invalid-value"
    assert p.line == line
    assert "full-attention layers [1] of 4" in p.message
    assert "global_every" in p.message and "archcheck probe" in p.message


def test_other_layer_kinds_are_refused(tmp_path: Path) -> None:
    loaded = _load(tmp_path, _gemma2(2, 32, layer_types=["chunked_attention"] * 2))
    assert loaded.spec is None
    (p,) = loaded.problems
    assert "other layer kinds" in p.message


# -- against the real classes ---------------------------------------------------------------


def _real(cfg: dict[str, Any]) -> Any:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    kwargs = {k: v for k, v in cfg.items() if k != "model_type"}
    config = transformers.AutoConfig.for_model(cfg["model_type"], **kwargs)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(
        config, attn_implementation="sdpa", dtype=torch.float32
    )
    return model.eval()


def _measured_reach(cfg: dict[str, Any], n: int, at: int) -> int:
    """How far back the output at `at` depends on the input embeddings, by the gradient of
    the real class (the first position with a nonzero gradient)."""
    import torch

    model = _real(cfg)
    emb = torch.randn(1, n, cfg["hidden_size"], requires_grad=True)
    out = model(inputs_embeds=emb, use_cache=False).logits
    out[0, at].sum().backward()
    assert emb.grad is not None
    touched = (emb.grad[0].abs().sum(-1) > 0).nonzero().flatten()
    return at - int(touched.min())


def _reach(spec: Any) -> int | None:
    """The formula's reach per direction (None: unlimited)."""
    from pytest_archcheck.families import family_of

    return family_of(spec).path(spec, None, 64).reach


@pytest.mark.parametrize(("model_type", "layers", "sw"), [("mistral", 2, 8), ("mistral", 3, 5)])
def test_reach_of_a_sliding_stack_is_the_class(
    tmp_path: Path, model_type: str, layers: int, sw: int
) -> None:

    cfg = {**TINY, "model_type": model_type, "num_hidden_layers": layers, "sliding_window": sw}
    spec = _load(tmp_path, cfg).spec
    assert spec is not None
    measured = _measured_reach(cfg, 64, 50)
    assert measured == layers * (sw - 1)  # by hand: each layer sees sw - 1 keys back
    assert _reach(spec) == measured


def test_gemma2_global_layer_reaches_everything_and_sliding_ones_do_not(tmp_path: Path) -> None:
    cfg = _gemma2(2, 8)  # layer 0 sliding, layer 1 full
    spec = _load(tmp_path, cfg).spec
    assert spec is not None
    assert _measured_reach(cfg, 64, 50) == 50  # position 0: unlimited
    assert _reach(spec) is None
    only_sliding = _gemma2(2, 8, layer_types=["sliding_attention"] * 2)
    spec = _load(tmp_path, only_sliding).spec
    assert spec is not None
    assert _measured_reach(only_sliding, 64, 50) == 14 == _reach(spec)


def test_kv_cache_is_what_the_class_caches(tmp_path: Path) -> None:
    """After a forward of n > window with use_cache, the class's cache holds sliding_window - 1
    positions in its sliding layers and all n in its full layers; the formula's KV cache at
    [infer] seq_len n is the bytes of those tensors."""
    import torch

    from pytest_archcheck.formulas.kvcache import kv_cache_from_spec

    n = 100
    cfg = _gemma2(4, 32)
    spec = _load(tmp_path, cfg, f"[infer]\nbatch = 1\nseq_len = {n}\ndtype = 'fp32'\n").spec
    assert spec is not None
    model = _real(cfg)
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, 300, (1, n)), use_cache=True)
    layers = out.past_key_values.layers
    held = [(lay.keys.shape[-2], lay.keys.nbytes + lay.values.nbytes) for lay in layers]
    assert [pos for pos, _ in held] == [31, n, 31, n]
    assert kv_cache_from_spec(spec) == sum(b for _, b in held)


@pytest.mark.slow
@pytest.mark.parametrize("softcap", [None, 30.0])
@pytest.mark.parametrize("layers", [2, 4])
def test_training_peak_against_the_real_gemma2_class(
    tmp_path: Path, layers: int, softcap: float | None
) -> None:
    """Formula vs the fake probe of Gemma2ForCausalLM at n 128 > window 32, CPU target, with
    and without final_logit_softcapping (its tanh keeps a logits-sized output:
    `logit_softcap`; it was -1.8 % at 4 layers before the formula counted it).

    Within 2 % (the issue's bar). The gap was +3.41 % / +4.00 % while the formula counted a
    fused q/k/v projection: the class projects q, k and v separately and frees the unrotated q
    and k, which `[model] fused_projections = false` (set by the adapter) now models."""
    from pytest_archcheck import probe
    from pytest_archcheck.estimate import estimate

    pytest.importorskip("transformers")
    cfg = _gemma2(layers, 32, final_logit_softcapping=softcap)
    spec = _load(tmp_path, cfg, "[train]\nbatch = 2\nseq_len = 128\n").spec
    assert spec is not None and spec.model.global_every == 2
    e = estimate(spec, target="cpu")
    res = probe.run(spec, device="fake", n=128, batch=2, emulate="cpu")
    assert res.peak_bytes is not None, res.findings
    assert res.extra["model"].startswith("transformers "), res.extra["model"]
    assert abs(e.memory.total / res.peak_bytes - 1) < 0.02, (e.memory.total, res.peak_bytes)


def test_gemma2_on_cuda_bf16_with_gqa_is_refused_not_a_crash(tmp_path: Path) -> None:
    """The reference stack's windowed layers would run the math kernel and its global layers
    flash (CUDA, bf16, grouped-query attention): the memory budget is not checked (ARC307,
    naming the fix and the probe) and no rule computes a number from it (check used to end in
    an internal error here). It is a real model, not an inconsistent spec: the probe of the
    class still measures it."""
    from pytest_archcheck import probe
    from pytest_archcheck.engine import check_paths

    cfg = _gemma2(2, 32, num_key_value_heads=2)
    extra = '[train]\ndtype = "bf16"\n[budget]\ndevice = "H100-80GB"\nmemory = "80 GiB"\n'
    loaded = _load(tmp_path, cfg, extra)
    assert loaded.spec is not None and loaded.spec.model.global_every == 2
    findings = check_paths([str(tmp_path / "m.archcheck.toml")], pyprojects=False).findings
    (f,) = [f for f in findings if f.code == "ARC307"]
    assert "per-layer kernels are not modelled" in f.message
    assert f.fix is not None and 'attention_kernel = "math"' in f.fix and "--probe" in f.fix
    assert {f.code for f in findings} <= {"ARC307", "ARC211"}
    res = probe.run(loaded.spec, device="fake", n=128, batch=1)
    assert res.peak_bytes is not None and res.peak_bytes > 0, res.findings
    assert res.extra["model"].startswith("transformers "), res.extra["model"]
    fixed = _load(tmp_path, cfg, extra.replace('"bf16"\n', '"bf16"\nattention_kernel = "math"\n'))
    assert fixed.spec is not None
    codes = {f.code for f in check_paths([str(tmp_path / "m.archcheck.toml")],
                                         pyprojects=False).findings}  # fmt: skip
    assert "ARC307" not in codes


def test_qwen2_max_window_layers_must_be_a_count(tmp_path: Path) -> None:
    cfg = {**TINY, "model_type": "qwen2", "num_hidden_layers": 4, "use_sliding_window": True,
           "sliding_window": 32, "max_window_layers": "two"}  # fmt: skip
    loaded = _load(tmp_path, cfg)
    assert loaded.spec is None
    (p,) = loaded.problems
    assert '`max_window_layers` = "two" is not a layer count' in p.message
    cfg["max_window_layers"] = 0  # every layer sliding
    spec = _load(tmp_path, cfg).spec
    assert spec is not None and (spec.model.attention, spec.model.window) == ("sliding", 31)
