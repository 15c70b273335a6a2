"""Hugging Face `config.json` -> spec tables, one small mapping per `model_type`.

Each family names its keys differently (n_embd, hidden_size, d_model), omits keys whose
transformers default applies (GPT-2 `n_inner: null` = 4·d, Llama `num_key_value_heads` absent =
heads) and carries quirks the spec must hear about (RoBERTa's two reserved position rows,
Mistral's sliding window, Qwen2's `use_sliding_window`, rope settings moved into
`rope_parameters`). Defaults below are the transformers `*Config` defaults.

Not expressible in the spec, and so not counted (reported in `Adapted.notes`): T5's relative
bias tables and cross-attention, Whisper's convolutional front end, sinusoidal encoder positions
and cross-attention, ViT's patch projection and CLS token, per-layer windows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

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


def _mlp(act: Any) -> str:
    return "relu" if isinstance(act, str) and act.lower() == "relu" else "gelu"


def _gpt2(r: _Reader) -> None:
    m = "model"
    d = r.take(m, "d_model", "n_embd", default=768)
    r.take(m, "layers", "n_layer", default=12)
    r.take(m, "heads", "n_head", default=12)
    inner = r.get("n_inner")  # null (or absent) means 4·d
    r.put(m, "d_ff", inner if inner is not None else (4 * d if _int(d) else None), "n_inner")
    r.take(m, "vocab", "vocab_size", default=50257)
    r.take(m, "max_positions", "n_positions", "n_ctx", default=1024)
    r.put(m, "mlp", _mlp(r.get("activation_function", default="gelu_new")), "activation_function")
    r.put(m, "norm", "layernorm")
    r.put(m, "bias", "all")
    r.put(m, "positional", "learned")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "resid_pdrop", default=0.1)


def _bert(r: _Reader, roberta: bool = False) -> None:
    """BERT and RoBERTa as their base models (BertModel: pooler, no LM head), post-norm."""
    m = "model"
    r.take(m, "d_model", "hidden_size", default=768)
    r.take(m, "layers", "num_hidden_layers", default=12)
    r.take(m, "heads", "num_attention_heads", default=12)
    r.take(m, "d_ff", "intermediate_size", default=3072)
    r.take(m, "vocab", "vocab_size", default=50265 if roberta else 30522)
    r.take(m, "max_positions", "max_position_embeddings", default=512)
    r.take(m, "type_vocab", "type_vocab_size", default=2)
    pad = r.take(m, "pad_id", "pad_token_id", default=1 if roberta else 0)
    if roberta and _int(pad) is not None:
        # positions start at pad_token_id + 1: the table's first rows are never used
        r.put(m, "position_offset", pad + 1, "pad_token_id")
    kind = r.get("position_embedding_type", default="absolute")
    positional = "learned" if kind == "absolute" else "relative"
    r.put(m, "positional", positional, "position_embedding_type")
    r.put(m, "mlp", _mlp(r.get("hidden_act", default="gelu")), "hidden_act")
    r.put(m, "norm", "layernorm")
    r.put(m, "norm_placement", "post")
    r.put(m, "bias", "all")
    r.put(m, "causal", bool(r.get("is_decoder", default=False)), "is_decoder")
    r.put(m, "pooler", True)
    r.put(m, "head", "none")
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "hidden_dropout_prob", default=0.1)


def _longformer(r: _Reader) -> None:
    _bert(r, roberta=True)
    window = r.get("attention_window", default=512)
    if isinstance(window, list):
        widths = {w for w in window if _int(w)}
        if len(widths) > 1:
            r.notes.append("per-layer attention_window: the widest one is used")
        window = max(widths) if widths else None
    if _int(window):
        # attention_window is the whole window; the spec's window is the reach per side
        r.put("model", "attention", "sliding", "attention_window")
        r.put("model", "window", window // 2, "attention_window")


def _llama(r: _Reader, model_type: str) -> None:
    """Llama, Mistral, Qwen2 (`model_type` is Hugging Face's, not our family): RMSNorm, SwiGLU,
    rotary positions, grouped-query attention."""
    m = "model"
    r.take(m, "d_model", "hidden_size", default=4096)
    r.take(m, "layers", "num_hidden_layers", default=32)
    heads = r.take(m, "heads", "num_attention_heads", default=32)
    r.take(m, "kv_heads", "num_key_value_heads", default=heads)
    r.take(
        m,
        "d_ff",
        "intermediate_size",
        default={"qwen2": 22016, "mistral": 14336}.get(model_type, 11008),
    )
    r.take(m, "vocab", "vocab_size", default={"qwen2": 151936}.get(model_type, 32000))
    r.take(
        m,
        "max_positions",
        "max_position_embeddings",
        default=4096 if model_type == "llama" else 32768,
    )
    r.put(m, "mlp", "swiglu", "hidden_act")
    r.put(m, "norm", "rmsnorm", "rms_norm_eps")
    if model_type == "qwen2":
        r.put(m, "bias", "qkv")
    else:
        bias = "qkv" if r.get("attention_bias", default=False) else "none"
        if bias == "qkv":
            r.notes.append("attention_bias: the o projection's bias is not counted")
        r.put(m, "bias", bias, "attention_bias")
    r.put(m, "positional", "rotary", "rope_parameters", "rope_theta", "rope_scaling")
    r.put(m, "causal", True)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=False)
    head_dim = _int(r.get("head_dim"))
    d, h = _int(r.get("hidden_size")), _int(heads)
    if head_dim and d and h and head_dim * h != d:
        r.notes.append(f"head_dim {head_dim} != hidden_size/heads: the spec assumes {d // h}")
    rope = r.get("rope_parameters", "rope_scaling")
    if isinstance(rope, dict) and rope.get("rope_type", rope.get("type")) not in (None, "default"):
        r.notes.append(f"rope scaling {rope.get('rope_type', rope.get('type'))!r} not modelled")
    window = _int(r.get("sliding_window"))
    use = r.get("use_sliding_window", default=model_type == "mistral")
    if window and use:
        r.put(m, "attention", "sliding", "use_sliding_window", "sliding_window")
        r.put(m, "window", window, "sliding_window")
    else:
        r.put(m, "attention", "full", "use_sliding_window", "sliding_window")
    r.take("train", "dropout", "attention_dropout", default=0.0)


def _t5(r: _Reader) -> None:
    m = "model"
    r.take(m, "d_model", "d_model", default=512)
    enc = r.get("num_layers", default=6)
    dec = r.get("num_decoder_layers", default=enc)
    if _int(enc) and _int(dec):
        r.put(m, "layers", enc + dec, "num_layers")
    r.take(m, "heads", "num_heads", default=8)
    r.take(m, "d_ff", "d_ff", default=2048)
    r.take(m, "vocab", "vocab_size", default=32128)
    proj = str(r.get("feed_forward_proj", default="relu"))
    r.put(m, "mlp", "swiglu" if proj.startswith("gated") else "relu", "feed_forward_proj")
    r.put(m, "norm", "rmsnorm")
    r.put(m, "bias", "none")
    r.put(m, "positional", "relative", "relative_attention_num_buckets")
    r.put(m, "causal", False)
    r.take(m, "pad_id", "pad_token_id", default=0)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "dropout_rate", default=0.1)
    r.notes.append("T5: encoder and decoder layers as one stack; cross-attention not counted")


def _whisper(r: _Reader) -> None:
    m = "model"
    r.take(m, "d_model", "d_model", default=1280)
    enc, dec = r.get("encoder_layers", default=32), r.get("decoder_layers", default=32)
    if _int(enc) and _int(dec):
        r.put(m, "layers", enc + dec, "encoder_layers", "decoder_layers")
    r.take(m, "heads", "decoder_attention_heads", "encoder_attention_heads", default=20)
    r.take(m, "d_ff", "decoder_ffn_dim", "encoder_ffn_dim", default=5120)
    r.take(m, "vocab", "vocab_size", default=51865)
    r.take(m, "max_positions", "max_target_positions", default=448)
    r.put(m, "mlp", _mlp(r.get("activation_function", default="gelu")), "activation_function")
    r.put(m, "norm", "layernorm")
    r.put(m, "bias", "all")
    r.put(m, "positional", "learned")
    r.put(m, "causal", True)
    r.take(m, "pad_id", "pad_token_id", default=50256)
    r.take(m, "tied_embeddings", "tie_word_embeddings", default=True)
    r.take("train", "dropout", "dropout", default=0.0)
    r.notes.append(
        "Whisper: encoder + decoder as one stack; conv front end, encoder positions and "
        "cross-attention not counted"
    )


def _vit(r: _Reader) -> None:
    m = "model"
    r.take(m, "d_model", "hidden_size", default=768)
    r.take(m, "layers", "num_hidden_layers", default=12)
    r.take(m, "heads", "num_attention_heads", default=12)
    r.take(m, "d_ff", "intermediate_size", default=3072)
    r.put(m, "input", "image")
    image = r.take(m, "image_size", "image_size", default=224)
    patch = r.get("patch_size", default=16)
    r.take(m, "in_channels", "num_channels", default=3)
    if _int(image) and _int(patch):
        r.put(m, "max_positions", (image // patch) ** 2 + 1, "patch_size")  # patches + [CLS]
    labels = r.get("id2label")
    if isinstance(labels, dict) and labels:
        r.put(m, "classes", len(labels), "id2label")
        r.put(m, "head", "classes", "id2label")
    r.put(m, "mlp", _mlp(r.get("hidden_act", default="gelu")), "hidden_act")
    r.put(m, "norm", "layernorm")
    r.put(m, "bias", "all" if r.get("qkv_bias", default=True) else "none", "qkv_bias")
    r.put(m, "positional", "learned")
    r.put(m, "causal", False)
    r.take("train", "dropout", "hidden_dropout_prob", default=0.0)
    r.notes.append("ViT: patch projection and [CLS] token not counted")


FAMILIES: dict[str, Callable[[_Reader], None]] = {
    "gpt2": _gpt2,
    "bert": _bert,
    "roberta": lambda r: _bert(r, roberta=True),
    "xlm-roberta": lambda r: _bert(r, roberta=True),
    "longformer": _longformer,
    "llama": lambda r: _llama(r, "llama"),
    "mistral": lambda r: _llama(r, "mistral"),
    "qwen2": lambda r: _llama(r, "qwen2"),
    "t5": _t5,
    "whisper": _whisper,
    "vit": _vit,
}
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(FAMILIES)


def adapt_hf(cfg: HFConfig, src: dict[Key, int], prefix: Key = ()) -> Adapted:
    """Spec tables from a parsed HF config (`src`: key path -> line; `prefix`: where it sits)."""
    r = _Reader(cfg, src, prefix)
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or model_type not in FAMILIES:  # [..] is unhashable
        shown = "no `model_type`" if model_type is None else f"model_type {model_type!r}"
        raise AdapterError(
            "ARC302",
            f"unsupported Hugging Face config: {shown}; supported model types: "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}",
            r.line("model_type") or 1,
        )
    r.put("model", "family", "transformer")
    FAMILIES[model_type](r)
    _dtype(r)
    name = cfg.get("_name_or_path")
    return Adapted(
        tables=r.tables,
        lines=r.lines,
        name=name.rstrip("/").rsplit("/", 1)[-1] if isinstance(name, str) and name else None,
        kind="hf",
        notes=r.notes,
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
