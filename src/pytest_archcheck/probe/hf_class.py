"""The real transformers class as the probe's model, for a spec read from a config.json.

`build_model` asks here first when the spec has no factory: if the spec comes from a Hugging
Face config.json that describes exactly the spec's model (adapters/hf_source.py) and
`transformers` is importable, the probe builds the class transformers itself builds for that
config (`AutoModelForCausalLM`, or `AutoModel` for an encoder, the class whose parameters the
spec counts: adapters/hf.MODELLED_CLASS), never downloading anything:

- `AutoConfig.for_model(model_type, **config)`, with `use_cache = False` (a training step
  keeps no KV cache);
- `from_config(config, attn_implementation="sdpa", dtype=torch.float32)`: SDPA, whose backend
  the probe's `[train] attention_kernel` selects as for the reference model ("eager" only for a
  class without SDPA support, and the result says so); fp32 parameters, with `[train] dtype`
  applied by autocast as for every model the probe trains;
- `[train] checkpointing`: `gradient_checkpointing_enable(use_reentrant=False)`.

Otherwise the family's reference module is built, and `described` says why, so that a result
always names the model it measured (`extra["model"]` in the probe JSON).
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any

from ..spec.model import Spec

# config.json keys transformers writes for bookkeeping; AutoConfig would take them as attributes
_BOOKKEEPING = ("model_type", "transformers_version", "_name_or_path", "_commit_hash")


def _plan(spec: Spec, fake: bool) -> tuple[dict[str, Any] | None, str]:
    from ..adapters.hf_source import real_class_config

    cfg, why = real_class_config(spec)
    if cfg is not None and importlib.util.find_spec("transformers") is None:
        return None, "transformers is not installed (pip install transformers)"
    if cfg is not None and fake and spec.model.experts is not None:
        # transformers routes tokens with nonzero()/where(): output shapes that depend on
        # values, which fake tensors do not have
        return None, (
            "its expert routing depends on values fake tensors do not have; "
            "`--device cpu` measures the transformers class"
        )
    return cfg, why


def described(spec: Spec, device: str) -> str | None:
    """What the probe builds for a spec from a config.json (None for any other spec)."""
    if spec.hf_config is None:
        return None
    from ..adapters.hf import MODELLED_CLASS

    cfg, why = _plan(spec, device == "fake")
    if cfg is None:
        return f"reference Transformer ({why})"
    return f"transformers {MODELLED_CLASS[cfg['model_type']]} ({cfg['model_type']})"


def builds_real(spec: Spec, fake: bool) -> bool:
    """Whether build_model builds the transformers class for this spec."""
    return (
        spec.model.factory is None
        and spec.hf_config is not None
        and _plan(spec, fake)[0] is not None
    )


# The behavioural checks run real forwards (in float64 too) on the CPU: the class is built at
# BEHAVIOUR_LAYERS layers, and not at all when even that holds more than BEHAVIOUR_MAX_PARAMS
# parameters (Llama-2-7B at 2 layers: 0.5 B, 4 GB in float64).
BEHAVIOUR_LAYERS = 2
BEHAVIOUR_MAX_PARAMS = 300_000_000


def checked_spec(spec: Spec) -> Spec:
    """The spec the behavioural checks use on a transformers class: every class takes
    `attention_mask` (1 = keep), so the mask and padding checks run on it unless the spec
    names another argument."""
    if spec.model.mask_arg is not None:
        return spec
    model = spec.model.model_copy(update={"mask_arg": "attention_mask"})
    return spec.model_copy(update={"model": model})


def cut_for_behaviour(spec: Spec) -> Spec | None:
    """`spec` at most BEHAVIOUR_LAYERS layers deep (causality, padding, masks and positions
    are properties of every block; depth adds cost, not evidence), None when that model is
    still too large to run (BEHAVIOUR_MAX_PARAMS). For a model whose depth the spec decides:
    the transformers class, or a factory whose arguments read `{model.layers}`."""
    from ..formulas.params import params_from_spec

    layers = min(spec.model.layers, BEHAVIOUR_LAYERS)
    cut = spec.model_copy(update={"model": spec.model.model_copy(update={"layers": layers})})
    if params_from_spec(cut) > BEHAVIOUR_MAX_PARAMS:
        return None
    return cut


def behaviour_spec(spec: Spec) -> Spec | None:
    """The spec the behavioural checks build the transformers class from (cut_for_behaviour,
    with the class's own mask argument)."""
    cut = cut_for_behaviour(spec)
    return None if cut is None else checked_spec(cut)


def build_real(spec: Spec, fake: bool = False) -> Any | None:
    """The transformers class for the spec's config.json, or None (build the reference).
    `fake`: for the fake-tensor probe (a class it cannot run is not built)."""
    cfg, _why = _plan(spec, fake)
    if cfg is None:
        return None
    import transformers

    from ..adapters.hf import MODELLED_CLASS
    from .build import FactoryError

    kwargs = {k: v for k, v in cfg.items() if k not in _BOOKKEEPING}
    auto = getattr(transformers, MODELLED_CLASS[cfg["model_type"]])
    # On fake tensors the values are never read: skip the class's weight initialisation, which
    # may be data-dependent (ViT's trunc_normal_ reads a scalar back) and costs time anyway.
    init = _no_init() if fake else contextlib.nullcontext()
    try:
        config = transformers.AutoConfig.for_model(cfg["model_type"], **kwargs)
        config.use_cache = False
        with init:
            model = _from_config(auto, config)
        if fake:  # no_init_weights skips tying too (from_pretrained ties after loading)
            model.tie_weights()
        if spec.train.checkpointing:
            model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
    except Exception as exc:  # the class's own message, as ARC303
        raise FactoryError(
            f"transformers {auto.__name__} for model_type {cfg['model_type']!r} raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return model


def _no_init() -> Any:
    """transformers' own switch that skips weight initialisation (from_pretrained uses it)."""
    from transformers.modeling_utils import no_init_weights

    return no_init_weights()


def _from_config(auto: Any, config: Any) -> Any:
    """SDPA attention, or eager for a class without SDPA support (BLOOM, GPT-J, MPT, T5)."""
    import torch

    try:
        return auto.from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    except ValueError as exc:
        if "scaled_dot_product_attention" not in str(exc) and "sdpa" not in str(exc):
            raise
        return auto.from_config(config, attn_implementation="eager", dtype=torch.float32)


def with_attention_mask(model: Any, inputs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The batch a training loop gives a transformers class: token ids *and* an attention
    mask of ones (every tokenizer and data collator returns one), as forward's second
    positional argument when forward names it so.

    Without a mask, transformers 4.57's decoders take their own position_ids for a possibly
    packed batch (masking_utils.find_packed_sequence_indices) and build a full (B, 1, n, n)
    causal mask instead of SDPA's is_causal: a float mask that SDPA saves in every layer, b·n²·4
    bytes each, which no real training step holds (Llama at n 512: +19 % on the CPU)."""
    import sys

    transformers = sys.modules.get("transformers")
    if transformers is None or not isinstance(model, transformers.PreTrainedModel):
        return inputs
    if not inputs or not _int_matrix(inputs[0]) or (len(inputs) > 1 and inputs[1] is not None):
        return inputs
    import inspect

    names = list(inspect.signature(model.forward).parameters)
    if len(names) < 2 or names[1] != "attention_mask":
        return inputs
    import torch

    return (inputs[0], torch.ones_like(inputs[0]), *inputs[2:])


def _int_matrix(t: Any) -> bool:
    import torch

    return isinstance(t, torch.Tensor) and t.dim() == 2 and not t.is_floating_point()
