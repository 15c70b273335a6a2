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
                out.append(_from_call(src, root, cls_src, cls, node, bound, defaults))
    return out


def _from_call(
    src: Source,
    root: Path,
    cls_src: Source,
    cls: ast.ClassDef,
    call: ast.Call,
    bound: dict[str, tuple[Any, int]],
    defaults: dict[str, ps.Located],
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
        if "Conv1d" in source_text or "TemporalConvNet" in source_text:
            refused = (
                f"{cls.name} ({cls_src.rel(root)}:{cls.lineno}): residual temporal blocks "
                "(two weight-normed convolutions and a 1x1 downsample per level) are not "
                "modelled by the tcn family"
            )
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
        refused = (
            f"{cls.name} is a vision transformer (patch embedding, class token): no family "
            "models it yet"
        )
    elif not names & {n for ns in SYNONYMS.values() for n in ns}:
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
