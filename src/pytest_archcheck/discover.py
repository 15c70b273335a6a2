"""Find `@pytest_archcheck.model(...)` factories by parsing source, never importing it.

The decorator's arguments must be literals (strings, numbers, booleans, dicts, lists) so that
they can be read with `ast.literal_eval`; anything else is reported, not evaluated.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .spec.model import TABLE_KEYS


@dataclass
class DecoratedFactory:
    name: str
    line: int
    module: str
    file: Path
    spec_path: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def factory(self) -> str:
        return f"{self.module}:{self.name}"

    def apply(self, loaded: Any) -> Any:
        """The spec with this factory and the decorator's overrides, re-validated."""
        from dataclasses import replace

        from pydantic import ValidationError

        from .findings import Finding
        from .spec.model import Spec

        if loaded.spec is None:
            return replace(loaded, name=self.name)
        data = loaded.spec.model_dump(exclude_none=False)
        data["model"]["factory"] = self.factory
        data["model"]["name"] = self.name
        for key, value in self.settings.items():
            table = next(
                (t for t in ("budget", "model", "train", "infer") if key in TABLE_KEYS[t]), None
            )
            if table is not None:
                data[table][key] = value
        try:
            spec = Spec.model_validate(data)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            f = Finding(
                "ARC302",
                "invalid-value",
                "error",
                f"@archcheck.model({'.'.join(map(str, err['loc']))}=...): {err['msg']}",
                str(self.file),
                self.line,
                self.name,
            )
            return replace(loaded, name=self.name, spec=None, findings=[*loaded.findings, f])
        return replace(loaded, name=self.name, spec=spec)


def _module_name(path: Path, root: Path) -> str:
    rel = path.resolve().relative_to(root)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_archcheck_model(dec: ast.expr) -> bool:
    if not isinstance(dec, ast.Call):
        return False
    f = dec.func
    if isinstance(f, ast.Attribute) and f.attr == "model":
        v = f.value
        return isinstance(v, ast.Name) and v.id in ("pytest_archcheck", "archcheck")
    return isinstance(f, ast.Name) and f.id == "archcheck_model"


def decorated_factories(path: Path, root: Path | None = None) -> list[DecoratedFactory]:
    """Every function or class in `path` decorated with `@pytest_archcheck.model(...)`."""
    from .engine import find_project_root

    root = (root or find_project_root(path.parent)).resolve()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return []
    try:
        module = _module_name(path, root)
    except ValueError:
        module = path.stem
    out: list[DecoratedFactory] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for dec in node.decorator_list:
            if not _is_archcheck_model(dec):
                continue
            assert isinstance(dec, ast.Call)
            fac = DecoratedFactory(name=node.name, line=node.lineno, module=module, file=path)
            try:
                args = [ast.literal_eval(a) for a in dec.args]
                kwargs = {k.arg: ast.literal_eval(k.value) for k in dec.keywords if k.arg}
            except ValueError:
                fac.error = "@pytest_archcheck.model(...) arguments must be literals"
                out.append(fac)
                continue
            spec = kwargs.pop("spec", args[0] if args else None)
            fac.settings = kwargs
            if isinstance(spec, str):
                cand = [path.parent / spec, root / spec]
                found = next((c for c in cand if c.is_file()), None)
                if found is None:
                    fac.error = f"spec file {spec!r} not found next to {path.name} or under {root}"
                fac.spec_path = found
            out.append(fac)
    return out


# --- projects that declare nothing yet: configs and nn.Module factories -----------------------

SOURCE_SUFFIXES = frozenset({".py", ".json", ".yaml", ".yml"})
MAX_SOURCE_BYTES = 2_000_000  # larger files are data, not configs


