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
