"""Hugging Face `config.json` -> spec tables, one small mapping per `model_type`.

Each family names its keys differently (n_embd, hidden_size, d_model), omits keys whose
transformers default applies (GPT-2 `n_inner: null` = 4·d, Llama `num_key_value_heads` absent =
heads) and carries quirks the spec must hear about (RoBERTa's two reserved position rows, OPT's
offset of 2, Gemma's explicit head_dim, Falcon's multi-query attention, GPT-J's parallel block
and LM-head bias). Defaults below are the transformers 4.57 `*Config` defaults; the shapes are
those of the class `MODELLED_CLASS` names (the causal LM of a decoder, the base model of an
encoder), which `tests/adapters/test_hf_conformance.py` builds on the meta device and compares
exactly, key by key.

Never a silent wrong number: a model_type whose shapes the Transformer family cannot express
(encoder-decoders, mixtures of experts, ViT: `REFUSED`) and a key that changes shapes in a way
it cannot express (StableLM's `qk_layernorm`, `add_cross_attention`) are ARC302 at that key's
line, naming the architecture and what to do instead (measure the real class).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

from ..spec.locate import Key
from . import Adapted, AdapterError, Tables
from .jsonlines import json_key_lines

HFConfig = dict[str, Any]


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class _Reader:
    """Reads HF keys and writes spec keys, remembering the source line of each."""

    def __init__(self, cfg: HFConfig, src: dict[Key, int], prefix: Key = ()) -> None:
        self.cfg, self.src, self.prefix = cfg, src, prefix
        self.tables: Tables = {"model": {}}
        self.lines: dict[Key, int] = {}
        self.sources: dict[Key, str] = {}
        self.notes: list[str] = []

    def line(self, *names: str) -> int | None:
        for name in names:
            path = (*self.prefix, *name.split("."))
            if path in self.src:
                return self.src[path]
        return None

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, *names: str, default: Any = None) -> Any:
        """The first of `names` present and not null (dotted names reach into sub-objects)."""
        for name in names:
            node: Any = self.cfg
            for part in name.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                return node
        return default

    def put(self, table: str, key: str, value: Any, *names: str) -> None:
        """Set `table.key`, located at the first of the HF keys `names` the file has."""
        if value is None:
            return
        self.tables.setdefault(table, {})[key] = value
        present = [name for name in names if self.get(name) is not None]
        if present or names:
            self.sources[(table, key)] = (present or list(names))[0]
        line = self.line(*names, "model_type")
        if line is not None:
            self.lines[(table, key)] = line

    def take(self, table: str, key: str, *names: str, default: Any = None) -> Any:
        """Copy the first present HF key of `names` (else `default`) to `table.key`."""
        value = self.get(*names, default=default)
        self.put(table, key, value, *names)
        return value


def _dtype(r: _Reader) -> None:
    value = r.get("torch_dtype", "dtype")
    short = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}.get(str(value))
    if short is not None:
        r.put("infer", "dtype", short, "torch_dtype", "dtype")


# transformers' ACT2FN names -> (the spec's non-gated `mlp`, its `activation` when the saved
# tensors differ from the kind's default kernel). Measured with saved_tensors_hooks on
# transformers 4.57's activations (families.transformer.ACT_SAVED).
_ACTS: dict[str, tuple[str, str | None]] = {
    "gelu": ("gelu", None),
    "gelu_pytorch_tanh": ("gelu", None),  # F.gelu(approximate="tanh"): one kernel, as "gelu"
    "gelu_new": ("gelu", "gelu_new"),
    "gelu_accurate": ("gelu", "gelu_new"),  # the same decomposed tanh form, other constants
    "gelu_fast": ("gelu", "gelu_fast"),
    "quick_gelu": ("gelu", "quick_gelu"),
    "gelu_python": ("gelu", "gelu_python"),
    "relu": ("relu", None),
    "silu": ("gelu", "silu"),
    "swish": ("gelu", "silu"),
}


def _act(r: _Reader, key: str, default: str) -> None:
    """`mlp` (and `activation` where the saved tensors differ) of a non-gated MLP's hidden
    activation; a name the family has no saved-tensor model for is ARC302 at the key (it used
    to be counted as GELU, silently)."""
    name = r.get(key, default=default)
    kind = _ACTS.get(str(name).lower()) if isinstance(name, str) else None
    if kind is None:
        raise AdapterError(
            "ARC302",
            f"`{key}` = {json.dumps(name)}: the activation's saved tensors are not modelled "
            f"(known: {', '.join(sorted(_ACTS))}), so the training peak would be wrong. "
            "Measure the real class instead (`archcheck probe config.json --device fake`)",
            r.line(key) or r.line("model_type") or 1,
        )
    r.put("model", "mlp", kind[0], key)
    r.put("model", "activation", kind[1], key)


def _partial_rotary(r: _Reader, fraction: object, key: str, concat: bool = False) -> None:
    """`rotary_dim` from a fraction of the head rotated (transformers: int(head_dim * f)):
    when part of the head is rotated, or always where the class slices and concatenates
    (`concat`: GPT-NeoX, Phi, Phi-3, StableLM)."""
    m = r.tables["model"]
    h, heads, size = _int(m.get("d_model")), _int(m.get("heads")), _int(m.get("head_size"))
    if not isinstance(fraction, (int, float)) or isinstance(fraction, bool):
        return
    hd = size if size else (h // heads if h and heads else None)
    if not hd:
        return
    dims = int(hd * fraction)
    if 0 < dims < hd or (concat and dims == hd):
        r.put("model", "rotary_dim", dims - dims % 2, key)


def _gpt2(r: _Reader) -> None:
    m = "model"
    d = r.take(m, "d_model", "n_embd", default=768)
    r.take(m, "layers", "n_layer", default=12)
    r.take(m, "heads", "n_head", default=12)
    inner = r.get("n_inner")  # null (or absent) means 4·d
    r.put(m, "d_ff", inner if inner is not None else (4 * d if _int(d) else None), "n_inner")
    r.take(m, "vocab", "vocab_size", default=50257)
    r.take(m, "max_positions", "n_positions", "n_ctx", default=1024)
    _act(r, "activation_function", "gelu_new")
    r.put(m, "norm", "layernorm")
    r.put(m, "bias", "all")
    r.put(m, "positional", "learned")
    r.put(m, "causal", True)
    r.put(m, "causal_mask_buffer", True)  # GPT2Attention's `bias` and `masked_bias` buffers
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "resid_pdrop", default=0.1)
    r.take("train", "attention_dropout", "attn_pdrop", default=0.1)
    r.take("train", "embedding_dropout", "embd_pdrop", default=0.1)


def _bert(r: _Reader, roberta: bool = False, vocab: int | None = None) -> None:
    """BERT and RoBERTa as their base models (BertModel: pooler, no LM head), post-norm."""
    m = "model"
    r.take(m, "d_model", "hidden_size", default=768)
    r.take(m, "layers", "num_hidden_layers", default=12)
    r.take(m, "heads", "num_attention_heads", default=12)
    r.take(m, "d_ff", "intermediate_size", default=3072)
    r.take(m, "vocab", "vocab_size", default=vocab or (50265 if roberta else 30522))
    r.take(m, "max_positions", "max_position_embeddings", default=512)
    r.take(m, "type_vocab", "type_vocab_size", default=2)
    pad = r.take(m, "pad_id", "pad_token_id", default=1 if roberta else 0)
    if roberta and _int(pad) is not None:
        # positions start at pad_token_id + 1: the table's first rows are never used
        r.put(m, "position_offset", pad + 1, "pad_token_id")
    kind = r.get("position_embedding_type", default="absolute")
    positional = "learned" if kind == "absolute" else "relative"
    r.put(m, "positional", positional, "position_embedding_type")
    _act(r, "hidden_act", "gelu")
    r.put(m, "norm", "layernorm")
    r.put(m, "norm_placement", "post")
    r.put(m, "fused_projections", False)  # query / key / value
    r.put(m, "bias", "all")
    r.put(m, "causal", bool(r.get("is_decoder", default=False)), "is_decoder")
    r.put(m, "pooler", True)
    r.put(m, "head", "none")
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "hidden_dropout_prob", default=0.1)
    r.take("train", "attention_dropout", "attention_probs_dropout_prob", default=0.1)


_LEGACY_BIAS = {"all": {"qkv", "out", "mlp", "norm"}, "qkv": {"qkv", "norm"}, "none": set()}


def _biases(r: _Reader, parts: list[str], *names: str) -> None:
    """Which parts carry a bias: the plain `bias` value when one says it exactly (a norm's
    bias only matters for a LayerNorm), else the `biases` list."""
    have = set(parts)
    ln = r.tables["model"].get("norm", "layernorm") == "layernorm"
    for name, legacy in _LEGACY_BIAS.items():
        if have == legacy or (not ln and have - {"norm"} == legacy - {"norm"}):
            r.put("model", "bias", name, *names)
            return
    r.put("model", "biases", sorted(have), *names)


def _refuse(r: _Reader, key: str, arch: str, why: str) -> NoReturn:
    """ARC302 at `key`'s line: this config's shapes depend on `key` in a way the Transformer
    family does not model, so any parameter count would be wrong."""
    raise AdapterError(
        "ARC302",
        f"{arch}: `{key}` = {json.dumps(r.get(key))} {why}; the parameter count would be wrong, "
        "so it is not estimated. Measure the real class instead (model.factory pointing at "
        "the transformers class, then `archcheck probe --device fake`)",
        r.line(key) or r.line("model_type") or 1,
    )


def _gate(r: _Reader, key: str, arch: str) -> str:
    """The gated MLP of a hidden activation: SiLU -> swiglu, any GELU -> geglu."""
    act = str(r.get(key, default="silu")).lower()
    if act in ("silu", "swish"):
        return "swiglu"
    if act.startswith("gelu") and act in _ACTS:
        r.put("model", "activation", _ACTS[act][1], key)  # a decomposed GELU saves more
        return "geglu"
    _refuse(r, key, arch, "is a gated activation the spec has no name for")


def _windows(r: _Reader, arch: str, sliding: Callable[[int], bool]) -> None:
    """`attention`/`window`/`global_every` from `sliding_window` and the per-layer
    `layer_types` (or, when the file has none, `sliding(i)`: the rule the model_type's config
    class fills it with -- Gemma-2 `(i + 1) % 2`, Qwen2 `i >= max_window_layers`, Mistral all).

    transformers' sliding layer lets query q see keys q - sliding_window + 1 .. q
    (masking_utils.sliding_window_overlay: `kv_idx > q_idx - sliding_window`), the spec's
    window w keys q - w .. q: window = sliding_window - 1 (reach and KV cache per layer: its
    sliding cache keeps sliding_window - 1 past positions). Every layer sliding: a windowed
    stack; every k-th full ((i + 1) % k == 0, as Gemma-2 and Gemma-3): `global_every = k`; none:
    full attention. Any other mix (Qwen2's full-then-sliding, an irregular list, another layer
    type) is ARC302 at `layer_types`: per-layer memory, FLOPs and KV cache would be wrong."""
    m = "model"
    window = _int(r.get("sliding_window"))
    layers = _int(r.tables[m].get("layers")) or 0
    types = r.get("layer_types")
    key = "layer_types" if types is not None else "sliding_window"
    # where an irregular mix is decided: the list, else the key the config class builds it from
    decided = ("layer_types",) if types is not None else ("max_window_layers", "sliding_window")
    if types is None:
        types = ["sliding_attention" if sliding(i) else "full_attention" for i in range(layers)]
    known = ("sliding_attention", "full_attention")
    if not isinstance(types, list) or any(t not in known for t in types):
        raise AdapterError(
            "ARC302",
            f"{arch}: `layer_types` must list {' or '.join(map(repr, known))} per layer; "
            f"{json.dumps(types)[:120]} holds other layer kinds, which are not modelled. Measure "
            "the real class instead (`archcheck probe`)",
            r.line("layer_types") or r.line("model_type") or 1,
        )
    slide = [t == "sliding_attention" for t in types]
    if not window or not any(slide):
        r.put(m, "attention", "full", key, "sliding_window")
        return
    if window < 2:
        _refuse(r, "sliding_window", arch, "lets a token see only itself")
    k = next((k for k in range(2, len(slide) + 1)
              if all(s == ((i + 1) % k != 0) for i, s in enumerate(slide))), None)  # fmt: skip
    if not all(slide) and k is None:
        full = [i for i, s in enumerate(slide) if not s]
        raise AdapterError(
            "ARC302",
            f"{arch}: the full-attention layers {full} of {len(slide)} are not every k-th layer "
            "(layer i full when (i + 1) % k == 0, as Gemma-2 and Gemma-3), so the spec's "
            "`global_every` cannot describe them and per-layer memory, FLOPs and the KV cache "
            'would be wrong. Write the spec by hand (attention = "sliding", window = '
            f"{window - 1}, global_every = k for the nearest regular pattern; or attention = "
            '"full" for an upper bound), or measure the real class (`archcheck probe`)',
            r.line(*decided) or r.line("model_type") or 1,
        )
    r.put(m, "attention", "sliding", key, "sliding_window")
    r.put(m, "window", window - 1, "sliding_window")
    if k is not None:
        r.put(m, "global_every", k, key, "sliding_window")


def _llama_like(r: _Reader, arch: str, d: HFConfig) -> None:
    """The Llama layout most decoders share: token embedding, pre-norm blocks of q/k/v/o
    attention (grouped-query, explicit head_dim) and a gated MLP, a final norm, an LM head.
    `d` holds the transformers defaults of this model_type's config class (and, under
    "rotary", where a class reads its rotated fraction: `_partial_rotary`)."""
    m = "model"
    h = r.take(m, "d_model", "hidden_size", default=d["hidden_size"])
    r.take(m, "layers", "num_hidden_layers", default=d["layers"])
    heads = r.take(m, "heads", "num_attention_heads", default=d["heads"])
    r.take(m, "kv_heads", "num_key_value_heads", default=d.get("kv_heads", heads))
    r.take(m, "d_ff", "intermediate_size", default=d["d_ff"])
    r.take(m, "vocab", "vocab_size", default=d["vocab"])
    r.take(m, "max_positions", "max_position_embeddings", default=d.get("max_positions"))
    head_dim = _int(r.get("head_dim", default=d.get("head_dim")))
    if head_dim and _int(h) and _int(heads) and head_dim * heads != h:
        r.put(m, "head_size", head_dim, "head_dim")
    r.put(m, "positional", "rotary", "rope_parameters", "rope_theta", "rope_scaling")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=d.get("tied", False))
    # Llama-style blocks drop only the attention probabilities (no residual dropout)
    r.take("train", "attention_dropout", "attention_dropout", default=0.0)
    # q_proj/k_proj/v_proj and gate_proj/up_proj (Phi-3 fuses them: `_llama` says so)
    r.put(m, "fused_projections", False)
    # the rotated part of each head: (config key, transformers' default, slice-and-concatenate)
    key, fraction, concat = d.get("rotary", ("partial_rotary_factor", 1.0, False))
    _partial_rotary(r, r.get(key, default=fraction), key, concat)


def _llama(r: _Reader, model_type: str) -> None:
    """Llama, Mistral, Qwen2, Gemma, Phi-3, OLMo (`model_type` is Hugging Face's, not our
    family): RMSNorm, gated MLP, rotary positions, grouped-query attention."""
    d = LLAMA_DEFAULTS[model_type]
    arch = d["arch"]
    _llama_like(r, arch, d)
    m = "model"
    r.put(m, "mlp", _gate(r, d.get("act_key", "hidden_act"), arch), d.get("act_key", "hidden_act"))
    r.put(m, "norm", "rmsnorm", "rms_norm_eps")
    qkv = model_type == "qwen2" or (model_type == "qwen2_moe" and r.get("qkv_bias", default=True))
    parts: list[str] = ["qkv"] if qkv else []
    if r.get("attention_bias", default=False):
        parts += ["qkv", "out"] if "qkv" not in parts else ["out"]
    if r.get("mlp_bias", default=False):
        parts.append("mlp")
    _biases(r, parts, "attention_bias", "mlp_bias")
    if model_type == "phi3":  # qkv_proj and gate_up_proj; rotary by slice and concatenate
        r.put(m, "fused_projections", True)
    if model_type == "olmo":  # OlmoLayerNorm: F.layer_norm without weight or bias
        r.put(m, "norm", "layernorm")
        r.put(m, "norm_affine", False)
    if model_type == "gemma2":  # sandwich norms: before and after attention and MLP
        r.put(m, "layer_norms", 4)
        # Gemma2Config's default is 30.0; null in the file switches it off
        present = "final_logit_softcapping" in r.cfg
        cap = r.cfg["final_logit_softcapping"] if present else 30.0
        if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0:
            r.put(m, "logit_softcap", float(cap), "final_logit_softcapping")
    if model_type == "mixtral":
        r.take(m, "experts", "num_local_experts", default=8)
        r.take(m, "experts_per_token", "num_experts_per_tok", default=2)
    if model_type == "qwen2_moe":
        _qwen2_moe(r, arch)
    if model_type not in ("qwen2", "qwen2_moe"):
        every = model_type in ("mistral", "phi3", "mixtral")
        _windows(r, arch, lambda i: every or (model_type == "gemma2" and (i + 1) % 2 != 0))
    elif r.get("use_sliding_window", default=False):
        # Qwen2 windows the layers from max_window_layers on (Qwen2Config.layer_types)
        mwl = _int(r.get("max_window_layers", default=28))
        if mwl is None:
            raise AdapterError(
                "ARC302",
                f"{arch}: `max_window_layers` = {json.dumps(r.get('max_window_layers'))} is not "
                "a layer count: write the number of leading full-attention layers",
                r.line("max_window_layers") or 1,
            )
        _windows(r, arch, lambda i: i >= mwl)
    else:
        r.put(m, "attention", "full", "use_sliding_window")


def _qwen2_moe(r: _Reader, arch: str) -> None:
    """Qwen2-MoE: every block's MLP is `num_experts` experts of moe_intermediate_size (top
    num_experts_per_tok) plus a shared expert of shared_expert_intermediate_size behind a
    sigmoid gate. Dense blocks in between (decoder_sparse_step, mlp_only_layers) are refused."""
    m = "model"
    step = r.get("decoder_sparse_step", default=1)
    if step != 1:
        _refuse(r, "decoder_sparse_step", arch, "mixes dense and MoE blocks")
    if r.get("mlp_only_layers", default=[]):
        _refuse(r, "mlp_only_layers", arch, "mixes dense and MoE blocks")
    r.take(m, "experts", "num_experts", default=60)
    r.take(m, "experts_per_token", "num_experts_per_tok", default=4)
    r.take(m, "expert_d_ff", "moe_intermediate_size", default=1408)
    r.take(m, "shared_d_ff", "shared_expert_intermediate_size", default=5632)
    r.put(m, "shared_gate", True, "shared_expert_intermediate_size")


LLAMA_DEFAULTS: dict[str, HFConfig] = {
    # transformers 4.57 *Config defaults (layers, widths, vocab, tying) of each model_type
    "llama": {"arch": "Llama", "hidden_size": 4096, "layers": 32, "heads": 32, "d_ff": 11008,
              "vocab": 32000, "max_positions": 2048},
    "mistral": {"arch": "Mistral", "hidden_size": 4096, "layers": 32, "heads": 32, "kv_heads": 8,
                "d_ff": 14336, "vocab": 32000, "max_positions": 131072},
    "qwen2": {"arch": "Qwen2", "hidden_size": 4096, "layers": 32, "heads": 32, "d_ff": 22016,
              "vocab": 151936, "max_positions": 32768},
    "gemma": {"arch": "Gemma", "hidden_size": 3072, "layers": 28, "heads": 16, "d_ff": 24576,
              "vocab": 256000, "max_positions": 8192, "head_dim": 256, "tied": True,
              "act_key": "hidden_act"},
    "gemma2": {"arch": "Gemma-2", "hidden_size": 2304, "layers": 26, "heads": 8, "kv_heads": 4,
               "d_ff": 9216, "vocab": 256000, "max_positions": 8192, "head_dim": 256,
               "tied": True, "act_key": "hidden_activation"},
    "phi3": {"arch": "Phi-3", "hidden_size": 3072, "layers": 32, "heads": 32, "d_ff": 8192,
             "vocab": 32064, "max_positions": 4096,
             "rotary": ("partial_rotary_factor", 1.0, True)},
    "mixtral": {"arch": "Mixtral", "hidden_size": 4096, "layers": 32, "heads": 32, "kv_heads": 8,
                "d_ff": 14336, "vocab": 32000, "max_positions": 131072},
    "qwen2_moe": {"arch": "Qwen2-MoE", "hidden_size": 2048, "layers": 24, "heads": 16,
                  "d_ff": 5632, "vocab": 151936, "max_positions": 32768},
    "olmo": {"arch": "OLMo", "hidden_size": 4096, "layers": 32, "heads": 32, "d_ff": 11008,
             "vocab": 50304, "max_positions": 2048},
}  # fmt: skip


def _stablelm(r: _Reader) -> None:
    """StableLM: Llama's blocks with LayerNorms (with bias), optional q/k/v bias, optional
    parallel residual (one norm), partial rotary (no parameters)."""
    arch, m = "StableLM", "model"
    d = {"hidden_size": 2560, "layers": 32, "heads": 32, "d_ff": 6912, "vocab": 50304,
         "max_positions": 4096, "rotary": ("partial_rotary_factor", 0.25, True)}  # fmt: skip
    _llama_like(r, arch, d)
    if r.get("qk_layernorm", default=False):
        _refuse(r, "qk_layernorm", arch, "adds per-head q/k LayerNorms")
    r.put(m, "kv_repeat", True)  # StableLmSdpaAttention calls repeat_kv before SDPA
    r.put(m, "mlp", _gate(r, "hidden_act", arch), "hidden_act")
    r.put(m, "norm", "layernorm", "layer_norm_eps")
    qkv = bool(r.get("use_qkv_bias", default=False))
    _biases(r, ["qkv", "norm"] if qkv else ["norm"], "use_qkv_bias")
    if r.get("use_parallel_residual", default=False):
        r.put(m, "parallel", True, "use_parallel_residual")
        r.put(m, "layer_norms", 1, "use_parallel_residual")
    r.put(m, "attention", "full")


def _starcoder2(r: _Reader) -> None:
    """StarCoder2: GQA with LayerNorms, biases everywhere (use_bias), a non-gated GELU MLP."""
    arch, m = "StarCoder2", "model"
    d = {"hidden_size": 3072, "layers": 30, "heads": 24, "kv_heads": 2, "d_ff": 12288,
         "vocab": 49152, "max_positions": 4096, "tied": True}  # fmt: skip
    _llama_like(r, arch, d)
    _act(r, "hidden_act", "gelu_pytorch_tanh")
    r.put(m, "norm", "layernorm", "norm_epsilon")
    bias = bool(r.get("use_bias", default=True))
    _biases(r, ["qkv", "out", "mlp", "norm"] if bias else ["norm"], "use_bias")
    _windows(r, arch, lambda i: True)


def _gpt_neox(r: _Reader) -> None:
    """GPT-NeoX / Pythia: fused q/k/v with bias, parallel attention + MLP with their own
    norms (use_parallel_residual), partial rotary, untied embed_out."""
    arch, m = "GPT-NeoX", "model"
    d = {"hidden_size": 6144, "layers": 44, "heads": 64, "d_ff": 24576, "vocab": 50432,
         "max_positions": 2048, "rotary": ("rotary_pct", 0.25, True)}  # fmt: skip
    _llama_like(r, arch, d)
    r.put(m, "fused_projections", True)  # one query_key_value projection
    r.tables[m].pop("head_size", None)
    _act(r, "hidden_act", "gelu")
    r.put(m, "norm", "layernorm", "layer_norm_eps")
    attn = ["qkv", "out"] if r.get("attention_bias", default=True) else []
    _biases(r, [*attn, "mlp", "norm"], "attention_bias")
    r.put(
        m, "parallel", bool(r.get("use_parallel_residual", default=True)), "use_parallel_residual"
    )
    r.put(m, "attention", "full")


def _gptj(r: _Reader) -> None:
    """GPT-J: one LayerNorm feeds attention (no biases) and MLP (biases) in parallel; partial
    rotary; an LM head with a bias."""
    m = "model"
    r.put(m, "eager_attention", True)  # GPTJForCausalLM: _supports_sdpa = False
    h = r.take(m, "d_model", "n_embd", default=4096)
    r.take(m, "layers", "n_layer", default=28)
    r.take(m, "heads", "n_head", default=16)
    inner = r.get("n_inner")
    r.put(m, "d_ff", inner if inner is not None else (4 * h if _int(h) else None), "n_inner")
    r.take(m, "vocab", "vocab_size", default=50400)
    r.take(m, "max_positions", "n_positions", default=2048)
    _act(r, "activation_function", "gelu_new")
    r.put(m, "norm", "layernorm", "layer_norm_epsilon")
    _biases(r, ["mlp", "norm", "head"])
    r.put(m, "parallel", True)
    r.put(m, "layer_norms", 1)
    r.put(m, "fused_projections", False)  # q_proj / k_proj / v_proj
    r.put(m, "positional", "rotary", "rotary_dim")
    r.put(m, "rotary_interleaved", True)  # rotate_every_two, sin/cos per layer
    r.put(m, "fp32_logits", True)  # GPTJForCausalLM: lm_head(...).to(torch.float32)
    rot, heads = _int(r.get("rotary_dim", default=64)), _int(r.tables[m].get("heads"))
    if rot and heads and _int(h) and rot < h // heads:
        r.put(m, "rotary_dim", rot, "rotary_dim")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=False)
    r.take("train", "dropout", "resid_pdrop", default=0.0)
    r.take("train", "attention_dropout", "attn_pdrop", default=0.0)


def _falcon(r: _Reader) -> None:
    """Falcon: multi-query (7B) or grouped KV (new_decoder_architecture, 40B/180B), parallel
    attention + MLP under one or two LayerNorms, no linear biases unless `bias`."""
    arch, m = "Falcon", "model"
    h = r.take(m, "d_model", "hidden_size", default=4544)
    r.take(m, "layers", "num_hidden_layers", default=32)
    heads = r.take(m, "heads", "num_attention_heads", default=71)
    new = bool(r.get("new_decoder_architecture", default=False))
    parallel = bool(r.get("parallel_attn", default=True))
    if new:
        r.take(m, "kv_heads", "num_kv_heads", default=heads)
        norms = r.get("num_ln_in_parallel_attn", default=2)
        r.put(m, "layer_norms", norms if norms in (1, 2) else 2, "num_ln_in_parallel_attn")
        parallel = True
    elif r.get("multi_query", default=True):
        r.put(m, "kv_heads", 1, "multi_query")
        r.put(m, "layer_norms", 1 if parallel else 2, "parallel_attn")
    else:
        r.put(m, "layer_norms", 1 if parallel else 2, "parallel_attn")
    r.put(m, "parallel", parallel, "parallel_attn", "new_decoder_architecture")
    ffn = r.get("ffn_hidden_size")
    r.put(m, "d_ff", ffn if ffn is not None else (4 * h if _int(h) else None), "ffn_hidden_size")
    r.take(m, "vocab", "vocab_size", default=65024)
    r.take(m, "max_positions", "max_position_embeddings", default=2048)
    _act(r, "activation", "gelu")
    r.put(m, "norm", "layernorm", "layer_norm_epsilon")
    bias = bool(r.get("bias", default=False))
    _biases(r, ["qkv", "out", "mlp", "norm"] if bias else ["norm"], "bias")
    alibi = bool(r.get("alibi", default=False))
    r.put(m, "positional", "alibi" if alibi else "rotary", "alibi")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "hidden_dropout", default=0.0)
    r.take("train", "attention_dropout", "attention_dropout", default=0.0)
    _ = arch


def _phi(r: _Reader) -> None:
    """Phi-1/1.5/2: one LayerNorm feeds attention and MLP in parallel, biases everywhere
    (the LM head too), partial rotary."""
    arch, m = "Phi-2", "model"
    d = {"hidden_size": 2048, "layers": 24, "heads": 32, "d_ff": 8192, "vocab": 51200,
         "max_positions": 2048, "rotary": ("partial_rotary_factor", 0.5, True)}  # fmt: skip
    _llama_like(r, arch, d)
    if r.get("qk_layernorm", default=False):
        _refuse(r, "qk_layernorm", arch, "adds q/k LayerNorms")
    _act(r, "hidden_act", "gelu_new")
    r.put(m, "norm", "layernorm", "layer_norm_eps")
    _biases(r, ["qkv", "out", "mlp", "norm", "head"])
    r.put(m, "parallel", True)
    r.put(m, "layer_norms", 1)
    r.put(m, "attention", "full")
    r.take("train", "dropout", "resid_pdrop", default=0.0)


def _opt(r: _Reader) -> None:
    """OPT: learned positions with two reserved rows, biases, ReLU; word_embed_proj_dim !=
    hidden_size adds project_in/out (350m); do_layer_norm_before = false is post-norm without
    a final norm."""
    arch, m = "OPT", "model"
    r.take(m, "d_model", "hidden_size", default=768)
    r.take(m, "layers", "num_hidden_layers", default=12)
    r.take(m, "heads", "num_attention_heads", default=12)
    r.take(m, "d_ff", "ffn_dim", default=3072)
    r.take(m, "vocab", "vocab_size", default=50272)
    rows = r.get("max_position_embeddings", default=2048)
    if _int(rows):
        r.put(m, "max_positions", rows + 2, "max_position_embeddings")  # OPT's offset of 2
        r.put(m, "position_offset", 2, "max_position_embeddings")
    r.take(m, "embed_dim", "word_embed_proj_dim")
    r.put(m, "positional", "learned")
    r.put(m, "fused_projections", False)  # q_proj / k_proj / v_proj
    _act(r, "activation_function", "relu")
    r.put(m, "norm", "layernorm")
    bias = bool(r.get("enable_bias", default=True))
    _biases(r, ["qkv", "out", "mlp", "norm"] if bias else ["norm"], "enable_bias")
    if not r.get("layer_norm_elementwise_affine", default=True):
        r.put(m, "norm_affine", False, "layer_norm_elementwise_affine")
    before = bool(r.get("do_layer_norm_before", default=True))
    if not before:
        r.put(m, "norm_placement", "post", "do_layer_norm_before")
    remove = bool(r.get("_remove_final_layer_norm", default=False))
    r.put(m, "final_norm", before and not remove, "do_layer_norm_before")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "dropout", default=0.1)
    r.take("train", "attention_dropout", "attention_dropout", default=0.0)
    r.put("train", "embedding_dropout", 0.0)  # OPTDecoder drops nothing after the embedding
    _ = arch


def _bloom(r: _Reader) -> None:
    """BLOOM: ALiBi (no position table), a LayerNorm after the word embedding, fused q/k/v,
    biases everywhere, a 4·d GELU MLP, tied head."""
    m = "model"
    r.put(m, "eager_attention", True)  # BloomForCausalLM: _supports_sdpa = False
    r.put(m, "eager_held", 2)  # attention_scores (baddbmm) and attn_weights (+ mask)
    h = r.take(m, "d_model", "hidden_size", "n_embed", default=64)
    r.take(m, "layers", "n_layer", default=2)
    r.take(m, "heads", "n_head", "num_attention_heads", default=8)
    r.put(m, "d_ff", 4 * h if _int(h) else None, "hidden_size")
    r.take(m, "vocab", "vocab_size", default=250880)
    r.put(m, "mlp", "gelu")
    r.put(m, "activation", "gelu_recompute")  # BloomGelu: GeLUFunction in training
    r.put(m, "norm", "layernorm", "layer_norm_epsilon")
    _biases(r, ["qkv", "out", "mlp", "norm"])
    r.put(m, "embed_norm", True)
    r.put(m, "positional", "alibi")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "hidden_dropout", default=0.0)
    r.take("train", "attention_dropout", "attention_dropout", default=0.0)


def _mpt(r: _Reader) -> None:
    """MPT as transformers builds it (MptModel): ALiBi, fused Wqkv, a 4·d GELU MLP, no biases,
    LayerNorms without bias, tied head. transformers ignores `expansion_ratio`, `no_bias`,
    `learned_pos_emb` and `attn_config` (but its `attn_pdrop`) when it builds the layers, so
    they are not read. Every dropout of the class is `attn_config.attn_pdrop` (on the
    attention probabilities, the attention output and the MLP output); `resid_pdrop` and
    `emb_pdrop` are never used by MptModel."""
    m = "model"
    r.put(m, "eager_attention", True)  # MptForCausalLM: _supports_sdpa = False
    r.put(m, "eager_mask", "fill")  # scores.masked_fill(bool mask, min)
    r.put(m, "eager_held", 1)  # attention_scores (masked) alive until forward returns
    h = r.take(m, "d_model", "d_model", default=2048)
    r.take(m, "layers", "n_layers", default=24)
    r.take(m, "heads", "n_heads", default=16)
    r.put(m, "d_ff", 4 * h if _int(h) else None, "d_model")
    r.take(m, "vocab", "vocab_size", default=50368)
    r.take(m, "max_positions", "max_seq_len", default=2048)
    r.put(m, "positional", "alibi")
    r.put(m, "mlp", "gelu")
    r.put(m, "norm", "layernorm", "norm_type")
    _biases(r, [])
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    pdrop = r.take("train", "dropout", "attn_config.attn_pdrop", default=0.0)
    r.put("train", "attention_dropout", pdrop, "attn_config.attn_pdrop")
    r.put("train", "embedding_dropout", 0.0)


def _t5(r: _Reader, mt5: bool = False) -> None:
    """T5 / mT5 (T5ForConditionalGeneration, MT5ForConditionalGeneration): RMS-style norms
    without bias (T5LayerNorm), no linear biases, q/k/v of num_heads x d_kv, relative position
    bias tables (relative_attention_num_buckets x heads) in each stack's first block, a ReLU
    MLP or a gated one (`feed_forward_proj` "gated-gelu", mT5 and T5 v1.1), a shared token
    table and (tie_word_embeddings) a tied head."""
    arch, m = ("mT5" if mt5 else "T5"), "model"
    h = r.take(m, "d_model", "d_model", default=512)
    layers = r.take(m, "layers", "num_layers", default=8 if mt5 else 6)
    r.put(m, "decoder_layers", r.get("num_decoder_layers", default=layers), "num_decoder_layers")
    heads = r.take(m, "heads", "num_heads", default=6 if mt5 else 8)
    d_kv = _int(r.get("d_kv", default=64))
    if d_kv and _int(h) and _int(heads) and d_kv * heads != h:
        r.put(m, "head_size", d_kv, "d_kv")
    r.take(m, "d_ff", "d_ff", default=1024 if mt5 else 2048)
    r.take(m, "vocab", "vocab_size", default=250112 if mt5 else 32128)
    proj = str(r.get("feed_forward_proj", default="gated-gelu" if mt5 else "relu")).lower()
    act = proj.split("-")[-1]
    flag = r.get("is_gated_act")
    if flag is not None and bool(flag) != proj.startswith("gated-"):
        # T5Config derives is_gated_act from feed_forward_proj, but a config.json's own value
        # wins, and the class builds what it says
        _refuse(r, "is_gated_act", arch, f"contradicts feed_forward_proj {proj!r}")
    dense = r.get("dense_act_fn")
    implied = "gelu_new" if proj == "gated-gelu" else act
    if dense is not None and str(dense).lower() != implied:
        # T5Config derives dense_act_fn from feed_forward_proj, but a config.json's own value
        # is set over it, and the class builds that activation
        _refuse(r, "dense_act_fn", arch, f"contradicts feed_forward_proj {proj!r}")
    if proj.startswith("gated-"):
        if act.startswith("gelu"):
            r.put(m, "mlp", "geglu", "feed_forward_proj")
        elif act in ("silu", "swish"):
            r.put(m, "mlp", "swiglu", "feed_forward_proj")
        else:
            _refuse(r, "feed_forward_proj", arch, "is a gated activation the spec has no name for")
    else:
        r.put(m, "mlp", "relu" if act == "relu" else "gelu", "feed_forward_proj")
    r.put(m, "norm", "rmsnorm", "layer_norm_epsilon")
    _biases(r, [])
    r.put(m, "positional", "relative", "relative_attention_num_buckets")
    r.take(m, "relative_buckets", "relative_attention_num_buckets", default=32)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=not mt5)
    r.take("train", "dropout", "dropout_rate", default=0.1)


def _two_stacks(
    r: _Reader, *, d_model: int, layers: int, heads: int, d_ff: int, vocab: int
) -> None:
    """The encoder and decoder sizes BART-style configs (BART, Whisper) name per stack; the
    defaults are the config class's (the same for both stacks)."""
    m = "model"
    r.take(m, "d_model", "d_model", default=d_model)
    r.take(m, "vocab", "vocab_size", default=vocab)
    for stack, prefix in (("encoder", ""), ("decoder", "decoder_")):
        r.take(m, f"{prefix}layers" if prefix else "layers", f"{stack}_layers", default=layers)
        r.take(m, f"{prefix}heads", f"{stack}_attention_heads", default=heads)
        r.take(m, f"{prefix}d_ff", f"{stack}_ffn_dim", default=d_ff)


