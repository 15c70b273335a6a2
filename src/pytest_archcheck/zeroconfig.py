"""Zero configuration: a spec for a repository's own model, read from its source (never run).

`discover.configs_in` finds config *classes*; this module finds the other shapes real projects
use and links each to the nn.Module it builds:

- nanoGPT: `GPTConfig` + `train.py` globals + `config/train_*.py` override files (one config
  per override file, named after it);
- minGPT: a function setting `CfgNode` attributes + a table of named sizes (`model_type`);
- argparse defaults and the call that builds the model in the same script (word-level LSTM
  language model, TCN);
- a factory function calling a module class with literal arguments (`ResNet18()`);
- a module class whose constructor has only keyword defaults (vit-pytorch's `ViT`).

Each becomes a `FoundConfig` whose [model] keys carry the line they came from. A value the
source leaves to run time (`vocab_size = None`, `len(corpus.dictionary)`) is written as
`"required: ..."`, which the spec loader reports and refuses: never a guessed number. An
architecture no family models exactly is not written at all (`refused` says why).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .adapters import pysource as ps

if TYPE_CHECKING:
    from .discover import FoundConfig, FoundModule

GPT_KEYS = frozenset({"n_layer", "n_head", "n_embd"})
RNN_TYPES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn", "RNN_RELU": "rnn", "RNN": "rnn"}

# Source names -> spec keys, for constructors and argparse scripts that use their own names.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "vocab": ("ntoken", "ntokens", "vocab_size", "n_vocab", "num_tokens", "vocab"),
    "d_model": ("ninp", "emsize", "n_embd", "embed_dim", "d_model", "dim", "embedding_dim"),
    "hidden": ("nhid", "hidden_size", "hidden_dim", "n_hidden", "hidden"),
    "layers": ("nlayers", "n_layers", "n_layer", "num_layers", "depth", "layers"),
    "tied_embeddings": ("tie_weights", "tied", "tie_embeddings"),
}


def required(what: str) -> str:
    """The placeholder the spec loader reports as a missing value (spec/load.py)."""
    return f"required: {what}"


@dataclass
class Source:
    """One parsed file of the repository."""

    path: Path
    tree: ast.Module
    module: str

    def rel(self, root: Path) -> str:
        try:
            return self.path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return self.path.as_posix()


@dataclass
class Builder:
    """Spec keys with the source line of each, collected for one candidate."""

    root: Path
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, value: Any, where: str, table: str = "model") -> None:
        if value is None:
            return
        (self.model if table == "model" else self.train)[key] = value
        self.sources[f"{table}.{key}"] = where

    def need(self, key: str, what: str, where: str) -> None:
        self.model[key] = required(what)
        self.sources[f"model.{key}"] = where


def _where(src: Source, root: Path, loc: ps.Located | ps.Unknown | None, fallback: int) -> str:
    line = loc.line if loc is not None and loc.line else fallback
    name = f" {loc.name}" if isinstance(loc, ps.Located) else ""
    return f"{src.rel(root)}:{line}{name}"


# --- what the model class itself says ----------------------------------------------------


def ties_weights(cls: ast.ClassDef) -> bool:
    """`self.a.weight = self.b.weight` in the class: the output head shares the embedding."""
    for node in ast.walk(cls):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            t, v = ps.dotted(node.targets[0]), ps.dotted(node.value)
            if t.endswith(".weight") and v.endswith(".weight") and t != v:
                return True
    return False


def batch_first(cls: ast.ClassDef) -> bool:
    """Whether the class builds its recurrent layer with `batch_first=True`."""
    for node in ast.walk(cls):
        if isinstance(node, ast.keyword) and node.arg == "batch_first":
            return isinstance(node.value, ast.Constant) and node.value.value is True
    return False


def _first_param(cls: ast.ClassDef) -> str | None:
    init = ps.init_of(cls)
    if init is None:
        return None
    params = ps.signature(init, skip_self=True)
    return params[0].name if len(params) == 1 else None


def forward_inputs(cls: ast.ClassDef, recurrent: bool, input_kind: str) -> list[str] | None:
    """What the probe feeds `forward`, one entry per required positional argument (the
    `inputs` key), when the default single batch would not do; None when it would."""
    fwd = ps.method_of(cls, "forward")
    if fwd is None:
        return None
    params = [p for p in ps.signature(fwd, skip_self=True) if not p.keyword_only]
    needed = [p for p in params if isinstance(p.default, ps.Unknown)]
    first: str
    if input_kind == "tokens":
        first = "tokens:n_first" if recurrent and not batch_first(cls) else "tokens"
    elif input_kind == "image":
        first = "image"
    else:
        first = "series:channels_first"
    out = [first]
    for p in needed[1:]:
        if p.name in ("hidden", "h", "state", "hx", "h0") and ps.method_of(cls, "init_hidden"):
            out.append("init_hidden")
        else:
            return None  # an argument we cannot synthesise: the user writes an inputs callable
    return None if out == ["tokens"] else out


# --- GPT-style transformers: nanoGPT dataclass + overrides, minGPT CfgNode + size table -------


def gpt_keys(
    b: Builder,
    get: dict[str, tuple[Any, str]],
    tied: bool,
    bias_default: bool,
) -> None:
    """nanoGPT/minGPT names -> spec keys. `get[name] = (value or Unknown/None, where)`."""
    for name, key in (
        ("n_layer", "layers"),
        ("n_head", "heads"),
        ("n_embd", "d_model"),
        ("vocab_size", "vocab"),
        ("block_size", "max_positions"),
    ):
        value, where = get.get(name, (None, ""))
        if value is None or isinstance(value, ps.Unknown):
            what = (
                f"`{name}` has no value in the source ({where}); set model.{key} to the value "
                "your run uses"
            )
            if isinstance(value, ps.Unknown) and value.text:
                what = f"`{name}` is computed at run time ({value.text}, {where}); set model.{key}"
            b.need(key, what, where)
        else:
            b.put(key, value, where)
    bias, where = get.get("bias", (bias_default, ""))
    b.put("bias", "all" if bias else "none", where or "the model's nn.Linear/LayerNorm defaults")
    for key, value in (
        ("mlp", "gelu"),
        ("norm", "layernorm"),
        ("positional", "learned"),
        ("causal", True),
    ):
        b.put(key, value, "GPT block (nanoGPT/minGPT layout)")
    b.put("tied_embeddings", tied, "the model class " + ("ties" if tied else "does not tie"))
    for name in ("dropout", "resid_pdrop"):
        if name in get and isinstance(get[name][0], (int, float)):
            b.put("dropout", float(get[name][0]), get[name][1], table="train")
            break


def nanogpt_overrides(
    cfg: FoundConfig, cls: ast.ClassDef, root: Path, factory: FoundModule | None
) -> list[FoundConfig]:
    """One config per `config/*.py` override file beside a nanoGPT `train.py`."""
    from .discover import FoundConfig

    folder = cfg.path.parent
    train_src = _source(folder / "train.py", root)
    cfg_dir = folder / "config"
    if train_src is None or not cfg_dir.is_dir():
        return []
    fields, values, lines = _class_fields(cls)
    cfg_src = _source(cfg.path, root)
    assert cfg_src is not None
    base: dict[str, tuple[Any, str]] = {}
    for name in fields:
        loc = ps.Located(values.get(name), lines[name], name) if name in values else None
        base[name] = (values.get(name), _where(cfg_src, root, loc, lines[name]))
    train_globals = ps.module_settings(train_src.tree)
    out: list[FoundConfig] = []
    for path in sorted(cfg_dir.glob("*.py")):
        over = _source(path, root)
        if over is None:
            continue
        settings = {**train_globals, **ps.module_settings(over.tree)}
        where_of = {
            k: _where(over if k in ps.module_settings(over.tree) else train_src, root, v, 1)
            for k, v in settings.items()
        }
        get = dict(base)
        for name in fields:
            if name in settings:
                get[name] = (settings[name].value, where_of[name])
        vocab = _nanogpt_vocab(train_src, settings, folder, root)
        if vocab is not None:
            get["vocab_size"] = vocab
        b = Builder(root)
        gpt_keys(b, get, tied=True, bias_default=True)
        for src_name, key in (("batch_size", "batch"), ("block_size", "seq_len")):
            if src_name in settings and isinstance(settings[src_name].value, int):
                b.put(key, settings[src_name].value, where_of[src_name], table="train")
        dtype = settings.get("dtype")
        if dtype is not None and dtype.value in ("float32", "float16", "bfloat16"):
            short = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}[dtype.value]
            b.put("dtype", short, where_of["dtype"], table="train")
        name = path.stem.removeprefix("train_").replace("_", "-")
        config_args: dict[str, Any] = {
            f: ref
            for f, ref in (
                ("n_layer", "{model.layers}"),
                ("n_head", "{model.heads}"),
                ("n_embd", "{model.d_model}"),
                ("vocab_size", "{model.vocab}"),
                ("block_size", "{model.max_positions}"),
                ("bias", None),
                ("dropout", "{train.dropout}"),
            )
            if f in fields
        }
        config_args["bias"] = b.model.get("bias") != "none"
        out.append(
            FoundConfig(
                path=path,
                line=1,
                kind="override",
                name=name,
                ref=f"{cfg.path.name}:{cls.name}",
                detail=f"nanoGPT run config {over.rel(root)} over train.py and {cls.name}",
                model=b.model,
                train=b.train,
                sources=b.sources,
                factory=factory.factory if factory else None,
                config=f"{factory.module if factory else cfg_src.module}:{cls.name}",
                config_args=config_args,
                extends=False,
                spec_dir=folder,
            )
        )
    return out


def _nanogpt_vocab(
    train: Source, settings: dict[str, ps.Located], folder: Path, root: Path
) -> tuple[Any, str] | None:
    """nanoGPT's train.py reads vocab_size from data/<dataset>/meta.pkl when the data set has
    one (character-level runs), else uses its literal fallback."""
    text = ast.unparse(train.tree)
    if "meta_vocab_size" not in text:
        return None
    line = next(
        (
            n.lineno
            for n in ast.walk(train.tree)
            if isinstance(n, ast.Name) and n.id == "meta_vocab_size"
        ),
        1,
    )
    dataset = settings.get("dataset")
    data_dir = folder / "data" / str(dataset.value) if dataset is not None else None
    if data_dir is not None and (
        (data_dir / "meta.pkl").exists() or (data_dir / "prepare.py").exists()
    ):
        return (
            ps.Unknown(f"meta_vocab_size from data/{dataset.value}/meta.pkl", line),  # type: ignore[union-attr]
            f"{train.rel(root)}:{line}",
        )
    for node in ast.walk(train.tree):  # vocab_size=meta_vocab_size if ... else 50304
        if isinstance(node, ast.keyword) and node.arg == "vocab_size":
            v = node.value
            if isinstance(v, ast.IfExp) and isinstance(v.orelse, ast.Constant):
                return (v.orelse.value, f"{train.rel(root)}:{node.value.lineno} vocab_size")
    return None


def mingpt_configs(src: Source, root: Path, modules: list[FoundModule]) -> list[FoundConfig]:
    """A CfgNode-style defaults function + a table of named sizes: one config per size."""
    from .discover import FoundConfig

    out: list[FoundConfig] = []
    for defaults in ps.attribute_defaults(src.tree, GPT_KEYS):
        tables = ps.size_tables(src.tree, frozenset({"n_layer", "n_head"}))
        owner = defaults.qualname.split(".")[0]
        cls = _class(src.tree, owner)
        tied = ties_weights(cls) if cls is not None else False
        named: list[tuple[str, dict[str, ps.Located], ps.SizeTable | None]] = [
            (k, v, t) for t in tables for k, v in t.entries.items()
        ] or [("default", {}, None)]
        for size, entry, table in named:
            get: dict[str, tuple[Any, str]] = {
                k: (loc.value, _where(src, root, loc, defaults.line))
                for k, loc in defaults.values.items()
            }
            for k, loc in entry.items():
                get[k] = (loc.value, _where(src, root, loc, loc.line))
            b = Builder(root)
            gpt_keys(b, get, tied=tied, bias_default=True)
            config_args: dict[str, Any] = {}
            if table is not None and table.selector:
                config_args[table.selector] = size
            for name, ref in (
                ("vocab_size", "{model.vocab}"),
                ("block_size", "{model.max_positions}"),
            ):
                if defaults.values.get(name, ps.Located(None, 0, name)).value is None:
                    config_args[name] = ref
            factory = next((m for m in modules if m.path == src.path and m.name == owner), None)
            out.append(
                FoundConfig(
                    path=src.path,
                    line=table.line if table else defaults.line,
                    kind="cfgnode",
                    name=size,
                    ref=f"{src.path.name}:{defaults.qualname}",
                    detail=f"config built by {defaults.qualname}()"
                    + (f", named size {size!r}" if table else ""),
                    model=b.model,
                    train=b.train,
                    sources=b.sources,
                    factory=factory.factory if factory else f"{src.module}:{owner}",
                    config=f"{src.module}:{defaults.qualname}",
                    config_args=config_args,
                    extends=False,
                    spec_dir=root,  # beside the import root of `factory`
                )
            )
    return out


# --- dict configs and litgpt-style named config tables ------------------------------------


def _entries(src: Source) -> list[tuple[str, dict[str, ps.Located], int]]:
    """(name, values, line) of every module-level GPT-sized config: `x = dict(...)` or
    `X = {...}` (named after the variable), and each entry of a module-level list/tuple of
    `dict(name=...)` / `Config(name=...)` calls or of a dict keyed by name."""
    out: list[tuple[str, dict[str, ps.Located], int]] = []

    def kv(node: ast.expr) -> dict[str, ps.Located] | None:
        if isinstance(node, ast.Call) and not node.args and ps.dotted(node.func) != "dict":
            pairs = [(k.arg, k.value) for k in node.keywords]  # Config(name=..., ...)
            if any(k is None for k, _ in pairs):
                return None
            values: dict[str, ps.Located] = {}
            for k, v in pairs:
                try:
                    values[str(k)] = ps.Located(ast.literal_eval(v), v.lineno, str(k))
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    return None
            return values
        return ps._kv(node)

    for node in src.tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = node.value
        single = (
            kv(value)
            if not (isinstance(value, ast.Call) and ps.dotted(value.func) != "dict")
            else None
        )
        if single is not None and set(single) >= GPT_KEYS:
            out.append((target.id.lower().replace("_", "-"), single, node.lineno))
            continue
        items: list[tuple[str | None, ast.expr]] = []
        if isinstance(value, (ast.List, ast.Tuple)):
            items = [(None, e) for e in value.elts]
        elif isinstance(value, ast.Dict):
            items = [
                (k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else "", v)
                for k, v in zip(value.keys, value.values, strict=True)
            ]
        for key, elt in items:
            entry = kv(elt)
            if entry is None or not set(entry) >= GPT_KEYS:
                continue
            name = key or (entry["name"].value if "name" in entry else None)
            if isinstance(name, str) and name:
                out.append((name, entry, elt.lineno))
    return out


def dict_configs(src: Source, root: Path, config_classes: list[FoundConfig]) -> list[FoundConfig]:
    """Module-level dict configs and named config tables of a GPT config class's fields: one
    config each, built with that class (`config = "model:Config"`) and its factory."""
    from .discover import FoundConfig

    entries = _entries(src)
    if not entries:
        return []
    out: list[FoundConfig] = []
    for cls_cfg in config_classes:
        cls_src = _source(cls_cfg.path, root)
        cls = _class(cls_src.tree, cls_cfg.ref.rpartition(":")[2]) if cls_src else None
        if cls is None or cls_src is None:
            continue
        fields, values, lines = _class_fields(cls)
        if not set(fields) >= GPT_KEYS:
            continue
        for name, entry, line in entries:
            if not set(entry) <= set(fields):
                continue  # a key the class does not have: another class's config
            get: dict[str, tuple[Any, str]] = {}
            for f in fields:
                loc = ps.Located(values.get(f), lines[f], f) if f in values else None
                get[f] = (values.get(f), _where(cls_src, root, loc, lines[f]))
            for k, loc in entry.items():
                get[k] = (loc.value, _where(src, root, loc, loc.line))
            b = Builder(root)
            tied = cls_cfg.model.get("tied_embeddings", True)
            gpt_keys(b, get, tied=bool(tied), bias_default=True)
            refs = {"n_layer": "{model.layers}", "n_head": "{model.heads}",
                    "n_embd": "{model.d_model}", "vocab_size": "{model.vocab}",
                    "block_size": "{model.max_positions}", "dropout": "{train.dropout}"}  # fmt: skip
            config_args: dict[str, Any] = {
                f: refs[f] for f in fields if f in refs and (f != "dropout" or "dropout" in b.train)
            }
            if "bias" in fields:
                config_args["bias"] = b.model.get("bias") != "none"
            for k, loc in entry.items():
                if k not in refs and k != "bias":
                    config_args[k] = loc.value
            out.append(
                FoundConfig(
                    path=src.path,
                    line=line,
                    kind="dict",
                    name=name,
                    ref=f"{src.path.name}:{line}",
                    detail=f"config {name!r} ({src.rel(root)}:{line}) of {cls.name}",
                    model=b.model,
                    train=b.train,
                    sources=b.sources,
                    factory=cls_cfg.factory,
                    config=cls_cfg.config,
                    config_args=config_args,
                    extends=False,
                    spec_dir=root,
                )
            )
    return out


# --- scripts that build the model from argparse defaults; factory functions ---------------


def script_configs(
    src: Source, root: Path, classes: dict[str, tuple[Source, ast.ClassDef]]
) -> list[FoundConfig]:
    """`net = model.RNNModel(args.model, ntokens, args.emsize, ...)` in a script with argparse
    defaults: the call's arguments, bound to the class's constructor."""
    defaults = ps.argparse_defaults(src.tree)
    if not defaults:
        return []
    out: list[FoundConfig] = []
    seen: set[str] = set()
    blocks: list[list[ast.stmt]] = [src.tree.body] + [
        n.body for n in src.tree.body if isinstance(n, ast.FunctionDef)
    ]
    for body in blocks:
        env = ps.Env(ps.module_settings(src.tree))
        env.args = defaults
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # read as its own block, with its own local names
            ps.local_bindings([stmt], env)
            for node in ast.walk(stmt):
                if not isinstance(node, ast.Call):
                    continue
                name = ps.dotted(node.func).split(".")[-1]
                if name not in classes or name in seen:
                    continue
                cls_src, cls = classes[name]
                init = ps.init_of(cls)
                if init is None:
                    continue
                bound = ps.bind(node, ps.signature(init, skip_self=True), env)
                if bound is None:
                    continue
                seen.add(name)
                out.append(_from_call(src, root, cls_src, cls, node, bound, defaults, classes))
    return out


def _from_call(
    src: Source,
    root: Path,
    cls_src: Source,
    cls: ast.ClassDef,
    call: ast.Call,
    bound: dict[str, tuple[Any, int]],
    defaults: dict[str, ps.Located],
    classes: dict[str, tuple[Source, ast.ClassDef]],
) -> FoundConfig:
    from .discover import FoundConfig

    b = Builder(root)
    factory_args: dict[str, Any] = {}
    arg_where: dict[str, str] = {}
    by_line = {loc.line: loc for loc in defaults.values()}
    for pname, (value, line) in bound.items():
        loc = by_line.get(_arg_line(call, pname, bound, defaults) or -1)
        arg_where[pname] = (
            f"{src.rel(root)}:{loc.line} {loc.name}"
            if loc is not None
            else f"{(src if line == call.lineno else cls_src).rel(root)}:{line}"
        )
        factory_args[pname] = value
    refused: str | None = None
    family: str | None = None
    rnn = factory_args.get("rnn_type") or factory_args.get("model") or factory_args.get("cell")
    source_text = ast.unparse(cls)
    if isinstance(rnn, str) and rnn in RNN_TYPES:
        family = RNN_TYPES[rnn]
    elif "nn.LSTM" in source_text or "nn.GRU" in source_text:
        family = "lstm" if "nn.LSTM" in source_text else "gru"
    if family is not None:
        b.put("family", family, arg_where.get("rnn_type", f"{cls_src.rel(root)}:{cls.lineno}"))
        b.put("bias", "all", "torch.nn.LSTM/GRU and nn.Linear default bias=True")
        for key, names in SYNONYMS.items():
            found = next((n for n in names if n in factory_args), None)
            if found is None:
                continue
            pname = found
            value = factory_args[pname]
            if isinstance(value, ps.Unknown):
                text = value.text or pname
                b.need(
                    key,
                    f"`{pname}` is computed at run time ({text}, {src.rel(root)}:{value.line}); "
                    f"set model.{key}",
                    f"{src.rel(root)}:{value.line}",
                )
                factory_args[pname] = "{model." + key + "}"
            else:
                b.put(key, value, arg_where[pname])
                factory_args[pname] = "{model." + key + "}"
        if "dropout" in factory_args and isinstance(factory_args["dropout"], (int, float)):
            b.put("dropout", float(factory_args["dropout"]), arg_where["dropout"], table="train")
        if "bptt" in defaults:
            b.put(
                "bptt",
                defaults["bptt"].value,
                f"{src.rel(root)}:{defaults['bptt'].line} --bptt",
                table="train",
            )
            b.put(
                "seq_len",
                defaults["bptt"].value,
                f"{src.rel(root)}:{defaults['bptt'].line} --bptt",
                table="train",
            )
        if "batch_size" in defaults:
            loc = defaults["batch_size"]
            b.put("batch", loc.value, f"{src.rel(root)}:{loc.line} --batch_size", table="train")
        if not ties_weights(cls):
            b.put("tied_embeddings", False, f"{cls_src.rel(root)}:{cls.lineno} (never ties)")
    else:
        refused = (
            f"{cls.name} ({cls_src.rel(root)}:{cls.lineno}) is not an architecture a family "
            "models exactly"
        )
        tcn = temporal_conv_net(cls, cls_src, classes, factory_args, root)
        if isinstance(tcn, str):
            refused = tcn
        elif tcn is not None:
            refused = None
            _tcn_keys(b, tcn, arg_where, factory_args)
            for flag, key, table in (
                ("batch_size", "batch", "train"),
                ("seq_len", "seq_len", "train"),
            ):
                if flag in defaults and isinstance(defaults[flag].value, int):
                    loc = defaults[flag]
                    b.put(key, loc.value, f"{src.rel(root)}:{loc.line} --{flag}", table=table)
    inputs = (
        forward_inputs(cls, family is not None, "tokens" if family else "series")
        if not refused
        else None
    )
    for pname, value in list(factory_args.items()):
        if isinstance(value, ps.Unknown):
            factory_args[pname] = required(
                f"`{pname}` is computed at run time ({value.text}, {src.rel(root)}:{value.line})"
            )
    return FoundConfig(
        path=src.path,
        line=call.lineno,
        kind="script",
        name=cls.name.lower(),
        ref=f"{src.path.name}:{call.lineno}",
        detail=f"argparse defaults of {src.rel(root)} and its {cls.name}(...) call",
        model=b.model,
        train=b.train,
        sources=b.sources,
        factory=f"{cls_src.module}:{cls.name}",
        factory_args=factory_args,
        extends=False,
        inputs=inputs,
        refused=refused,
    )


@dataclass
class TemporalNet:
    """A locuslab/TCN-style model read from source: per level one residual block of two
    (weight-normed) convolutions of one kernel and dilation 2**level, a 1x1 skip convolution
    where the width changes, and a Linear head on the last position."""

    in_channels: int
    channels: list[int]
    kernel: int
    weight_norm: bool
    classes: int | None
    where: str  # the block class, file:line
    params: dict[str, str]  # role -> the top-level constructor parameter feeding it


def _calls(node: ast.AST, suffix: str) -> list[ast.Call]:
    return [
        n for n in ast.walk(node) if isinstance(n, ast.Call) and ps.dotted(n.func).endswith(suffix)
    ]


def _param_name(node: ast.expr | None) -> str | None:
    return node.id if isinstance(node, ast.Name) else None


def temporal_conv_net(
    cls: ast.ClassDef,
    cls_src: Source,
    classes: dict[str, tuple[Source, ast.ClassDef]],
    factory_args: dict[str, Any],
    root: Path,
) -> TemporalNet | str | None:
    """The TCN built by `cls` (its own constructor or a `TemporalConvNet(...)` it calls), read
    by its structure, not its names: a class looping over a channel list with `dilation =
    2 ** i` that builds a block class holding two Conv1d of that dilation and a 1x1 Conv1d.
    None when `cls` builds no such thing; a string saying why when it does but differs."""
    init = ps.init_of(cls)
    if init is None:
        return None
    # the network class: `cls` itself, or the class its constructor calls with its arguments
    net_cls, net_call = cls, None
    for call in ast.walk(init):
        if isinstance(call, ast.Call):
            name = ps.dotted(call.func).split(".")[-1]
            if name in classes and name != cls.name and _dilation_loop(classes[name][1]):
                net_cls, net_call = classes[name][1], call
                break
    loop = _dilation_loop(net_cls)
    if loop is None:
        return None
    block_name, channels_param = loop
    where = f"{cls_src.rel(root)}:{cls.lineno} {cls.name}"
    if block_name not in classes:
        return f"{where}: its residual block class {block_name} was not found in the source"
    block_src, block = classes[block_name]
    block_where = f"{block_src.rel(root)}:{block.lineno} {block_name}"
    convs = _calls(block, "Conv1d")
    normed = [c for c in _calls(block, "weight_norm") if _calls(c, "Conv1d")]
    skips = [c for c in convs if len(c.args) > 2 and ps.evaluate(c.args[2], ps.Env()) == 1]
    fwd = ps.method_of(block, "forward")
    adds = fwd is not None and any(
        isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add) for n in ast.walk(fwd)
    )
    if len(convs) != 3 or len(skips) != 1 or not adds:
        return (
            f"{block_where}: a temporal block that is not two convolutions with a skip (and a "
            "1x1 convolution on it where the width changes) is not modelled by the tcn family "
            "(model.residual)"
        )
    net_init = ps.init_of(net_cls) or init
    padded = any(
        k.arg == "padding" and "dilation" in ast.unparse(k.value)
        for c in ast.walk(net_init)
        if isinstance(c, ast.Call)
        for k in c.keywords
    )
    chomped = any(
        isinstance(n, ast.Slice)
        and isinstance(n.upper, ast.UnaryOp)
        and isinstance(n.upper.op, ast.USub)
        for _, c in classes.values()
        for n in ast.walk(c)
    )
    if not (padded and chomped):
        return (
            f"{block_where}: causal padding other than Conv1d(padding=(k-1)*dilation) and a "
            "chomp of the last outputs is not read (model.padding)"
        )
    if normed and len(normed) != 2:
        return f"{block_where}: only some convolutions are weight-normed (model.weight_norm)"
    if any(k.arg == "bias" for c in convs for k in c.keywords):
        return f"{block_where}: convolutions without bias are not read (model.bias)"
    # the arguments: map the network's constructor parameters to the factory's values
    net_params = [p.name for p in ps.signature(ps.init_of(net_cls) or init, skip_self=True)]
    roles: dict[str, str] = {}  # role -> top-level parameter name
    if net_call is not None:
        for pname, node in zip(net_params, net_call.args, strict=False):
            if (arg := _param_name(node)) is not None:
                roles[pname] = arg
        for kw in net_call.keywords:
            if kw.arg and (arg := _param_name(kw.value)) is not None:
                roles[kw.arg] = arg
    else:
        roles = {p: p for p in net_params}
    top = {r: roles.get(r) for r in (net_params[0], channels_param, "kernel_size")}
    values = {r: factory_args.get(t) if t else None for r, t in top.items()}
    kernel = values["kernel_size"]
    if kernel is None:  # the network's own default
        kernel = next(
            (p.default for p in ps.signature(ps.init_of(net_cls) or init, skip_self=True)
             if p.name == "kernel_size"),
            None,
        )  # fmt: skip
    chans, c_in = values[channels_param], values[net_params[0]]
    if not (
        isinstance(kernel, int)
        and isinstance(c_in, int)
        and isinstance(chans, list)
        and chans
        and all(isinstance(c, int) for c in chans)
    ):
        return (
            f"{where}: the input width, channel list or kernel size is not a literal "
            "(argparse default or constant) in the call that builds it"
        )
    head = _last_step_head(cls)
    classes_value = factory_args.get(head) if head else None
    if head is not None and not isinstance(classes_value, int):
        return f"{where}: the output width `{head}` is not a literal"
    return TemporalNet(
        in_channels=c_in,
        channels=chans,
        kernel=kernel,
        weight_norm=bool(normed),
        classes=classes_value if isinstance(classes_value, int) else None,
        where=block_where,
        params={
            "in_channels": top[net_params[0]] or "",
            "channels": top[channels_param] or "",
            "kernel": top["kernel_size"] or "",
            "classes": head or "",
        },
    )


def _dilation_loop(cls: ast.ClassDef) -> tuple[str, str] | None:
    """(block class name, channel-list parameter) of a constructor that loops over a channel
    list with `dilation = 2 ** i` and builds one block per level."""
    init = ps.init_of(cls)
    if init is None:
        return None
    for loop in ast.walk(init):
        if not (isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call)):
            continue
        if ps.dotted(loop.iter.func) != "enumerate" or not loop.iter.args:
            continue
        channels = _param_name(loop.iter.args[0])
        text = ast.unparse(loop)
        if channels is None or "2 ** i" not in text.replace("2**i", "2 ** i"):
            continue
        for call in ast.walk(loop):
            if isinstance(call, ast.Call) and any(k.arg == "dilation" for k in call.keywords):
                return ps.dotted(call.func).split(".")[-1], channels
    return None


def _last_step_head(cls: ast.ClassDef) -> str | None:
    """The constructor parameter giving the output width of a `nn.Linear(channels[-1], out)`
    the class applies to the last position (`self.linear(y[:, :, -1])`)."""
    init = ps.init_of(cls)
    fwd = ps.method_of(cls, "forward")
    if init is None or fwd is None or "-1]" not in ast.unparse(fwd):
        return None
    for call in _calls(init, "Linear"):
        if len(call.args) == 2:
            return _param_name(call.args[1])
    return None


def _tcn_keys(
    b: Builder, tcn: TemporalNet, arg_where: dict[str, str], factory_args: dict[str, Any]
) -> None:
    """Spec keys of a TCN: each level is two layers of one kernel and dilation 2**level."""
    levels = len(tcn.channels)

    def at(role: str) -> str:
        return arg_where.get(tcn.params[role], tcn.where)

    b.put("family", "tcn", tcn.where + " (dilated causal residual blocks)")
    b.put("input", "embeddings", "float series, channels first (forward's input)")
    b.put("in_channels", tcn.in_channels, at("in_channels"))
    b.put("layers", 2 * levels, f"{at('channels')} ({levels} levels x 2 convolutions)")
    b.put("kernel", tcn.kernel, at("kernel"))
    b.put("dilations", [2**i for i in range(levels) for _ in (0, 1)], tcn.where + " 2 ** i")
    b.put("channels", [c for c in tcn.channels for _ in (0, 1)], at("channels"))
    b.put("padding", "chomp", tcn.where + " Conv1d(padding=(k-1)*dilation) + Chomp1d")
    b.put("residual", True, tcn.where + " skip sum (1x1 conv where the width changes)")
    b.put("weight_norm", tcn.weight_norm, tcn.where + " weight_norm")
    b.put("bias", "all", "nn.Conv1d/nn.Linear default bias=True")
    if tcn.classes is not None:
        b.put("classes", tcn.classes, at("classes") + " (Linear on the last position)")
    for role, key in (("in_channels", "in_channels"), ("kernel", "kernel"), ("classes", "classes")):
        pname = tcn.params[role]
        if pname in factory_args and key in b.model:
            factory_args[pname] = "{model." + key + "}"
    if "dropout" in factory_args and isinstance(factory_args["dropout"], (int, float)):
        b.put("dropout", float(factory_args["dropout"]), arg_where["dropout"], table="train")
        factory_args["dropout"] = "{train.dropout}"


def _arg_line(
    call: ast.Call, pname: str, bound: dict[str, tuple[Any, int]], defaults: dict[str, ps.Located]
) -> int | None:
    """The add_argument line of an `args.X` passed for `pname`, if the call passed one."""
    names = list(bound)
    node: ast.expr | None = None
    idx = names.index(pname)
    if idx < len(call.args):
        node = call.args[idx]
    for kw in call.keywords:
        if kw.arg == pname:
            node = kw.value
    if isinstance(node, ast.Attribute) and node.attr in defaults:
        return defaults[node.attr].line
    return None


def resnet_configs(
    src: Source, root: Path, classes: dict[str, tuple[Source, ast.ClassDef]], fn: ast.FunctionDef
) -> list[FoundConfig]:
    """`def ResNet18(): return ResNet(BasicBlock, [2, 2, 2, 2])` over a ResNet class that
    builds stages with `self._make_layer(block, planes, num_blocks[i], stride=s)`."""
    from .discover import FoundConfig

    ret = next((n.value for n in ast.walk(fn) if isinstance(n, ast.Return)), None)
    if not isinstance(ret, ast.Call) or len(ret.args) < 2:
        return []
    cls_name = ps.dotted(ret.func).split(".")[-1]
    if cls_name not in classes:
        return []
    cls_src, cls = classes[cls_name]
    block = ps.dotted(ret.args[0])
    counts = ps.evaluate(ret.args[1], ps.Env())
    if not (isinstance(counts, list) and all(isinstance(c, int) for c in counts)):
        return []
    stages: list[tuple[int, int]] = []
    for node in ast.walk(cls):
        if isinstance(node, ast.Call) and ps.dotted(node.func).endswith("_make_layer"):
            planes = ps.evaluate(node.args[1], ps.Env()) if len(node.args) > 1 else None
            stride_node = next((k.value for k in node.keywords if k.arg == "stride"), None)
            if stride_node is None and len(node.args) > 3:
                stride_node = node.args[3]
            stride = ps.evaluate(stride_node, ps.Env())
            if isinstance(planes, int) and isinstance(stride, int):
                stages.append((planes, stride))
    where = f"{src.rel(root)}:{fn.lineno} {fn.name}()"
    cls_where = f"{cls_src.rel(root)}:{cls.lineno} {cls.name}"
    refused = None
    if len(stages) != len(counts) or not stages:
        refused = f"{cls.name}'s stages could not be read from its _make_layer calls"
    block_cls = classes.get(block)
    if block_cls is None or "expansion = 1" not in ast.unparse(block_cls[1]):
        refused = (
            f"{block} blocks (bottlenecks, expansion != 1) are not modelled by the conv2d family "
            "(ResNet BasicBlocks only)"
        )
    b = Builder(root)
    channels: list[int] = []
    strides: list[int] = []
    for (planes, stride), count in zip(stages, counts, strict=False):
        for i in range(count):
            channels.append(planes)
            strides.append(stride if i == 0 else 1)
    init = ps.init_of(cls)
    classes_value = None
    if init is not None:
        for p in ps.signature(init, skip_self=True):
            if p.name == "num_classes" and isinstance(p.default, int):
                classes_value = (p.default, f"{cls_src.rel(root)}:{p.line} num_classes")
    stem = _stem_conv(cls)
    b.put("family", "cnn", cls_where)
    b.put("input", "image", cls_where)
    b.put("layers", len(channels), where + f" (blocks {counts})")
    b.put("channels", channels, cls_where + " _make_layer planes")
    b.put("strides", strides, cls_where + " _make_layer stride")
    if stem is not None:
        b.put("in_channels", stem[0], f"{cls_src.rel(root)}:{stem[1]} conv1")
    if classes_value is not None:
        b.put("classes", classes_value[0], classes_value[1])
    side = _image_side(src.path.parent, root)
    if side is None:
        b.need(
            "image_size",
            "the training images' side in pixels is set by the data pipeline; set "
            "model.image_size (CIFAR-10: 32, ImageNet: 224)",
            cls_where,
        )
    else:
        b.put("image_size", side[0], side[1])
    return [
        FoundConfig(
            path=src.path,
            line=fn.lineno,
            kind="factory",
            name=fn.name.lower(),
            ref=f"{src.path.name}:{fn.name}",
            detail=f"factory function {fn.name}() -> {cls.name}({block}, {counts})",
            model=b.model,
            train=b.train,
            sources=b.sources,
            factory=f"{src.module}:{fn.name}",
            extends=False,
            refused=refused,
        )
    ]


def _stem_conv(cls: ast.ClassDef) -> tuple[int, int] | None:
    for node in ast.walk(cls):
        if isinstance(node, ast.Call) and ps.dotted(node.func).endswith("Conv2d") and node.args:
            value = ps.evaluate(node.args[0], ps.Env())
            if isinstance(value, int):
                return value, node.lineno
    return None


def _image_side(folder: Path, root: Path) -> tuple[int, str] | None:
    """`transforms.RandomCrop(32, ...)` / `RandomResizedCrop(224)` in a script of the folder."""
    for path in sorted(folder.glob("*.py")):
        src = _source(path, root)
        if src is None:
            continue
        for node in ast.walk(src.tree):
            name = ps.dotted(node.func).split(".")[-1] if isinstance(node, ast.Call) else ""
            if name in ("RandomCrop", "RandomResizedCrop", "CenterCrop") and node.args:  # type: ignore[attr-defined]
                value = ps.evaluate(node.args[0], ps.Env())  # type: ignore[attr-defined]
                if isinstance(value, int):
                    return value, f"{src.rel(root)}:{node.lineno} {name}"  # type: ignore[attr-defined]
    return None


def kwargs_configs(src: Source, root: Path, cls: ast.ClassDef) -> list[FoundConfig]:
    """A module class whose constructor has only defaulted keyword parameters (vit-pytorch):
    its defaults are the configuration."""
    from .discover import FoundConfig

    init = ps.init_of(cls)
    if init is None:
        return []
    params = ps.signature(init, skip_self=True)
    if len(params) < 3 or any(isinstance(p.default, ps.Unknown) for p in params):
        return []
    names = {p.name for p in params}
    refused = None
    if "patch_size" in names:
        return [vit_config(src, root, cls, params)]
    if not names & {n for ns in SYNONYMS.values() for n in ns}:
        return []
    else:
        refused = f"{cls.name}: a constructor-configured module no family recognises"
    return [
        FoundConfig(
            path=src.path,
            line=cls.lineno,
            kind="kwargs",
            name=cls.name.lower(),
            ref=f"{src.path.name}:{cls.name}",
            detail=f"constructor keyword defaults of {cls.name}",
            model={p.name: p.default for p in params},
            sources={f"model.{p.name}": f"{src.rel(root)}:{p.line}" for p in params},
            factory=f"{src.module}:{cls.name}",
            extends=False,
            refused=refused,
        )
    ]


# vit-pytorch's constructor names -> spec keys (the ViT family's)
VIT_KEYS = {
    "image_size": "image_size", "patch_size": "patch", "num_classes": "classes", "dim": "d_model",
    "depth": "layers", "heads": "heads", "mlp_dim": "d_ff", "channels": "in_channels",
    "dim_head": "head_size",
}  # fmt: skip


def vit_config(src: Source, root: Path, cls: ast.ClassDef, params: list[ps.Param]) -> FoundConfig:
    """A vit-pytorch-style `ViT(image_size=..., patch_size=..., dim=..., depth=..., ...)`: its
    keyword defaults are the sizes; the layout is read from the file's classes (patch
    embedding, fused q/k/v projection and its bias, pre-norm blocks, final norm, head) and a
    layout the ViT family does not model is refused, naming the spec key that cannot say it."""
    from .discover import FoundConfig

    where = f"{src.rel(root)}:{cls.lineno} {cls.name}"
    b = Builder(root)
    factory_args: dict[str, Any] = {}
    defaults = {p.name: p for p in params}
    layout = _vit_layout(src.tree, cls)
    refused = layout if isinstance(layout, str) else None
    missing = [n for n in ("image_size", "patch_size", "dim", "depth", "heads", "mlp_dim")
               if n not in defaults]  # fmt: skip
    if missing and refused is None:
        refused = f"{where}: no constructor default for {', '.join(missing)} (model.patch, ...)"
    if not isinstance(layout, str):
        b.put("family", "transformer", where)
        b.put("input", "image", where + " forward(img)")
        for name, key in VIT_KEYS.items():
            p = defaults.get(name)
            if p is None:
                continue
            if not isinstance(p.default, int):
                b.need(key, f"`{name}` has no literal default ({src.rel(root)}:{p.line})",
                       f"{src.rel(root)}:{p.line}")  # fmt: skip
            else:
                b.put(key, p.default, f"{src.rel(root)}:{p.line} {name}")
            factory_args[name] = "{model." + key + "}"
        for key, value in layout.items():
            b.put(key, value, layout_where(key, where))
        for name in ("dropout", "emb_dropout"):
            p = defaults.get(name)
            if p is not None and isinstance(p.default, (int, float)) and p.default:
                refused = refused or (
                    f"{where}: `{name}` = {p.default}: dropout inside a ViT's blocks is not "
                    "modelled for image models (train.dropout)"
                )
    return FoundConfig(
        path=src.path,
        line=cls.lineno,
        kind="kwargs",
        name=cls.name.lower(),
        ref=f"{src.path.name}:{cls.name}",
        detail=f"constructor keyword defaults of {cls.name}",
        model=b.model,
        train=b.train,
        sources=b.sources,
        factory=f"{src.module}:{cls.name}",
        factory_args=factory_args,
        extends=False,
        inputs=forward_inputs(cls, False, "image"),
        refused=refused,
        spec_dir=root,
    )


def layout_where(key: str, where: str) -> str:
    what = {
        "patch_norm": "to_patch_embedding: LayerNorm, Linear, LayerNorm",
        "biases": "q/k/v Linear(bias=False); out, MLP, norms and head with bias",
        "fused_projections": "one Linear for q, k and v (chunk(3))",
        "mlp": "FeedForward GELU",
        "class_token": "cls_token",
        "positional": "pos_embedding parameter",
        "final_norm": "a LayerNorm after the blocks",
        "pooler": "the head reads the class token",
        "causal": "no mask",
        "norm": "nn.LayerNorm",
    }
    return f"{where} ({what.get(key, key)})"


def _vit_layout(tree: ast.Module, cls: ast.ClassDef) -> dict[str, Any] | str:
    """The ViT family's layout keys read from the module, or why it is not that layout."""
    init = ps.init_of(cls)
    assert init is not None
    where = f"{cls.name} (line {cls.lineno})"
    patch: list[str] | None = None
    for node in ast.walk(init):
        if isinstance(node, ast.Assign) and ps.dotted(node.targets[0]).endswith("patch_embedding"):
            patch = [
                ps.dotted(c.func).split(".")[-1]
                for c in ast.walk(node.value)
                if isinstance(c, ast.Call)
                and ps.dotted(c.func).split(".")[-1] in ("LayerNorm", "Linear", "Conv2d")
            ]
    layout: dict[str, Any] = {"norm": "layernorm", "causal": False, "pooler": False}
    if patch == ["LayerNorm", "Linear", "LayerNorm"]:
        layout["patch_norm"] = True
    elif patch not in (["Linear"], ["Conv2d"]):
        return (
            f"{where}: a patch embedding of {patch or 'unread layers'} is not modelled "
            "(the ViT family: a patch convolution, or model.patch_norm: LayerNorm, Linear, "
            "LayerNorm)"
        )
    text = ast.unparse(tree)
    linears = [c for c in ast.walk(tree) if isinstance(c, ast.Call)
               and ps.dotted(c.func).split(".")[-1] == "Linear"]  # fmt: skip
    qkv = [c for c in linears if len(c.args) == 2 and ast.unparse(c.args[1]).endswith("* 3")]
    if len(qkv) != 1:
        return (
            f"{where}: the attention's q/k/v projection is not one Linear to 3 x the inner "
            "width (model.fused_projections)"
        )
    no_bias = any(k.arg == "bias" and ps.evaluate(k.value, ps.Env()) is False
                  for k in qkv[0].keywords)  # fmt: skip
    others = [c for c in linears if c is not qkv[0]]
    if any(k.arg == "bias" for c in others for k in c.keywords):
        return f"{where}: a Linear other than q/k/v sets its own bias (model.biases)"
    layout["fused_projections"] = True
    layout["biases"] = ["out", "mlp", "norm", "head"] + ([] if no_bias else ["qkv"])
    if "GELU" not in text or any(a in text for a in ("SiLU", "ReLU", "GLU(")):
        return f"{where}: an MLP other than Linear, GELU, Linear is not read (model.mlp)"
    layout["mlp"] = "gelu"
    if "cls_token" not in ast.unparse(init):
        return f"{where}: no class token (model.class_token)"
    layout["class_token"] = True
    if "pos_embedding" not in ast.unparse(init):
        return f"{where}: no learned position table (model.positional)"
    layout["positional"] = "learned"
    final = [
        c
        for c in ast.walk(init)
        if isinstance(c, ast.Call) and ps.dotted(c.func).split(".")[-1] == "LayerNorm"
    ]
    extra_norms = len(final) - (2 if layout.get("patch_norm") else 0)
    if extra_norms != 1:
        return f"{where}: {extra_norms} norms after the blocks (model.final_norm: one or none)"
    layout["final_norm"] = True
    if "mean(dim=1)" in text or "mean(1)" in text:
        return f"{where}: mean pooling over the patches is not modelled (model.class_token)"
    return layout


