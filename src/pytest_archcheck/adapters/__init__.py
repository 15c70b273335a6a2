"""Adapters: read configs people already have (HF config.json, YAML recipes, Python dataclass
configs) into the spec's raw tables, with the line of every key they came from.

An adapter returns raw tables (`{"model": {...}, "train": {...}}`, spec key names) and never
validates: the spec loader does that for every source alike, so an adapted file reports wrong
values (ARC302) and unknown keys (ARC301) exactly as a TOML spec does. Nothing here imports torch
or the user's code: JSON and YAML are parsed as data, Python with `ast`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..spec.locate import Key

Tables = dict[str, dict[str, Any]]

ADAPTED_SUFFIXES: frozenset[str] = frozenset({".json", ".yaml", ".yml", ".py"})


@dataclass
class Adapted:
    """Raw spec tables read from a foreign config, and where each spec key came from."""

    tables: Tables
    lines: dict[Key, int] = field(default_factory=dict)
    name: str | None = None
    kind: str = ""  # "hf" | "yaml" | "dataclass"
    notes: list[str] = field(default_factory=list)  # what the spec cannot express
    # the foreign key each spec key was read from (dotted for a nested one; the first name
    # the adapter reads when the config omits it): where a spec value is written back
    sources: dict[Key, str] = field(default_factory=dict)
    # Re-reads the config with spec values in place of the fields they were taken from
    # ({("model", "d_model"): 128} -> the class as if `dim = 128`), so that keys the config
    # DERIVES from them (llama2.c's FFN width from dim, n_kv_heads = None -> n_heads) follow a
    # spec that extends it and overrides a size, as the user's class does when it is built
    # from those values. None: the adapter derives nothing.
    rederive: Callable[[dict[Key, Any]], Adapted] | None = None


class AdapterError(Exception):
    """A config the adapters cannot read: ARC306 (unparsable) or ARC302 (unsupported value)."""

    def __init__(self, code: str, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line

    @property
    def kind(self) -> Literal["unparsable", "invalid-value"]:
        """The spec loader's problem kind for this error (spec/ names no rule codes)."""
        return "unparsable" if self.code == "ARC306" else "invalid-value"


def is_adaptable(path: str | Path) -> bool:
    """Whether `path` is read by an adapter rather than as a TOML spec."""
    return Path(split_ref(str(path))[0]).suffix.lower() in ADAPTED_SUFFIXES


def _has_selector(ref: str) -> bool:
    """`model.py:GPTConfig` names one class of a Python file (a drive letter is not one)."""
    head, sep, tail = ref.rpartition(":")
    return bool(sep) and head.endswith(".py") and tail.isidentifier()


def split_ref(ref: str) -> tuple[str, str | None]:
    """`path` or `path.py:ClassName` -> (path, class name or None)."""
    if _has_selector(ref):
        head, _, tail = ref.rpartition(":")
        return head, tail
    return ref, None


def adapt_text(text: str, path: str, select: str | None = None) -> Adapted:
    """Adapt the text of `path` by its suffix; raises `AdapterError`."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        from .deepspeed import adapt_deepspeed, looks_like_deepspeed

        if looks_like_deepspeed(text):
            return adapt_deepspeed(text, path)
        from .hf import adapt_json

        return adapt_json(text, path)
    if suffix in (".yaml", ".yml"):
        from .yamlcfg import adapt_yaml

        return adapt_yaml(text, path)
    if suffix == ".py":
        from .pyconfig import adapt_python

        return adapt_python(text, path, select)
    raise AdapterError("ARC302", f"no adapter reads {suffix or 'files without a suffix'} files")


def default_name(path: str, adapted: Adapted | None = None) -> str:
    """A model name for an adapted file: the config's own, else its folder for config.json."""
    if adapted is not None and adapted.name:
        return adapted.name
    p = Path(path)
    if p.name == "config.json" and p.parent.name not in ("", "."):
        return p.parent.name
    return p.stem
