"""Whether the probe may build the real transformers class for a spec read from a config.json.

The probe measures the model the spec describes. For a spec that comes from a Hugging Face
`config.json` (itself, or through `[model] extends`), that is the transformers class the config
names, built from the config: the ground truth the family unit's reference Transformer only
imitates. But a spec may override keys of its config (`layers = 2` to probe a cut-down model,
`d_model`, `window` ...). Only the layer count (every layer-count key transformers uses) and
the `[train]` dropout rates (at the config keys the adapter read them from) are written back
into the config; the config so edited is adapted again and must give the spec's own
model keys, else the real class would be another model than the one estimated, and the probe
builds the reference Transformer instead and says which key differs. Static: no torch, no
transformers import.
"""

from __future__ import annotations

from typing import Any

from ..spec.model import ModelTable, Spec, TrainTable

# the layer count under each name transformers' configs use (GPT-2 n_layer, Falcon num_layers,
# MPT n_layers, the rest num_hidden_layers)
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "encoder_layers")
# an encoder-decoder's decoder blocks (T5 num_decoder_layers, BART/Whisper decoder_layers)
DECODER_LAYER_KEYS = ("num_decoder_layers", "decoder_layers")
# model keys that say how the probe calls the model, not what it is
NOT_SHAPE = frozenset(
    {"name", "factory", "factory_args", "config", "config_args", "inputs", "loss", "pad_id",
     "mask_arg", "extends"}
)  # fmt: skip


def real_class_config(spec: Spec) -> tuple[dict[str, Any] | None, str]:
    """(the config.json dict to build the transformers class from, "") or (None, why not)."""
    from . import AdapterError
    from .hf import MODELLED_CLASS, adapt_hf

    raw = spec.hf_config
    if raw is None:
        return None, "the spec does not come from a Hugging Face config.json"
    if spec.model.factory is not None:
        return None, f"model.factory {spec.model.factory!r} builds the model"
    cfg = dict(raw)
    for key in LAYER_KEYS:
        if isinstance(cfg.get(key), int) and not isinstance(cfg.get(key), bool):
            cfg[key] = spec.model.layers
    for key in DECODER_LAYER_KEYS:
        # T5Config's num_decoder_layers defaults to num_layers: a config without it (t5-small)
        # still has the spec's decoder count written, or `layers` would change both stacks
        t5 = key == "num_decoder_layers" and cfg.get("model_type") in ("t5", "mt5")
        if (key in cfg or t5) and spec.model.decoder_layers is not None:
            cfg[key] = spec.model.decoder_layers
    types = cfg.get("layer_types")
    if isinstance(types, list) and len(types) > spec.model.layers:  # per-layer attention kinds
        cfg["layer_types"] = types[: spec.model.layers]
    try:
        adapted = adapt_hf(cfg, {})
        if _write_dropout_back(cfg, adapted, spec):
            adapted = adapt_hf(cfg, {})
    except AdapterError as exc:
        return None, f"config.json: {exc.message}"
    if cfg.get("model_type") not in MODELLED_CLASS:
        return None, f"model_type {cfg.get('model_type')!r} has no modelled transformers class"
    try:
        theirs = ModelTable.model_validate(adapted.tables.get("model", {}))
    except ValueError as exc:
        return None, f"config.json does not validate as a spec: {str(exc).splitlines()[0]}"
    differ = [
        key
        for key in ModelTable.model_fields
        if key not in NOT_SHAPE and getattr(theirs, key) != getattr(spec.model, key)
    ]
    # the class's dropout rates: what the adapter read, and none where the config has no key
    # for a rate (Llama's classes drop nothing outside attention)
    rates = {k: v for k, v in adapted.tables.get("train", {}).items() if k in DROPOUT_KEYS}
    class_train = type(spec.train).model_validate(rates)
    differ += [
        f"train.{key}"
        for key in DROPOUT_KEYS
        if _effective(class_train, key) != _effective(spec.train, key)
    ]
    if differ:
        shown = ", ".join(
            f"{k} {getattr(spec.model, k)!r} (config: {getattr(theirs, k)!r})"
            if not k.startswith("train.")
            else f"{k} {_effective(spec.train, k[6:])!r} (config: {_effective(class_train, k[6:])!r})"
            for k in differ[:4]
        )
        return None, f"the spec overrides its config.json: {shown}"
    return cfg, ""


# the [train] dropout keys an adapter reads from a config, which the class's own config keys
# decide: a spec that sets another value has it written back before the class is built
DROPOUT_KEYS = ("dropout", "attention_dropout", "embedding_dropout", "activation_dropout")


def _effective(train: TrainTable, key: str) -> float:
    """The rate a [train] table means by `key` (attention and embedding dropout default to
    `dropout`)."""
    if key == "attention_dropout":
        return train.attn_dropout
    if key == "embedding_dropout":
        return train.emb_dropout
    return float(getattr(train, key))


def _write_dropout_back(cfg: dict[str, Any], adapted: Any, spec: Spec) -> bool:
    """Write the spec's dropout rates into `cfg` at the keys the adapter read them from
    (`[train] dropout = 0.1` over a config's hidden_dropout_prob 0.0: the class is built with
    0.1, the rate the formula counts). A key two spec values share (GPT-2's one resid_pdrop
    for two rates) keeps the config's value; the comparison after it then names the key and
    the probe builds the reference instead. Whether anything changed."""
    train = adapted.tables.get("train", {})
    wanted: dict[str, float] = {}
    for key in DROPOUT_KEYS:
        source = adapted.sources.get(("train", key))
        if key not in train or source is None or train[key] == _effective(spec.train, key):
            continue
        value = _effective(spec.train, key)
        shared = [
            k for k in DROPOUT_KEYS if k != key and adapted.sources.get(("train", k)) == source
        ]
        if any(_effective(spec.train, k) != value for k in shared if k in train):
            continue
        wanted[source] = value
    for source, value in wanted.items():
        *parents, leaf = source.split(".")
        node = cfg
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
            node[part] = child = dict(child)
            node = child
        node[leaf] = value
    return bool(wanted)