def _bart(r: _Reader) -> None:
    """BART (BartForConditionalGeneration): post-norm blocks with biases everywhere, learned
    positions in each stack with two reserved rows (BartLearnedPositionalEmbedding's offset of
    2), a LayerNorm after each stack's embedding, no final norm, a tied head. transformers
    ignores the legacy keys of old BART configs (`normalize_before`, `add_final_layer_norm`,
    `add_bias_logits`, ...), and so does the count."""
    m = "model"
    _two_stacks(r, d_model=1024, layers=12, heads=16, d_ff=4096, vocab=50265)
    rows = r.get("max_position_embeddings", default=1024)
    if _int(rows):
        r.put(m, "max_positions", rows + 2, "max_position_embeddings")
        r.put(m, "decoder_max_positions", rows + 2, "max_position_embeddings")
        r.put(m, "position_offset", 2, "max_position_embeddings")
    r.put(m, "positional", "learned")
    _act(r, "activation_function", "gelu")
    r.put(m, "norm", "layernorm")
    r.put(m, "norm_placement", "post")
    _biases(r, ["qkv", "out", "mlp", "norm"])
    r.put(m, "embed_norm", True)
    r.put(m, "final_norm", False)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "dropout", default=0.1)
    # the probabilities' dropout is its own key (0.0 in BartConfig): it picks the CPU kernel
    r.take("train", "attention_dropout", "attention_dropout", default=0.0)
    r.take("train", "activation_dropout", "activation_dropout", default=0.0)