@dataclass
class FoundConfig:
    """A model config an adapter can read: where it is and how a spec `extends` it."""

    path: Path
    line: int
    kind: str  # "hf" | "dataclass" | "yaml"
    name: str  # suggested spec name
    ref: str  # `extends` value, relative to the config's folder ("config.json", "model.py:Cfg")
    detail: str
    model: dict[str, Any] = field(default_factory=dict)  # the adapted [model] table
    notes: list[str] = field(default_factory=list)  # what the spec cannot express
    # zero configuration (zeroconfig.py): where each value came from and how to build the model
    train: dict[str, Any] = field(default_factory=dict)  # [train] values read from the source
    sources: dict[str, str] = field(default_factory=dict)  # "model.layers" -> "file:line name"
    factory: str | None = None  # "module:callable" building the nn.Module
    config: str | None = None  # the repository's config object passed to the factory
    config_args: dict[str, Any] = field(default_factory=dict)
    factory_args: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] | None = None  # what the probe feeds forward(), when not one batch
    extends: bool = True  # the spec `extends` ref (else it holds every value itself)
    refused: str | None = None  # why no spec is written (an architecture no family models)
    spec_dir: Path | None = None  # where init writes the spec (default: beside `path`)

    @property
    def required(self) -> dict[str, str]:
        """Keys the source leaves to run time: "model.vocab" -> what to supply."""
        out: dict[str, str] = {}
        tables = {"model": self.model, "train": self.train}
        args = {"factory_args": self.factory_args, "config_args": self.config_args}
        for table, values in tables.items():
            for key, value in values.items():
                if isinstance(value, str) and value.startswith("required:"):
                    out[f"{table}.{key}"] = value.removeprefix("required:").strip()
        for name, values in args.items():
            for key, value in values.items():
                if isinstance(value, str) and value.startswith("required:"):
                    out[f"model.{name}.{key}"] = value.removeprefix("required:").strip()
        return out


@dataclass
class FoundModule:
    """An nn.Module subclass, or a function returning one, found by parsing source."""

    path: Path
    line: int
    name: str
    kind: str  # "class" | "function"
    module: str
    top_level: bool = True  # not used as a submodule by another module class of its file

    @property
    def factory(self) -> str:
        return f"{self.module}:{self.name}"


def source_files(paths: list[str] | tuple[str, ...]) -> list[Path]:
    """Python, JSON and YAML files under `paths`, skipping the folders the engine skips."""
    import os

    from .engine import SKIP_DIRS

    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_file():
            out.append(path)
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(
                d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
            )
            out.extend(
                Path(dirpath) / n for n in sorted(filenames) if Path(n).suffix in SOURCE_SUFFIXES
            )
    return out


