"""`archcheck discover` and `archcheck init`: specs for projects that declare nothing yet.

`discover` lists what the adapters can read (HF config.json, config dataclasses, YAML model
blocks) and the nn.Module classes and factories in the source, all by parsing. `init` writes a
starting `<name>.archcheck.toml` next to each config. Its [model] table `extends` the config, so
the config stays the one source of truth (the values read from it are shown as comments, to
override by uncommenting); [train] holds placeholders that parse; every [budget] key is present
but commented out, because a budget is a decision only the user can make.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the CLI imports this module to build its parser: keep that import light
    from .discover import FoundConfig, FoundModule

from .files import SPEC_SUFFIX

TRAIN_SCRIPT_KEYS = {"batch_size": "batch", "block_size": "seq_len", "dtype": "dtype"}
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _train_script(folder: Path) -> dict[str, Any]:
    """Literal module-level settings of a nanoGPT-style train.py beside the config, if any."""
    path = folder / "train.py"
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return {}
    out: dict[str, Any] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in TRAIN_SCRIPT_KEYS
        ):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError):
                continue
            key = TRAIN_SCRIPT_KEYS[node.targets[0].id]
            if key == "dtype":
                value = DTYPES.get(str(value))
            if value is not None and not (key != "dtype" and not isinstance(value, int)):
                out[key] = value
    return out


def _value_line(key: str, value: Any, where: str | None, width: int = 24) -> str:
    text = f"{key} = {_toml(value)}"
    return f"{text.ljust(width)}  # {where}" if where else text


def _args_table(title: str, args: dict[str, Any], why: str) -> list[str]:
    if not args:
        return []
    return ["", f"[model.{title}]  # {why}", *(f"{k} = {_toml(v)}" for k, v in args.items())]


def render_spec(cfg: FoundConfig, module: FoundModule | None = None) -> str:
    """The text of a starting spec for one config."""
    m = cfg.model
    sources = cfg.sources
    positions = m.get("max_positions")
    seq_len = min(positions, 4096) if isinstance(positions, int) else 1024
    train: dict[str, Any] = {"batch": 8, "seq_len": seq_len, "dtype": "bf16"}
    train_where: dict[str, str] = {}
    if cfg.kind in ("hf", "dataclass", "yaml"):
        train.update(_train_script(cfg.path.parent))
    for key, value in cfg.train.items():
        train[key] = value
        train_where[key] = sources.get(f"train.{key}", "")
    if isinstance(positions, str) and "seq_len" not in cfg.train:  # max length left to run time
        train["seq_len"] = "required: the training sequence length (the model's max length is "
        train["seq_len"] += "not in the source either)"
    seq_len = train["seq_len"] if isinstance(train["seq_len"], int) else 1024
    image = m.get("input") == "image"
    causal = m.get("causal", True) and m.get("family", "transformer") == "transformer"
    new_tokens = min(128, seq_len // 2) if causal else 0
    header = [
        f"# Starting spec written by `archcheck init` from {cfg.ref} ({cfg.detail}).",
    ]
    if cfg.extends:
        header.append(
            "# [model] is read from that file through `extends`; a key written here overrides it."
        )
    else:
        header.append("# Each value names the source line it was read from (nothing was run).")
    if cfg.required:
        header.append(
            '# A "required: ..." value is one the source leaves to run time: replace it with your'
        )
        header.append("# run's value (`archcheck estimate` refuses the spec until then).")
    header.append("# Fill in [budget], then run `archcheck check` (add --probe to run the model).")
    lines = [*header, "", "[model]", f"name = {_toml(cfg.name)}"]
    if cfg.extends:
        lines.append(f"extends = {_toml(cfg.ref)}")
    factory = cfg.factory or (module.factory if module is not None else None)
    if factory is not None and (cfg.factory is not None or cfg.config is not None):
        lines.append(_value_line("factory", factory, "the repository's own model (--probe)"))
    elif factory is not None:
        lines.append(
            f"# factory = {_toml(factory)}  # a callable returning the nn.Module (--probe)"
        )
    if cfg.config is not None:
        lines.append(_value_line("config", cfg.config, "its config object, built from config_args"))
    if cfg.inputs is not None:
        lines.append(
            _value_line(
                "inputs", cfg.inputs, "forward()'s arguments (docs/use-on-your-repo.md#inputs)"
            )
        )
    lines += [f"# note: {n}" for n in cfg.notes]
    if cfg.extends:
        lines.append(f"# read from {cfg.ref}:")
        for k, v in m.items():
            if k == "name":
                continue
            if isinstance(v, str) and v.startswith("required:"):
                lines.append(_value_line(k, v, sources.get(f"model.{k}")))
            else:
                lines.append(f"#   {k} = {_toml(v)}")
    else:
        lines += [_value_line(k, v, sources.get(f"model.{k}")) for k, v in m.items() if k != "name"]
    lines += _args_table(
        "config_args", cfg.config_args, '"{model.KEY}" is that spec value (one place to edit)'
    )
    lines += _args_table("factory_args", cfg.factory_args, "keyword arguments of the factory")
    train_keys = ["batch", "seq_len", "dtype"] + [
        k for k in cfg.train if k not in ("batch", "seq_len", "dtype")
    ]
    lines += ["", "[train]  # values not read from the source are placeholders: use your run's"]
    for key in train_keys:
        if image and key == "seq_len":
            continue  # image models: n is model.image_size
        lines.append(_value_line(key, train[key], train_where.get(key) or None))
    if "optimizer" not in cfg.train:
        lines.append('optimizer = "adamw"')
    lines += [
        "",
        "[infer]  # placeholders (prompt + new tokens stay within the positional table)",
        "batch = 1",
    ]
    if not image and isinstance(positions, str):
        # the positional table's length is left to run time: a placeholder prompt could
        # exceed the value the user supplies (ARC202 on a spec init wrote); [infer] follows
        # [train] seq_len until they choose one
        lines += [
            "# seq_len = 896          # the prompt; with new_tokens, within model.max_positions",
            "new_tokens = 0",
        ]
    elif not image:
        lines += [f"seq_len = {max(1, seq_len - new_tokens)}", f"new_tokens = {new_tokens}"]
    lines += [
        "",
        "[budget]  # what must hold: uncomment and set",
        *_commented(
            [
                ('device = "H100-80GB"', 'a known device name, or "cpu"'),
                (f"max_n = {seq_len}", "longest sequence that must fit"),
                ('memory = "24 GiB"', "training peak per device (fwd + bwd + optimizer)"),
                ('infer_memory = "8 GiB"', "weights + KV cache + activations at [infer]"),
                ('p95_latency = "200 ms"', "per-call inference latency at [infer]"),
                (f"span = {seq_len}", "dependency span the model must cover"),
                ("max_padding = 0.3", "fraction of padded tokens allowed ([data] lengths)"),
            ]
        ),
        "",
    ]
    return "\n".join(lines)


def _commented(pairs: list[tuple[str, str]]) -> list[str]:
    width = max(len(k) for k, _ in pairs)
    return [f"# {k.ljust(width)}  # {why}" for k, why in pairs]


def _module_for(cfg: FoundConfig, modules: list[FoundModule]) -> FoundModule | None:
    """The top-level module class of the config's own file (else of its folder), if one."""
    same_file = [m for m in modules if m.path == cfg.path and m.top_level and m.kind == "class"]
    same_dir = [m for m in modules if m.path.parent == cfg.path.parent and m.top_level]
    pick = same_file or same_dir
    return pick[0] if len(pick) == 1 else None