def _whisper(r: _Reader) -> None:
    """Whisper (WhisperForConditionalGeneration): two kernel-3 convolutions over the log-mel
    frames (stride 1, then 2), learned position tables of max_source_positions (frozen, still
    parameters) and max_target_positions rows, pre-norm blocks whose k projections have no
    bias, a final LayerNorm per stack, a head tied to the decoder's token table. The encoder
    runs at exactly max_source_positions positions (2x as many input frames)."""
    m = "model"
    _two_stacks(r, d_model=384, layers=4, heads=6, d_ff=1536, vocab=51865)
    r.take(m, "in_channels", "num_mel_bins", default=80)
    r.put(m, "stem_strides", [1, 2], "num_mel_bins")
    src = r.take(m, "max_positions", "max_source_positions", default=1500)
    r.take(m, "decoder_max_positions", "max_target_positions", default=448)
    r.put(m, "positional", "learned")
    _act(r, "activation_function", "gelu")
    r.put(m, "norm", "layernorm")
    _biases(r, ["qv", "out", "mlp", "norm"])
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.put("train", "seq_len", src, "max_source_positions")
    r.take("train", "dropout", "dropout", default=0.0)
    r.take("train", "attention_dropout", "attention_dropout", default=0.0)
    r.take("train", "activation_dropout", "activation_dropout", default=0.0)