def _read_small(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _summary(model: dict[str, Any]) -> str:
    keys = ("layers", "d_model", "heads", "kv_heads", "vocab", "max_positions", "attention")
    return ", ".join(f"{k} {model[k]}" for k in keys if k in model)


def configs_in(path: Path) -> list[FoundConfig]:
    """The model configs of one file (none when it is not a config an adapter reads)."""
    from .adapters import AdapterError, default_name
    from .adapters.hf import SUPPORTED_MODEL_TYPES, adapt_json
    from .adapters.pyconfig import (
        adapt_class,
        find_config_classes,
        model_name_for_class,
        parse_python,
    )
    from .adapters.yamlcfg import adapt_yaml

    text = _read_small(path)
    if text is None:
        return []
    suffix = path.suffix.lower()
    found: list[FoundConfig] = []
    try:
        if suffix == ".json":
            if '"model_type"' not in text:
                return []
            import json

            try:
                model_type = json.loads(text).get("model_type")
            except (ValueError, AttributeError):
                return []
            if model_type not in SUPPORTED_MODEL_TYPES:
                return []
            a = adapt_json(text, str(path))
            found.append(
                FoundConfig(
                    path,
                    a.lines.get(("model", "family"), 1),
                    "hf",
                    default_name(str(path), a),
                    path.name,
                    f"Hugging Face config, model_type {model_type!r}",
                    a.tables.get("model", {}),
                    a.notes,
                )
            )
        elif suffix in (".yaml", ".yml"):
            if "model" not in text:
                return []
            a = adapt_yaml(text, str(path))
            model = a.tables.get("model", {})
            if not isinstance(model, dict) or not model:
                return []
            found.append(
                FoundConfig(
                    path, 1, "yaml", a.name or path.stem, path.name, "YAML recipe", model, a.notes
                )
            )
        elif suffix == ".py":
            if "n_layer" not in text and "n_layers" not in text:
                return []
            for cc in find_config_classes(parse_python(text, str(path))):
                a = adapt_class(cc)
                found.append(
                    FoundConfig(
                        path,
                        cc.line,
                        "dataclass",
                        model_name_for_class(cc.name),
                        f"{path.name}:{cc.name}",
                        f"{cc.style}-style config class {cc.name}",
                        a.tables.get("model", {}),
                        a.notes,
                    )
                )
    except AdapterError:
        return []
    return found


_MODULE_BASES = frozenset({"nn.Module", "torch.nn.Module", "Module"})


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def modules_in(path: Path, root: Path | None = None) -> list[FoundModule]:
    """nn.Module subclasses (also of other module classes in the file) and module-level
    functions that return one (by annotation, or by returning such a class or an `nn.X(...)`)."""
    from .engine import find_project_root

    text = _read_small(path)
    if text is None or path.suffix != ".py" or "Module" not in text:
        return []
    try:
        tree = ast.parse(text, filename=str(path))
    except (SyntaxError, ValueError):
        return []
    root = (root or find_project_root(path.parent)).resolve()
    try:
        module = _module_name(path, root)
    except ValueError:
        module = path.stem
    classes: dict[str, ast.ClassDef] = {}
    changed = True
    while changed:  # subclasses of module classes defined earlier or later in the file
        changed = False
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name not in classes:
                bases = {_dotted(b) for b in node.bases}
                if bases & _MODULE_BASES or bases & set(classes):
                    classes[node.name] = node
                    changed = True
    used: set[str] = set()
    for cls in classes.values():
        for sub in ast.walk(cls):
            callee = _dotted(sub.func) if isinstance(sub, ast.Call) else ""
            if callee in classes and callee != cls.name:
                used.add(callee)
    out = [
        FoundModule(path, c.lineno, name, "class", module, top_level=name not in used)
        for name, c in classes.items()
    ]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _returns_module(
            node, classes
        ):
            out.append(FoundModule(path, node.lineno, node.name, "function", module))
    out.sort(key=lambda m: m.line)
    return out


def _returns_module(fn: ast.FunctionDef | ast.AsyncFunctionDef, classes: dict[str, Any]) -> bool:
    ann = _dotted(fn.returns) if fn.returns is not None else ""
    if ann in _MODULE_BASES or ann in classes or ann.startswith("nn."):
        return True
    for sub in ast.walk(fn):
        if isinstance(sub, ast.Return) and isinstance(sub.value, ast.Call):
            callee = _dotted(sub.value.func)
            if callee in classes or callee.startswith(("nn.", "torch.nn.")):
                return True
    return False


def discover_project(
    paths: list[str] | tuple[str, ...],
) -> tuple[list[FoundConfig], list[FoundModule]]:
    """Every config and nn.Module factory under `paths`, by parsing (never importing) them."""
    from .engine import find_project_root
    from .zeroconfig import discover_more

    configs: list[FoundConfig] = []
    modules: list[FoundModule] = []
    files = source_files(paths)
    for path in files:
        configs.extend(configs_in(path))
        modules.extend(modules_in(path))
    if files:
        root = find_project_root(files[0].parent).resolve()
        more = discover_more(files, root, configs, modules)
        overridden = {c.ref for c in more if c.kind == "override"}
        # a nanoGPT config class with run configs is described by those runs
        configs = [c for c in configs if not (c.kind == "dataclass" and c.ref in overridden)]
        configs.extend(more)
    return configs, modules
