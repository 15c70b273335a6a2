"""The config.json adapter against the real transformers classes (issue #13).

Every config class in the installed transformers (`CONFIG_MAPPING`) goes through the adapter:
each must either give the real class's exact parameter count (built on the meta device from
the same config) or be refused with a finding that names the key and the architecture. Zero
silent mismatches. Then every shape-bearing key of each supported model_type is perturbed one
at a time (doubled, flipped, filled in), so a key the family does not understand cannot pass
unnoticed. Expected values are the real classes' `parameters()`, never our formulas.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

transformers = pytest.importorskip(
    "transformers", reason="transformers (extra `hf`) is the ground truth of these tests"
)
torch = pytest.importorskip("torch")

from pytest_archcheck.adapters.hf import (  # noqa: E402
    REAL_CLASS_ONLY,
    REFUSED,
    REFUSED_KEYS,
    SUPPORTED_MODEL_TYPES,
)

from .hf_truth import default_config, real_params, shrink, verdict  # noqa: E402

BENCHMARKS = Path(__file__).parents[2] / "docs" / "benchmarks.md"

warnings.filterwarnings("ignore", module="transformers")


def _sdpa(model_type: str) -> bool:
    """Whether transformers' own base class of the model_type supports SDPA."""
    name = transformers.models.auto.modeling_auto.MODEL_MAPPING_NAMES[model_type]
    return bool(getattr(transformers, name)._supports_sdpa)


def _sweep() -> tuple[list[str], list[str], list[str]]:
    """(exact, refused, unbuildable defaults) over every model_type in CONFIG_MAPPING."""
    exact, refused, skipped = [], [], []
    for model_type in sorted(transformers.CONFIG_MAPPING.keys()):
        try:
            cfg = default_config(model_type)
        except Exception:  # the config class rejects its own defaults (composite configs)
            skipped.append(model_type)
            continue
        v = verdict(shrink(cfg) if model_type in SUPPORTED_MODEL_TYPES else cfg)
        if v.params is None:
            assert v.code is not None and v.code.startswith("ARC3"), (model_type, v)
            refused.append(model_type)
            continue
        assert v.params == real_params(shrink(cfg)), f"silent mismatch: {model_type}"
        exact.append(model_type)
    return exact, refused, skipped


@pytest.mark.slow
def test_config_mapping_sweep_has_no_silent_mismatch() -> None:
    exact, refused, skipped = _sweep()
    assert sorted(exact) == sorted(SUPPORTED_MODEL_TYPES)
    total = len(exact) + len(refused) + len(skipped)
    assert total == len(list(transformers.CONFIG_MAPPING.keys()))
    # docs/benchmarks.md prints these numbers; this keeps them from going stale
    text = BENCHMARKS.read_text(encoding="utf-8")
    line = (
        f"transformers {transformers.__version__}: {total} config classes; "
        f"{len(exact)} exact, {len(refused)} refused with a finding, "
        f"{len(skipped)} whose default config cannot be built; 0 silent mismatches"
    )
    assert line in text, f"update docs/benchmarks.md with:\n{line}"


@pytest.mark.parametrize("model_type", SUPPORTED_MODEL_TYPES)
def test_default_config_is_exact(model_type: str) -> None:
    """The full default config.json (every key written out) and a bare {"model_type": ...}
    (every key at the class default: the adapter's own defaults are checked here)."""
    for cfg in (shrink(default_config(model_type), 2), {"model_type": model_type}):
        assert verdict(cfg).params == real_params(cfg), cfg


@pytest.mark.parametrize("model_type", sorted(REFUSED))
def test_refused_model_type_names_itself_and_what_to_do(model_type: str) -> None:
    v = verdict({"architectures": ["X"], "model_type": model_type})
    # {, "architectures": [, "X", ], then "model_type" on line 5 of the indented file
    assert (v.params, v.code, v.line) == (None, "ARC302", 5)
    assert repr(model_type) in v.message and "archcheck probe" in v.message


_FILL: dict[str, Any] = {
    # values for keys whose default is null, to exercise the branch that reads them
    "head_dim": 32,
    "n_inner": 1000,
    "word_embed_proj_dim": 256,
    "sliding_window": 16,
    "ffn_hidden_size": 1000,
    "num_ln_in_parallel_attn": 1,
    "num_kv_heads": 4,
}
_ACTS = ("hidden_act", "activation_function", "activation", "hidden_activation")