def _vit(r: _Reader) -> None:
    """ViT (ViTModel): a patch_size-strided convolution over num_channels, a class token,
    learned positions for every patch and the class token, pre-norm blocks (q/k/v bias when
    qkv_bias), a final LayerNorm and a pooler (Linear + tanh on the class token)."""
    arch, m = "ViT", "model"
    r.put(m, "input", "image", "model_type")
    h = r.take(m, "d_model", "hidden_size", default=768)
    r.take(m, "layers", "num_hidden_layers", default=12)
    r.take(m, "heads", "num_attention_heads", default=12)
    r.take(m, "d_ff", "intermediate_size", default=3072)
    for key, spec_key, default in (("image_size", "image_size", 224), ("patch_size", "patch", 16)):
        value = r.get(key, default=default)
        if _int(value) is None:
            _refuse(r, key, arch, "is not one square side (a [height, width] pair)")
        r.put(m, spec_key, value, key)
    r.take(m, "in_channels", "num_channels", default=3)
    pooled = r.get("pooler_output_size", default=h)
    if pooled != h:
        _refuse(r, "pooler_output_size", arch, "makes the pooler d_model x pooler_output_size")
    _act(r, "hidden_act", "gelu")
    r.put(m, "norm", "layernorm", "layer_norm_eps")
    qkv = bool(r.get("qkv_bias", default=True))
    _biases(r, ["qkv", "out", "mlp", "norm"] if qkv else ["out", "mlp", "norm"], "qkv_bias")
    r.put(m, "positional", "learned")
    r.put(m, "causal", False)
    r.put(m, "pooler", True)
    r.put(m, "head", "none")
    r.put(m, "fused_projections", False)  # ViTSelfAttention: query / key / value
    r.take("train", "dropout", "hidden_dropout_prob", default=0.0)
    r.take("train", "attention_dropout", "attention_probs_dropout_prob", default=0.0)


