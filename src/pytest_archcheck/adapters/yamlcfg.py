"""YAML recipes -> spec tables, through `yaml.safe_load` (no tags that construct objects).

Two shapes are read: a top-level mapping with the spec's own tables (`model:`, `train:`,
`budget:` ... with spec key names), or a recipe whose `model:` (or litgpt's `model_config:`)
block holds Hugging Face-like keys (`model_type`, `hidden_size`, `n_layer` ...), translated by
the HF or dataclass mapping. Lines come from yaml's composed nodes, so findings point at the key.
"""

from __future__ import annotations

from typing import Any

from ..spec.locate import Key
from ..spec.model import TABLE_KEYS
from . import Adapted, AdapterError, Tables

HF_HINTS = frozenset(
    {"model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "n_embd", "n_layer"}
)
LLAMA_HINTS = frozenset({"dim", "n_layers", "n_heads"})


def yaml_key_lines(
    node: Any, prefix: Key = (), out: dict[Key, int] | None = None, seen: set[int] | None = None
) -> dict[Key, int]:
    """Key path -> 1-based line, from a composed YAML node tree.

    An alias is the very node its anchor named: each collection node is walked once, so that
    an alias bomb (9 aliases of 9 aliases of ...) or a node that contains itself stays cheap.
    """
    import yaml

    out = {} if out is None else out
    seen = set() if seen is None else seen
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in seen:
            return out
        seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                path = (*prefix, key_node.value)
                out.setdefault(path, key_node.start_mark.line + 1)
                yaml_key_lines(value_node, path, out, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yaml_key_lines(item, (*prefix, i), out, seen)
    return out


def _parse(text: str) -> tuple[Any, dict[Key, int]]:
    try:
        import yaml
    except ImportError as exc:
        raise AdapterError(
            "ARC306", "reading YAML needs PyYAML: pip install 'pytest-archcheck[yaml]'"
        ) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise AdapterError("ARC306", f"YAML syntax error: {problem}", line) from exc
    return data, yaml_key_lines(node) if node is not None else {}


def adapt_yaml(text: str, path: str) -> Adapted:
    """A YAML recipe; malformed YAML is ARC306 at the line yaml names."""
    data, lines = _parse(text)
    if not isinstance(data, dict):
        raise AdapterError("ARC306", "a YAML recipe must be a mapping at the top level", 1)
    from .accelerate import adapt_accelerate, looks_like_accelerate

    if looks_like_accelerate(data):  # an `accelerate config` file: the launcher's layout
        return adapt_accelerate(data, lines)
    block_key = next((k for k in ("model", "model_config") if isinstance(data.get(k), dict)), None)
    block: dict[str, Any] = data[block_key] if block_key else {}
    if block_key and (HF_HINTS | LLAMA_HINTS) & set(block):
        adapted = _adapt_block(block, lines, block_key, path)
        for key, value in block.items():  # spec keys written in the block win
            if key in TABLE_KEYS["model"] and key not in HF_HINTS:
                adapted.tables["model"][key] = value
                adapted.lines[("model", key)] = lines.get((block_key, key), 1)
        for table in TABLE_KEYS:
            if table != "model" and isinstance(data.get(table), dict):
                adapted.tables.setdefault(table, {}).update(data[table])
                adapted.lines.update({k: v for k, v in lines.items() if k[:1] == (table,)})
        return adapted
    if not set(data) & set(TABLE_KEYS):
        raise AdapterError(
            "ARC302",
            "YAML recipe has neither spec tables (model, train, infer, budget, data) nor a "
            "`model:` block with Hugging Face-like keys (model_type, hidden_size, n_layer ...)",
        )
    # the spec's own tables: unknown tables and keys are left for the loader to report
    tables: Tables = {k: v for k, v in data.items() if isinstance(v, dict) or k in TABLE_KEYS}
    name = tables.get("model", {}).get("name") if isinstance(tables.get("model"), dict) else None
    return Adapted(
        tables=tables, lines=lines, name=name if isinstance(name, str) else None, kind="yaml"
    )


def _adapt_block(block: dict[str, Any], lines: dict[Key, int], key: str, path: str) -> Adapted:
    from .hf import adapt_hf

    if "model_type" in block:
        return adapt_hf(block, lines, (key,))
    from .pyconfig import ConfigClass, adapt_class

    names = set(block)
    if {"n_layer", "n_head", "n_embd"} <= names:
        style = "litgpt" if key == "model_config" or "n_query_groups" in names else "nanogpt"
    elif names >= LLAMA_HINTS:
        style = "llama2c"
    else:
        raise AdapterError(
            "ARC302",
            f"`{key}:` block without `model_type`: give model_type (a Hugging Face type) or "
            "nanoGPT (n_layer, n_head, n_embd) / llama2.c (dim, n_layers, n_heads) keys",
            lines.get((key,), 1),
        )
    cc = ConfigClass(
        name=key,
        line=lines.get((key,), 1),
        style=style,
        values=dict(block),
        lines={k: lines.get((key, k), 1) for k in block},
    )
    adapted = adapt_class(cc)
    adapted.kind = "yaml"
    return adapted