def spec_path_for(cfg: FoundConfig) -> Path:
    return (cfg.spec_dir or cfg.path.parent) / f"{cfg.name}{SPEC_SUFFIX}"


def init_specs(
    paths: list[str], force: bool = False, config: str | None = None
) -> list[tuple[Path, str]]:
    """Write a starting spec for every config found (only the one named `config` when given);
    returns (spec path, what happened). A config no family models exactly gets no spec: its
    entry says why."""
    from .discover import discover_project
    from .findings import ArchcheckError

    configs, modules = discover_project(paths)
    if config is not None:
        chosen = [c for c in configs if config in (c.name, c.ref, c.path.stem)]
        if not chosen:
            names = ", ".join(sorted({c.name for c in configs})) or "none found"
            raise ArchcheckError(f"--config {config!r}: no such config (found: {names})")
        configs = chosen
    out: list[tuple[Path, str]] = []
    for cfg in configs:
        target = spec_path_for(cfg)
        if cfg.refused is not None:
            out.append((cfg.path, f"no spec written: {cfg.refused}"))
            continue
        if target.exists() and not force:
            out.append((target, "exists (use --force to overwrite)"))
            continue
        target.write_text(render_spec(cfg, _module_for(cfg, modules)), encoding="utf-8")
        what = f"written from {cfg.ref}"
        if cfg.required:
            what += "; to supply: " + "; ".join(
                f"{key} ({why})" for key, why in cfg.required.items()
            )
        out.append((target, what))
    return out