FAMILIES: dict[str, Callable[[_Reader], None]] = {
    "gpt2": _gpt2,
    "bert": _bert,
    "roberta": lambda r: _bert(r, roberta=True),
    "xlm-roberta": lambda r: _bert(r, roberta=True, vocab=30522),
    **{t: (lambda r, t=t: _llama(r, t)) for t in LLAMA_DEFAULTS},  # type: ignore[misc]
    "stablelm": _stablelm,
    "starcoder2": _starcoder2,
    "gpt_neox": _gpt_neox,
    "gptj": _gptj,
    "falcon": _falcon,
    "phi": _phi,
    "opt": _opt,
    "bloom": _bloom,
    "mpt": _mpt,
    "t5": _t5,
    "mt5": lambda r: _t5(r, mt5=True),
    "bart": _bart,
    "whisper": _whisper,
    "vit": _vit,
}
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(FAMILIES)
ENCODERS: frozenset[str] = frozenset({"bert", "roberta", "xlm-roberta", "vit"})
SEQ2SEQ: dict[str, str] = {
    "t5": "AutoModelForSeq2SeqLM",
    "mt5": "AutoModelForSeq2SeqLM",
    "bart": "AutoModelForSeq2SeqLM",
    "whisper": "AutoModelForSpeechSeq2Seq",
}
# encoder-decoders whose training peak the formula refuses (families/encdec.py _refusal),
# and the key the refusal names: the table of docs/supported-architectures.md
PEAK_REFUSED: dict[str, str] = {}
# model types whose family unit has no reference module: the probe
# measures the transformers class itself (probe/hf_class.py)
REAL_CLASS_ONLY: frozenset[str] = frozenset({*SEQ2SEQ, "vit"})
MODELLED_CLASS: dict[str, str] = {
    # the transformers auto class whose parameters the spec counts, per model_type: the base
    # model (pooler, no head) of an encoder, the causal LM of a decoder, the conditional
    # generation class of an encoder-decoder
    t: SEQ2SEQ.get(t, "AutoModel" if t in ENCODERS else "AutoModelForCausalLM")
    for t in SUPPORTED_MODEL_TYPES
}