# --- helpers -------------------------------------------------------------------------------


def _source(path: Path, root: Path) -> Source | None:
    from .discover import _module_name, _read_small

    text = _read_small(path)
    if text is None:
        return None
    tree = ps.parse(text, str(path))
    if tree is None:
        return None
    try:
        module = _module_name(path, root)
    except ValueError:
        module = path.stem
    return Source(path, tree, module)


def _class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    return next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)


def _class_fields(cls: ast.ClassDef) -> tuple[list[str], dict[str, Any], dict[str, int]]:
    """(field names in source order, literal defaults, lines) of a config class."""
    from .adapters.pyconfig import _fields

    _, values, lines = _fields(cls)
    return list(lines), values, lines


def link_config_class(
    cfg: FoundConfig, modules: list[FoundModule], root: Path
) -> tuple[FoundModule | None, ast.ClassDef | None]:
    """The module class that takes this config class as its only argument, and the config
    class node."""
    src = _source(cfg.path, root)
    if src is None:
        return None, None
    cls_name = cfg.ref.rpartition(":")[2]
    cfg_cls = _class(src.tree, cls_name)
    best = None
    for m in modules:
        if m.path != cfg.path or m.kind != "class" or not m.top_level:
            continue
        node = _class(src.tree, m.name)
        if node is None:
            continue
        init = ps.init_of(node)
        if init is None:
            continue
        params = ps.signature(init, skip_self=True)
        if len(params) != 1:
            continue
        ann = init.args.args[1].annotation if len(init.args.args) > 1 else None
        if ps.dotted(ann) == cls_name or params[0].name in ("config", "args", "params", "cfg"):
            best = m
    return best, cfg_cls