# --- CLI verbs (wired in cli.py) ---------------------------------------------------------------


def add_parsers(sub: Any) -> None:
    """Add the `discover` and `init` subcommands to the CLI's subparsers."""
    d = sub.add_parser("discover", help="list model configs and nn.Module factories (no imports)")
    d.add_argument("paths", nargs="*", default=["."])
    d.add_argument("--format", choices=["text", "json"], default="text")
    i = sub.add_parser("init", help="write a starting *.archcheck.toml next to each config")
    i.add_argument("paths", nargs="*", default=["."])
    i.add_argument("--force", action="store_true", help="overwrite existing specs")
    i.add_argument(
        "--config",
        metavar="NAME",
        help="write only the spec of this config (a name `discover` lists); default: one each",
    )


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def discover_command(args: argparse.Namespace) -> int:
    """`archcheck discover [PATHS]`: exit 0 (nothing found is not an error)."""
    from .discover import discover_project
    from .findings import ArchcheckError

    for p in args.paths:
        if not Path(p).exists():
            raise ArchcheckError(f"no such file or directory: {p}")
    configs, modules = discover_project(args.paths)
    if args.format == "json":
        doc = {
            "schema_version": 1,
            "configs": [
                {"path": _shown(c.path), "line": c.line, "kind": c.kind, "name": c.name,
                 "extends": c.ref, "detail": c.detail, "model": c.model, "notes": c.notes,
                 "train": c.train, "sources": c.sources, "required": c.required,
                 "factory": c.factory, "config": c.config, "config_args": c.config_args,
                 "factory_args": c.factory_args, "inputs": c.inputs, "refused": c.refused}
                for c in configs
            ],
            "modules": [
                {"path": _shown(m.path), "line": m.line, "name": m.name, "kind": m.kind,
                 "factory": m.factory, "top_level": m.top_level}
                for m in modules
            ],
        }  # fmt: skip
        print(json.dumps(doc, indent=2))
        return 0
    print(f"configs ({len(configs)}):")
    for c in configs:
        summary = ", ".join(
            f"{k} {'?' if k in c.required or f'model.{k}' in c.required else c.model[k]}"
            for k in ("layers", "d_model", "heads", "hidden", "vocab", "channels")
            if k in c.model
        )
        print(f"  {_shown(c.path)}:{c.line}: {c.name}  {c.detail}  ({summary})")
        if c.factory:
            print(f"      factory: {c.factory}" + (f"  config: {c.config}" if c.config else ""))
        for key, why in c.required.items():
            print(f"      required: {key}: {why}")
        if c.refused:
            print(f"      no spec: {c.refused}")
        for note in c.notes:
            print(f"      note: {note}")
    print(f"nn.Module factories ({len(modules)}):")
    for m in modules:
        role = "" if m.top_level else "  [submodule]"
        print(f"  {_shown(m.path)}:{m.line}: {m.factory}  ({m.kind}){role}")
    if configs:
        print("write starting specs with: archcheck init " + " ".join(args.paths))
    return 0


def init_command(args: argparse.Namespace) -> int:
    """`archcheck init [PATHS] [--force]`: exit 0, or 2 when no config was found."""
    from .findings import ArchcheckError

    for p in args.paths:
        if not Path(p).exists():
            raise ArchcheckError(f"no such file or directory: {p}")
    results = init_specs(list(args.paths), force=args.force, config=getattr(args, "config", None))
    if not results:
        raise ArchcheckError(
            "no model config found: looked for HF config.json, YAML model blocks, config "
            "dataclasses (nanoGPT/llama2.c style), CfgNode defaults with named sizes, argparse "
            "scripts that build an nn.Module, factory functions and constructor keyword "
            "defaults; see `archcheck discover` and docs/use-on-your-repo.md"
        )
    for path, what in results:
        print(f"{_shown(path)}: {what}")
    return 0