ARCHITECTURES: dict[str, tuple[str, str]] = {
    # model_type -> (name, what the spec says of it): docs/supported-architectures.md
    "gpt2": ("GPT-2", "learned positions, LayerNorm, GELU, biases, tied head"),
    "bert": ("BERT", "post-norm encoder, token types, pooler (BertModel)"),
    "roberta": ("RoBERTa", "BERT + two reserved position rows (position_offset)"),
    "xlm-roberta": ("XLM-RoBERTa", "as RoBERTa"),
    "llama": ("Llama 2/3, TinyLlama", "RMSNorm, SwiGLU, rotary, GQA, attention_bias/mlp_bias"),
    "mistral": ("Mistral, Mistral-Nemo", "Llama + sliding window; explicit head_dim"),
    "qwen2": ("Qwen2, Qwen2.5", "Llama + q/k/v bias; windows from max_window_layers"),
    "gemma": ("Gemma", "GeGLU, head_dim 256, multi-query (2B), tied head"),
    "gemma2": ("Gemma-2", "Gemma + four norms per block, alternating sliding window"),
    "phi3": ("Phi-3", "fused qkv_proj and gate_up_proj (same shapes as separate)"),
    "olmo": ("OLMo", "non-parametric LayerNorm (norm_affine = false)"),
    "stablelm": ("StableLM", "LayerNorm, optional q/k/v bias and parallel residual"),
    "starcoder2": ("StarCoder2", "GQA, LayerNorm, biases everywhere, GELU MLP"),
    "gpt_neox": ("GPT-NeoX, Pythia", "parallel attention + MLP with two norms, fused qkv"),
    "gptj": ("GPT-J", "parallel block under one LayerNorm, LM head bias"),
    "mixtral": ("Mixtral", "Mistral blocks with a mixture of experts (top-k of num_local_experts)"),
    "qwen2_moe": ("Qwen1.5-MoE, Qwen2-MoE", "experts + a gated shared expert; q/k/v bias"),
    "falcon": ("Falcon", "multi-query or grouped KV (new_decoder_architecture), parallel"),
    "phi": ("Phi-1.5, Phi-2", "parallel block under one LayerNorm, biases, LM head bias"),
    "opt": ("OPT", "positions offset by 2, project_in/out (350m), post-norm (350m)"),
    "bloom": ("BLOOM", "ALiBi, LayerNorm after the word embedding"),
    "mpt": ("MPT", "ALiBi, no biases, LayerNorm without bias"),
    "t5": ("T5, Flan-T5", "encoder-decoder, relative position bias, ReLU or gated-GELU MLP"),
    "mt5": ("mT5", "as T5: gated-GELU MLP, untied head"),
    "bart": ("BART", "encoder-decoder, post-norm, positions offset by 2, embedding norm"),
    "whisper": ("Whisper", "encoder-decoder over log-mel frames: conv front end, no k bias"),
    "vit": ("ViT", "patch embedding, class token, pooler (ViTModel)"),
}
REFUSED_KEYS: dict[str, tuple[str, ...]] = {
    # keys refused (ARC302 at their line) when they change shapes, per model_type; "*": all
    "*": ("add_cross_attention",),
    "stablelm": ("qk_layernorm",),
    "phi": ("qk_layernorm",),
    "qwen2_moe": ("decoder_sparse_step", "mlp_only_layers"),
    "t5": ("tie_encoder_decoder", "torchscript"),
    "mt5": ("tie_encoder_decoder",),
    "vit": ("pooler_output_size",),
}

REFUSED: dict[str, str] = {
    # model_type -> why its parameters are not counted (docs/supported-architectures.md)
    "longformer": "global-attention q/k/v projections in every layer",
    "deepseek_v2": "mixture-of-experts MLP and low-rank (MLA) attention",
    "deepseek_v3": "mixture-of-experts MLP and low-rank (MLA) attention",
}


def _generic(r: _Reader, model_type: str) -> None:
    """Keys every transformers config has (PretrainedConfig) that change shapes."""
    if r.get("add_cross_attention", default=False):
        _refuse(r, "add_cross_attention", model_type, "adds a cross-attention block per layer")
    if model_type in SEQ2SEQ and r.get("tie_encoder_decoder", default=False):
        _refuse(
            r, "tie_encoder_decoder", model_type, "shares the encoder's weights with the decoder"
        )
    if (
        model_type in SEQ2SEQ
        and r.get("torchscript", default=False)
        and r.tables["model"].get("tied_embeddings")
    ):
        # transformers clones each tied table for TorchScript (BART: three copies)
        _refuse(r, "torchscript", model_type, "clones the shared token table per stack")
    if r.get("torchscript", default=False) and r.tables["model"].get("tied_embeddings"):
        # transformers clones the tied weight for TorchScript: two tensors, not one
        r.put("model", "tied_embeddings", False, "torchscript")