def discover_more(
    paths: list[Path], root: Path, configs: list[FoundConfig], modules: list[FoundModule]
) -> list[FoundConfig]:
    """Configs in the shapes `configs_in` does not read, linked to their modules; and the
    factory/config links of the dataclass configs it did read (updated in place)."""
    sources = [s for p in paths if p.suffix == ".py" and (s := _source(p, root)) is not None]
    classes: dict[str, tuple[Source, ast.ClassDef]] = {}
    module_names = {(m.path, m.name) for m in modules if m.kind == "class"}
    for s in sources:
        for node in s.tree.body:
            if isinstance(node, ast.ClassDef) and (
                (s.path, node.name) in module_names or node.name not in classes
            ):
                classes[node.name] = (s, node)
    extra: list[FoundConfig] = []
    for cfg in list(configs):
        if cfg.kind != "dataclass":
            continue
        factory, cfg_cls = link_config_class(cfg, modules, root)
        if factory is not None and cfg_cls is not None:
            src = _source(cfg.path, root)
            owner = _class(src.tree, factory.name) if src else None
            cfg.factory = factory.factory
            cfg.config = f"{factory.module}:{cfg_cls.name}"
            _dataclass_args(cfg, cfg_cls)
            if owner is not None:
                tied = ties_weights(owner)
                if cfg.model.get("tied_embeddings") != tied:
                    cfg.model["tied_embeddings"] = tied
                    cfg.sources["model.tied_embeddings"] = (
                        f"{factory.path.name}:{owner.lineno} {factory.name} "
                        + ("ties" if tied else "does not tie")
                    )
        if cfg_cls is not None and set(_class_fields(cfg_cls)[0]) >= GPT_KEYS:
            extra += nanogpt_overrides(cfg, cfg_cls, root, factory)
    classes_cfg = [c for c in configs if c.kind == "dataclass" and c.config and c.factory]
    for s in sources:
        extra += dict_configs(s, root, classes_cfg)
    known = {c.path for c in configs}
    for s in sources:
        if s.path not in known:
            extra += mingpt_configs(s, root, modules)
        extra += script_configs(s, root, classes)
        for node in s.tree.body:
            if isinstance(node, ast.FunctionDef) and any(
                m.path == s.path and m.name == node.name and m.kind == "function" for m in modules
            ):
                extra += resnet_configs(s, root, classes, node)
            if isinstance(node, ast.ClassDef) and any(
                m.path == s.path and m.name == node.name and m.top_level for m in modules
            ):
                extra += kwargs_configs(s, root, node)
    # a class constructed by a script is described by the script, not by its keyword defaults
    scripted = {c.factory for c in extra if c.kind == "script"}
    return [c for c in extra if not (c.kind == "kwargs" and c.factory in scripted)]


def _dataclass_args(cfg: FoundConfig, cls: ast.ClassDef) -> None:
    """config_args of a dataclass config: every size the spec describes, as a reference to
    the spec key, so that the spec is the one place to change it."""
    fields = set(_class_fields(cls)[0])
    refs = {
        "n_layer": "layers", "n_layers": "layers", "n_head": "heads", "n_heads": "heads",
        "n_kv_heads": "kv_heads", "n_embd": "d_model", "dim": "d_model", "vocab_size": "vocab",
        "block_size": "max_positions", "max_seq_len": "max_positions",
    }  # fmt: skip
    for name, key in refs.items():
        if name in fields and key in cfg.model:
            if name == "n_kv_heads" and cfg.model.get("kv_heads") == cfg.model.get("heads"):
                continue  # None in the class means "= n_heads"
            cfg.config_args[name] = "{model." + key + "}"