def _variants(cfg: dict[str, Any]) -> list[tuple[str, Any]]:
    """(key, new value) for every top-level key whose value might change a shape."""
    out: list[tuple[str, Any]] = []
    for key, value in cfg.items():
        if key in ("model_type", "transformers_version", "layer_types") or key.endswith("_id"):
            continue
        if isinstance(value, bool):
            out.append((key, not value))
        elif isinstance(value, int):
            out.append((key, value * 2 if value else 1))
        elif isinstance(value, float):
            out.append((key, value / 2 if value else 0.5))
        elif value is None and key in _FILL:
            out.append((key, _FILL[key]))
        elif key in _ACTS:
            out += [(key, "relu"), (key, "gelu")]
        elif isinstance(value, dict) and key == "attn_config":
            for sub, subval in value.items():
                if isinstance(subval, bool):
                    out.append((key, {**value, sub: not subval}))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model_type", SUPPORTED_MODEL_TYPES)
def test_every_key_either_counts_exactly_or_is_refused(model_type: str) -> None:
    base = shrink(default_config(model_type))
    silent: list[str] = []
    for key, value in _variants(base):
        cfg = {**base, key: value}
        try:
            real = real_params(cfg)
        except Exception:  # transformers itself rejects the value: nothing to compare
            continue
        v = verdict(cfg)
        if v.params is None:
            assert v.code == "ARC302", (key, v)
            continue
        if v.params != real:
            silent.append(f"{key}={value!r}: ours {v.params:,} != real {real:,}")
    assert not silent, f"{model_type}: silent mismatches:\n" + "\n".join(silent)


_DOCUMENTED = [(t, k) for t, keys in REFUSED_KEYS.items() if t != "*" for k in keys] + [
    (t, k) for t in ("gpt2", "bert", "llama") for k in REFUSED_KEYS["*"]
]


_REFUSED_VALUE: dict[str, Any] = {
    "decoder_sparse_step": 2, "mlp_only_layers": [0], "pooler_output_size": 32,
}  # fmt: skip


@pytest.mark.parametrize(("model_type", "key"), _DOCUMENTED)
def test_documented_refusals_are_refused_at_the_keys_line(model_type: str, key: str) -> None:
    """docs/supported-architectures.md lists these keys as refused: each is, at its line,
    naming the key and the architecture."""
    cfg = shrink(default_config(model_type))
    if model_type == "bert":
        cfg["is_decoder"] = True  # BERT builds cross-attention only in a decoder
    off = cfg.get(key, False)
    cfg[key] = _REFUSED_VALUE.get(key, True)
    v = verdict(cfg)
    assert v.code == "ARC302" and f"`{key}`" in v.message, v
    text = json.dumps(cfg, indent=2, default=str).splitlines()
    assert v.line is not None and f'"{key}"' in text[v.line - 1]
    if model_type in ("llama", "stablelm"):
        # Llama has no cross-attention (refusing is only caution); transformers 4.57.6 cannot
        # build StableLM with qk_layernorm (its _init_weights zeroes a LayerNorm bias of None)
        return
    assert real_params(cfg) != real_params({**cfg, key: off})


@pytest.mark.parametrize(
    "model_type", [t for t in SUPPORTED_MODEL_TYPES if t not in REAL_CLASS_ONLY]
)
def test_reference_module_holds_the_real_classes_parameters(model_type: str) -> None:
    """What `archcheck probe config.json` builds (the family's reference module, from the
    adapted spec) holds exactly the parameters of the transformers class."""
    from pytest_archcheck.families import family_of
    from pytest_archcheck.spec.load import load_spec_file

    cfg = shrink(default_config(model_type), 2)
    loaded = load_spec_file(json.dumps(cfg, default=str), "config.json")
    assert loaded.spec is not None
    with torch.device("meta"):
        module = family_of(loaded.spec).reference_module(loaded.spec)
    assert sum(p.numel() for p in module.parameters()) == real_params(cfg)


@pytest.mark.parametrize("model_type", SUPPORTED_MODEL_TYPES)
def test_every_formula_runs_on_the_adapted_spec(model_type: str) -> None:
    from pytest_archcheck.estimate import estimate
    from pytest_archcheck.spec.load import load_spec_file

    """`archcheck estimate` end to end on the full default config: every figure is computed
    and the parameter row is the real class's."""
    cfg = default_config(model_type)
    loaded = load_spec_file(json.dumps(cfg, default=str), "config.json")
    assert loaded.spec is not None
    out = estimate(loaded.spec).to_json()
    assert out["params"] == real_params(cfg)
    assert out["memory"]["total"] > out["memory"]["params"] > 0


@pytest.mark.parametrize("model_type", sorted(set(SUPPORTED_MODEL_TYPES) - set(REAL_CLASS_ONLY)))
def test_eager_attention_is_what_the_class_supports(model_type: str) -> None:
    """`eager_attention` is set exactly for the classes transformers builds without SDPA
    (`_supports_sdpa = False`: GPT-J, BLOOM, MPT in the pinned release)."""
    from pytest_archcheck.spec.load import load_spec_file

    loaded = load_spec_file(json.dumps(default_config(model_type), default=str), "config.json")
    assert loaded.spec is not None
    assert loaded.spec.model.eager_attention == (not _sdpa(model_type))