def adapt_hf(cfg: HFConfig, src: dict[Key, int], prefix: Key = ()) -> Adapted:
    """Spec tables from a parsed HF config (`src`: key path -> line; `prefix`: where it sits)."""
    r = _Reader(cfg, src, prefix)
    model_type = cfg.get("model_type")
    if isinstance(model_type, str) and model_type in REFUSED:
        raise AdapterError(
            "ARC302",
            f"model_type {model_type!r} is not modelled ({REFUSED[model_type]}): a parameter "
            "count would be wrong, so none is given. Measure the real class instead "
            "(model.factory pointing at the transformers class, then `archcheck probe`)",
            r.line("model_type") or 1,
        )
    if not isinstance(model_type, str) or model_type not in FAMILIES:  # [..] is unhashable
        shown = "no `model_type`" if model_type is None else f"model_type {model_type!r}"
        raise AdapterError(
            "ARC302",
            f"unsupported Hugging Face config: {shown}; supported model types: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}",
            r.line("model_type") or 1,
        )
    r.put("model", "family", "encoder-decoder" if model_type in SEQ2SEQ else "transformer")
    FAMILIES[model_type](r)
    _generic(r, model_type)
    _dtype(r)
    name = cfg.get("_name_or_path")
    return Adapted(
        tables=r.tables,
        lines=r.lines,
        name=name.rstrip("/").rsplit("/", 1)[-1] if isinstance(name, str) and name else None,
        kind="hf",
        notes=r.notes,
        sources=r.sources,
    )


def adapt_json(text: str, path: str) -> Adapted:
    """A `config.json`; malformed JSON is ARC306 at the line the parser names."""
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdapterError("ARC306", f"JSON syntax error: {exc.msg}", exc.lineno) from exc
    except RecursionError:
        raise AdapterError("ARC306", "JSON nested too deeply to read", 1) from None
    if not isinstance(cfg, dict):
        raise AdapterError("ARC306", "a config.json must hold one JSON object", 1)
    return adapt_hf(cfg, json_key_lines(text))


