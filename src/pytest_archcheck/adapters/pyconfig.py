"""Python config classes (nanoGPT `GPTConfig`, litgpt `Config`, llama2.c / Llama `ModelArgs`)
read by parsing the source with `ast`.

The module is never imported: a training script's config module often builds data loaders or
touches CUDA at import time, and the static path must run no user code. Only class-level fields
with literal defaults are read (`n_layer: int = 12`, `field(default=12)`); a field computed at
run time is skipped, and the spec's default (or the user's spec value) applies.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from ..spec.locate import Key
from . import Adapted, AdapterError, Tables

NANOGPT_KEYS = frozenset({"n_layer", "n_head", "n_embd"})
LLAMA_KEYS = frozenset({"dim", "n_layers", "n_heads"})
LITGPT_MARKERS = frozenset(
    {
        "n_query_groups",
        "mlp_class_name",
        "norm_class_name",
        "padded_vocab_size",
        "rotary_percentage",
    }
)
META_LLAMA_MARKERS = frozenset({"max_batch_size", "ffn_dim_multiplier"})


# spec keys for which a config field's None default has no meaning but "set at run time"
# (unlike n_kv_heads = None, which means "as many as n_heads")
NONE_IS_MISSING = frozenset({"layers", "heads", "d_model", "vocab", "max_positions"})


@dataclass
class ConfigClass:
    """A class whose fields look like a model config."""

    name: str
    line: int
    style: str  # "nanogpt" | "litgpt" | "llama2c" | "llama"
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


def _literal(node: ast.expr | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    if (
        isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", "")) == "field"
    ):
        for kw in node.keywords:
            if kw.arg == "default":
                return _literal(kw.value)
        return False, None
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _fields(cls: ast.ClassDef) -> tuple[set[str], dict[str, Any], dict[str, int]]:
    names: set[str] = set()
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            target, value = stmt.target.id, stmt.value
        elif (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            target, value = stmt.targets[0].id, stmt.value
        else:
            continue
        names.add(target)
        lines[target] = stmt.lineno
        ok, v = _literal(value)
        if ok:
            values[target] = v
    return names, values, lines


def find_config_classes(tree: ast.Module) -> list[ConfigClass]:
    """Every class in the module whose fields include a known key set."""
    out: list[ConfigClass] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        names, values, lines = _fields(node)
        if names >= NANOGPT_KEYS:
            style = "litgpt" if names & LITGPT_MARKERS else "nanogpt"
        elif names >= LLAMA_KEYS:
            style = "llama" if names & META_LLAMA_MARKERS else "llama2c"
        else:
            continue
        out.append(ConfigClass(node.name, node.lineno, style, values, lines))
    return out


class _Map:
    def __init__(self, cc: ConfigClass) -> None:
        self.cc = cc
        self.tables: Tables = {"model": {"family": "transformer"}}
        self.lines: dict[tuple[str | int, ...], int] = {("model", "family"): cc.line}
        self.notes: list[str] = []
        self.sources: dict[tuple[str, str], str] = {}  # (table, key) -> the field it was read from

    def get(self, name: str, default: Any = None) -> Any:
        v = self.cc.values.get(name)
        return default if v is None else v

    def put(self, table: str, key: str, value: Any, src: str | None = None) -> None:
        if value is None:
            return
        self.tables.setdefault(table, {})[key] = value
        self.lines[(table, key)] = self.cc.lines.get(src or "", self.cc.line)

    def take(self, table: str, key: str, src: str, default: Any = None) -> Any:
        if key in NONE_IS_MISSING and src in self.cc.values and self.cc.values[src] is None:
            # `vocab_size: int = None`: the run sets it (from the data set); the class's
            # default would be a guess. The loader reports the placeholder and refuses.
            self.put(
                table,
                key,
                f"required: `{src}` defaults to None in {self.cc.name} (set at run time); "
                f"set {table}.{key} to the value your run uses",
                src,
            )
            return None
        self.sources[(table, key)] = src
        value = self.get(src, default)
        self.put(table, key, value, src)
        return value


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _nanogpt(m: _Map) -> None:
    """nanoGPT model.py GPTConfig (its defaults: GPT-2 small with vocab padded to 50304)."""
    m.take("model", "layers", "n_layer", 12)
    m.take("model", "heads", "n_head", 12)
    m.take("model", "d_model", "n_embd", 768)
    m.take("model", "vocab", "vocab_size", 50304)
    m.take("model", "max_positions", "block_size", 1024)
    bias = m.get("bias", True)
    m.put("model", "bias", "all" if bias else "none", "bias")
    for key, value in (
        ("mlp", "gelu"),
        ("norm", "layernorm"),
        ("positional", "learned"),
        ("causal", True),
        ("tied_embeddings", True),  # GPT.__init__ ties wte and lm_head
    ):
        m.put("model", key, value)
    m.take("train", "dropout", "dropout", 0.0)


def _litgpt(m: _Map) -> None:
    """litgpt `Config` (its class defaults; named configs override them in code we do not run)."""
    m.take("model", "layers", "n_layer", 16)
    heads = m.take("model", "heads", "n_head", 32)
    d = m.take("model", "d_model", "n_embd", 4096)
    m.take("model", "kv_heads", "n_query_groups", heads)
    m.take("model", "max_positions", "block_size", 4096)
    padded = _int(m.get("padded_vocab_size"))
    vocab = _int(m.get("vocab_size", 50254))
    if padded is None and vocab is not None:
        multiple = _int(m.get("padding_multiple", 512)) or 1
        padded = -(-vocab // multiple) * multiple
    m.put(
        "model",
        "vocab",
        padded,
        "padded_vocab_size" if m.get("padded_vocab_size") else "vocab_size",
    )
    mlp_class = str(m.get("mlp_class_name", "GptNeoxMLP"))
    gated = mlp_class in ("LLaMAMLP", "GemmaMLP", "LLaMAMoE")
    inner = m.get("intermediate_size")
    if inner is None and _int(d):
        inner = 4 * d
    m.put("model", "d_ff", inner, "intermediate_size")
    m.put("model", "mlp", "swiglu" if gated else "gelu", "mlp_class_name")
    norm = str(m.get("norm_class_name", "LayerNorm"))
    m.put("model", "norm", "rmsnorm" if norm == "RMSNorm" else "layernorm", "norm_class_name")
    m.put("model", "bias", "all" if m.get("bias", True) else "none", "bias")
    m.put("model", "positional", "rotary", "rotary_percentage")
    m.put("model", "causal", True)
    m.put("model", "tied_embeddings", False)
    if m.get("parallel_residual", True):
        m.notes.append("litgpt parallel_residual: counted as sequential blocks (same parameters)")


def _llama(m: _Map, meta: bool) -> None:
    """llama2.c / Meta Llama `ModelArgs`: hidden_dim from the SwiGLU rule when not given."""
    d = m.take("model", "d_model", "dim", 4096)
    m.take("model", "layers", "n_layers", 32)
    heads = m.take("model", "heads", "n_heads", 32)
    m.take("model", "kv_heads", "n_kv_heads", heads)
    vocab = _int(m.get("vocab_size", 32000))
    if "vocab_size" in m.cc.values and (
        vocab is None or vocab <= 0 or m.cc.values["vocab_size"] is None
    ):
        vocab = None  # Meta's `vocab_size: int = -1`, or None: the tokenizer sets it at run time
    if vocab is not None and vocab > 0:
        m.put("model", "vocab", vocab, "vocab_size")
    else:
        m.put(
            "model",
            "vocab",
            f"required: `vocab_size` of {m.cc.name} is set from the tokenizer at run time; "
            "set model.vocab to the tokenizer's vocabulary size",
            "vocab_size",
        )
    hidden = m.get("hidden_dim")
    if hidden is None and _int(d):
        multiple = _int(m.get("multiple_of", 256)) or 1
        hidden = 8 * d // 3  # int(2 * (4 * d) / 3), without a float that overflows for huge d
        mult = m.get("ffn_dim_multiplier")
        if isinstance(mult, (int, float)) and not isinstance(mult, bool):
            try:  # inf, nan or a product beyond a float: leave hidden_dim to the spec's default
                hidden = int(mult * hidden)
            except (OverflowError, ValueError):
                m.notes.append(f"ffn_dim_multiplier {mult!r} ignored: not a finite factor")
        hidden = multiple * ((hidden + multiple - 1) // multiple)
    m.put("model", "d_ff", hidden, "hidden_dim" if m.get("hidden_dim") else "multiple_of")
    m.take("model", "max_positions", "max_seq_len", 2048)
    for key, value in (
        ("mlp", "swiglu"),
        ("norm", "rmsnorm"),
        ("bias", "none"),
        ("positional", "rotary"),
        ("causal", True),
        ("tied_embeddings", not meta),  # llama2.c ties tok_embeddings and output; Meta does not
    ):
        m.put("model", key, value)
    if not meta:
        m.take("train", "dropout", "dropout", 0.0)


def adapt_class(cc: ConfigClass) -> Adapted:
    """Spec tables from one config class (`rederive`: the same with spec values in place of
    the fields they were read from, so that derived keys follow them; see `Adapted`)."""
    m = _Map(cc)
    if cc.style == "nanogpt":
        _nanogpt(m)
    elif cc.style == "litgpt":
        _litgpt(m)
    else:
        _llama(m, meta=cc.style == "llama")

    def rederive(overrides: dict[Key, Any]) -> Adapted:
        values = dict(cc.values)
        for (table, key), value in overrides.items():
            src = m.sources.get((str(table), str(key)))
            if src is not None:
                values[src] = value
        again = adapt_class(ConfigClass(cc.name, cc.line, cc.style, values, cc.lines))
        again.notes = m.notes
        return again

    return Adapted(
        tables=m.tables, lines=m.lines, name=None, kind="dataclass", notes=m.notes,
        rederive=rederive,
    )  # fmt: skip


def parse_python(text: str, path: str) -> ast.Module:
    """Parse source (never import it); a syntax error is ARC306 at its line."""
    try:
        return ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise AdapterError("ARC306", f"Python syntax error: {exc.msg}", exc.lineno or 1) from exc
    except ValueError as exc:  # null bytes
        raise AdapterError("ARC306", f"cannot parse Python source: {exc}", 1) from exc


def adapt_python(text: str, path: str, select: str | None = None) -> Adapted:
    """The config class of a Python file (`select` names it when the file has several)."""
    classes = find_config_classes(parse_python(text, path))
    if select is not None:
        classes = [c for c in classes if c.name == select]
        if not classes:
            raise AdapterError("ARC302", f"no config class {select!r} with known fields in {path}")
    if not classes:
        raise AdapterError(
            "ARC302",
            f"no config class in {path}: expected fields n_layer/n_head/n_embd (nanoGPT, litgpt) "
            "or dim/n_layers/n_heads (llama2.c, Llama)",
        )
    if len(classes) > 1:
        names = ", ".join(c.name for c in classes)
        raise AdapterError(
            "ARC302",
            f"several config classes in {path} ({names}): name one as `{path}:{classes[0].name}`",
            classes[1].line,
        )
    adapted = adapt_class(classes[0])
    adapted.name = model_name_for_class(classes[0].name)
    return adapted


def model_name_for_class(class_name: str) -> str:
    """GPTConfig -> gpt, ModelArgs -> model: a spec name from the config class."""
    base = class_name
    for suffix in ("Config", "Args", "Configuration"):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    return base.lower()