def supported_architectures_page() -> str:
    """docs/supported-architectures.md, from the tables above (a test keeps it current)."""
    lines = [
        "# Supported architectures",
        "",
        "Generated from `adapters/hf.py` (`python -m pytest_archcheck.docsgen docs`). What",
        '`archcheck estimate config.json` (or `extends = "config.json"`) does with a Hugging',
        'Face config, by `model_type`. "Params exact" means equal to the transformers 4.57.6',
        "class (`MODELLED_CLASS`: the causal LM of a decoder, the base model of an encoder)",
        "built from the same config, checked for every config class in `CONFIG_MAPPING` and",
        "key by key (`tests/adapters/test_hf_conformance.py`, `docs/benchmarks.md`).",
        "",
        '"Probe" and "behaviour": with `transformers` importable, `archcheck probe`, `check',
        "--probe` and the behavioural checks build the transformers class itself from the",
        "config (`probe/hf_class.py`: `from_config`, SDPA attention or eager where the class",
        "has no SDPA, fp32 parameters under the spec's autocast, `use_cache` off), never",
        "downloading weights; the probe JSON names it (`extra.model`). A spec that overrides a",
        "shape of its config (other than `layers` and the `[train]` dropout rates, written",
        "back into the config at the keys they were read from) is probed on",
        "the family's reference Transformer, which holds exactly the real class's parameters,",
        "and `extra.model` names the key. Mixture-of-experts classes route tokens with",
        "value-dependent shapes that fake tensors cannot run: `--device fake` measures the",
        "reference, `--device cpu` the class. The behavioural checks build the class at 2",
        "layers (not at all when it still holds over 300 M parameters). The formula against",
        "the class itself, config by",
        "config: `docs/benchmarks.md`.",
        "",
        "| architecture | model_type | params exact | peak formula | probe | behaviour | "
        "refused (ARC302) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    common = ", ".join(f"`{k}`" for k in REFUSED_KEYS["*"])
    for model_type, (name, _) in ARCHITECTURES.items():
        keys = ", ".join(f"`{k}`" for k in REFUSED_KEYS.get(model_type, ()))
        refused = f"{keys}, {common}" if keys else common
        probe = (
            "transformers class (cpu); reference (fake)"
            if model_type in ("mixtral", "qwen2_moe")
            else "transformers class"
        )
        peak, behaviour = "yes", "transformers class"
        if model_type in PEAK_REFUSED:
            peak = f"not modelled (ARC307 at `{PEAK_REFUSED[model_type]}`): the probe measures it"
        if model_type in REAL_CLASS_ONLY:
            behaviour = (
                "not run (an image model)"
                if model_type == "vit"
                else ("not run (two input sequences)")
            )
        lines.append(
            f"| {name} | `{model_type}` | yes | {peak} | {probe} | {behaviour} | {refused} |"
        )
    for model_type, why in REFUSED.items():
        lines.append(
            f"| {model_type} | `{model_type}` | no | no | with `model.factory` | with "
            f"`model.factory` | the config, at `model_type`: {why} |"
        )
    lines += [
        "",
        "Any other `model_type` is ARC302 at its line, listing the supported ones. A gated",
        "activation other than SiLU or GELU (`hidden_act`) in a Llama-style config is ARC302",
        "at that key.",
        "",
        "## What the spec says of each",
        "",
        "| model_type | modelled as |",
        "| --- | --- |",
        *(f"| `{t}` | {what} |" for t, (_, what) in ARCHITECTURES.items()),
        "",
        "## Architecture flags",
        "",
        "Spec keys of `[model]` the adapter sets (a hand-written spec may use them too). Each is",
        "a feature of the block, not a model name:",
        "",
        "| key | meaning |",
        "| --- | --- |",
        "| `head_size` | per-head width when it is not `d_model / heads` (Gemma 256, "
        "Mistral-Nemo 128) |",
        "| `biases` | which parts carry a bias: any of `qkv`, `out`, `mlp`, `norm`, `head` "
        "(overrides `bias`) |",
        '| `mlp = "geglu"` | gated MLP with a GELU gate (Gemma): the shapes of SwiGLU |',
        "| `parallel` | attention and MLP read the same block input, one residual add "
        "(GPT-J, GPT-NeoX, Falcon, Phi-2) |",
        "| `layer_norms` | norms per block: 2 (default), 1 (shared by a parallel block), 4 "
        "(Gemma-2: before and after attention and MLP) |",
        "| `norm_affine` | `false`: LayerNorm without weight or bias (OLMo) |",
        "| `final_norm` | `false`: no norm after the last block (OPT-350m) |",
        "| `embed_norm` | a norm right after the token embedding (BLOOM) |",
        "| `embed_dim` | token-embedding width; when it differs from `d_model`, "
        "`project_in`/`project_out` (OPT-350m) |",
        "| `experts`, `experts_per_token` | a mixture of experts: every block's MLP is "
        "`experts` MLPs behind a router (d x experts), each token runs `experts_per_token` "
        "(Mixtral 8 / 2) |",
        "| `expert_d_ff` | width of one expert (default `d_ff`; Qwen2-MoE "
        "`moe_intermediate_size`) |",
        "| `shared_d_ff`, `shared_gate` | a shared expert every token runs, and its sigmoid "
        "gate (d x 1) (Qwen2-MoE) |",
        "| `fused_projections` | `true` (default): one Linear for q, k and v (and a gated MLP's"
        " gate and up: GPT-2, GPT-NeoX, Falcon, Phi-3); `false`: separate "
        "`q_proj`/`k_proj`/`v_proj` and `gate_proj`/`up_proj` (Llama, Mistral, Qwen2, Gemma, "
        "BERT). Same parameters; the saved activations differ (a fused output stays alive "
        "through its q/k/v views; under autocast each separate projection keeps its own 16-bit "
        "copy of its input) |",
        "| `activation` | the MLP activation's implementation where it saves more than one "
        "kernel's input: `gelu_new` (GPT-2, GPT-J, Phi: 5 tensors of b·s·d_ff), `gelu_fast` "
        "(8), `quick_gelu` (3), `gelu_python` (4), `silu` in a non-gated MLP (2); counted with "
        "autograd's saved-tensor hooks on transformers' own `ACT2FN` "
        "(`tests/families/test_activation_saved.py`); `gelu_recompute`: BLOOM's `BloomGelu`, "
        "an autograd Function saving its input only (2) whose backward recomputes the tanh op"
        " by op (5 b·n·d_ff temporaries). An activation name the adapter does not "
        "know is ARC302 at its key |",
        "| `causal_mask_buffer` | every block registers a `max_positions`² bool causal mask and"
        " a 4-byte scalar as buffers (GPT-2's `GPT2Attention`): counted with the weights |",
        "| `rotary_dim` | rotary positions on the first `rotary_dim` dimensions of each head, "
        "the rest passed through and concatenated back (GPT-NeoX `rotary_pct`, "
        "Phi/StableLM/Phi-3 `partial_rotary_factor`, GPT-J `rotary_dim`). Set, even to the head"
        " width, where the class slices and concatenates: q and k then come out as new tensors,"
        " and on the CPU the attention output is copied once more before the out projection |",
        "| `kv_repeat` | k and v are copied out to every query head before attention "
        "(transformers' `repeat_kv` in StableLM's attention class) instead of SDPA's grouped-"
        "query support: the copies are what attention keeps |",
        "| `eager_attention` | the class computes attention itself (matmul, softmax, matmul; "
        "transformers' GPT-J, BLOOM and MPT have no SDPA support): q, k^T and v are copied for"
        " the matmuls, the softmax runs in fp32 and keeps its b·heads·n² output, under autocast"
        " beside a 16-bit copy; the last layer's softmax backward holds two fp32 n² gradients."
        " Dropout on the probabilities adds its noise (CPU) or bool mask (CUDA) and the dropped"
        " probabilities. Checkpointing, tensor parallelism, grouped-query or windowed attention"
        " and experts are not modelled with it: refused by name (ARC307: run `check --probe`) |",
        "| `eager_mask` | how that attention applies its causal mask: `add` a float "
        "(b, 1, n, n) mask (GPT-J, BLOOM: nothing saved; the mask is alive through forward), "
        "`fill` through `masked_fill` with one bool mask for every layer (MPT: saved, b·n² "
        "bytes) |",
        "| `eager_held` | pre-softmax n² score tensors the attention forward still holds as "
        "locals when it returns: BLOOM 2 (baddbmm's output and the masked sum), MPT 1, GPT-J 0"
        " (its `_attn` helper returns first): the forward's largest moment |",
        "| `rotary_interleaved` | rotary on interleaved pairs (`rotate_every_two`) whose sin and"
        " cos every layer gathers and repeat-interleaves for q and for k (GPT-J): 4·n·"
        "rotary_dim values saved per layer |",
        "| `fp32_logits` | the class casts its logits to fp32 (GPT-J's "
        "`lm_head(...).to(torch.float32)`): under autocast the loop holds fp32 logits and the "
        "loss makes no copy |",
        "| `logit_softcap` | logits soft-capped as cap·tanh(logits / cap) before the loss "
        "(Gemma-2's `final_logit_softcapping`, default 30; null in the file switches it off): "
        "the tanh keeps a logits-sized output |",
        "",
        "A mixture of experts also gets `params_active` (parameters one token runs through) in",
        "`estimate`; its FLOPs are routed (k experts + the router per token) and its training",
        "peak counts the routing tensors, which do not depend on how tokens are routed. The",
        "reference Transformer dispatches tokens to experts statically (balanced), so that",
        "the fake probe, which has no data to route by, can run it; the formula matches that",
        "probe within 1 % (`tests/adapters/test_hf_moe.py`).",
        "",
        "`[train] embedding_dropout` is the dropout on the embedding output where it differs",
        "from `dropout` (OPT has none; GPT-2 `embd_pdrop`).",
        "",
        "`[train] attention_dropout` is the dropout on the attention probabilities where it "
        "differs",
        "from `dropout` (OPT drops the residual stream at 0.1 but not the probabilities; Llama-"
        "style",
        "blocks drop only the probabilities). On the CPU it decides the SDPA kernel: flash "
        "without it,",
        "math (which keeps b·heads·n² probabilities) with it.",
        "",
        "### Checked against the real classes at small widths",
        "",
        "`tests/adapters/test_hf_small_widths.py` writes each model_type's default config cut to 2",
        "layers at d 64 and d 256 (n 128, batch 2), and compares the formula's training peak "
        "with the",
        "fake probe of the transformers class built from it, fp32 and bf16 on the CPU and bf16",
        "emulating CUDA: every case within 2 %, GPT-J, BLOOM and MPT (`eager_attention`) within"
        " 0.8 % (and within 0.1 % at d 64, n 512, where their n² terms dominate). At these",
        "widths the activations outweigh the weights, so a saved tensor the",
        "formula misses shows (before this check: GPT-NeoX −8.5 %, OPT +24 %, Gemma-2 −5.9 %,",
        "StableLM −5 %, Phi −4 %, BLOOM −23 % and GPT-J −16 % on SDPA; the eager attention "
        "model as first written read BLOOM −11 % and, at n 512, all three −17 to −24 %).",
        "",
        "## Encoder-decoders and ViT",
        "",
        'T5, mT5, BART and Whisper are `family = "encoder-decoder"` (`layers` encoder',
        "blocks, `decoder_layers` decoder blocks with cross-attention; `[train] target_len`",
        'decoder tokens per sample, default n); ViT is `family = "transformer"` with',
        '`input = "image"` (`patch`, `image_size`, `in_channels`, `class_token`). Their',
        "parameters and FLOPs are exact (FLOPs checked against `torch.utils.flop_counter` on",
        "the transformers class). The training peak of T5, mT5, BART and Whisper",
        "(`activations.encoder_decoder`:",
        "both stacks, the cross-attention's keys and values over the source, the encoder",
        "output the model output holds, the logits over the decoder's tokens) and of ViT",
        "(`activations.vit`) agrees with the fake probe of the class within 2 % (the small-width",
        "cases above). Where it is not modelled (an encoder-decoder with checkpointing, BART",
        "or Whisper with attention dropout in bf16/fp16 on the CPU, where the math SDPA kernel",
        "runs under autocast; an",
        "encoder-decoder's KV cache) `estimate` prints the refusal naming the key, a budget",
        "that needs it is ARC307, and",
        "`check --probe` measures the transformers class itself (weights never initialised on",
        "fake tensors), which then checks the budget (ARC101, ARC102 by probes alone). They",
        "have no reference module: without a config.json and transformers, set",
        "`model.factory`. The fake probe of each class equals a real CPU step to the byte",
        "(`tests/adapters/test_hf_encdec.py`).",
        "",
        "## Limits",
        "",
        "- Per-layer sliding windows (`layer_types`, or the list the config class builds:",
        "  Gemma-2 alternates) become `window = sliding_window - 1` (transformers counts the",
        "  query's own key) and, when every k-th layer is full, `global_every = k`",
        "  (docs/hybrid.md). Any other mix (Qwen2's first `max_window_layers` full, then",
        "  sliding) is ARC302 at `layer_types`: per-layer memory, FLOPs and KV cache are not",
        "  modelled for it.",
        "- MPT: transformers' `MptModel` ignores `expansion_ratio`, `no_bias`, `learned_pos_emb`",
        "  and `attn_config`; so does the count (it is the class's).",
        "- The training-peak formula agrees with `probe --device fake` of the reference",
        "  Transformer built from each supported config (2 layers, d 128; fp32 and bf16; CPU and",
        "  CUDA semantics) within 2 %, most to the byte (`tests/adapters/test_hf_probe.py`);",
        "  the fake probe equals the CPU probe to the byte on Falcon, Gemma-2, OPT and Mixtral.",
        "- Against the transformers classes themselves (`benchmarks/hf_real_class.py`, every",
        "  published config in `tests/adapters/data` at 2 layers, n 256): within 0.01 % except",
        "  ViT (-0.22 %); the MoE configs are probed on the reference (their routing cannot run",
        "  on fake tensors); GPT-J, BLOOM and MPT (`eager_attention`) included. The probe gives",
        "  the class the attention mask of ones a training batch carries. At small widths, where",
        '  the activations dominate, see "Checked against the real classes at small widths".',
        "",
    ]
    return "\n".join(lines)
