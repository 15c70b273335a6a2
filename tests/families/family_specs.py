"""Hypothesis strategies drawing valid specs of every family unit, small enough that a fake
probe of each runs in well under a second (shared by the family tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pytest_archcheck.spec.model import Spec

TRAIN = st.fixed_dictionaries(
    {
        "batch": st.integers(1, 4),
        "dtype": st.sampled_from(["fp32", "bf16"]),
        "optimizer": st.sampled_from(["sgd", "sgd-momentum", "adam", "adamw", "adafactor"]),
    }
)
DEVICE = st.sampled_from([None, "H100-80GB", "A100-80GB", "cpu"])


@st.composite
def transformer(draw: st.DrawFn) -> dict[str, Any]:
    heads = draw(st.sampled_from([1, 2, 4]))
    kv = draw(st.sampled_from([k for k in (1, 2, 4) if heads % k == 0]))
    hd = draw(st.sampled_from([8, 16]))
    m: dict[str, Any] = {
        "family": "transformer",
        "layers": draw(st.integers(1, 3)),
        "d_model": heads * hd,
        "heads": heads,
        "kv_heads": kv,
        "d_ff": draw(st.sampled_from([32, 48, 64])),
        "mlp": draw(st.sampled_from(["gelu", "relu", "swiglu"])),
        "norm": draw(st.sampled_from(["layernorm", "rmsnorm"])),
        "bias": draw(st.sampled_from(["all", "none", "qkv"])),
        "positional": draw(st.sampled_from(["learned", "sinusoidal", "rotary", "none"])),
        "causal": draw(st.booleans()),
        "tied_embeddings": draw(st.booleans()),
    }
    if draw(st.booleans()):
        m["vocab"] = draw(st.integers(16, 300))
    else:
        m["input"] = "embeddings"
    if draw(st.booleans()):
        m["max_positions"] = 4096
    if not m["causal"] and draw(st.booleans()):  # a BERT-style encoder
        m |= {"type_vocab": 2, "pooler": draw(st.booleans())}
        m["head"] = draw(st.sampled_from(["none", "classes"]))
        m["classes"] = 3
    return m


@st.composite
def recurrent(draw: st.DrawFn) -> dict[str, Any]:
    d = draw(st.sampled_from([8, 16, 24]))
    m: dict[str, Any] = {
        "family": draw(st.sampled_from(["lstm", "gru", "rnn"])),
        "layers": draw(st.integers(1, 3)),
        "d_model": d,
        "hidden": draw(st.sampled_from([d, 16, 32])),
        "bidirectional": draw(st.booleans()),
        "bias": draw(st.sampled_from(["all", "none"])),
        "tied_embeddings": draw(st.booleans()),
    }
    if draw(st.booleans()):
        m["vocab"] = draw(st.integers(16, 300))
    else:
        m["input"] = "embeddings"
        m["in_channels"] = draw(st.sampled_from([4, 12]))
    if draw(st.booleans()):
        m["classes"] = 5
    return m


@st.composite
def conv1d(draw: st.DrawFn) -> dict[str, Any]:
    layers = draw(st.integers(1, 4))
    d = draw(st.sampled_from([8, 16]))
    m: dict[str, Any] = {
        "family": draw(st.sampled_from(["cnn", "tcn"])),
        "layers": layers,
        "d_model": d,
        "kernel": draw(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=layers, max_size=layers)),
        "dilations": draw(st.lists(st.sampled_from([1, 2, 4]), min_size=layers, max_size=layers)),
        "strides": draw(st.lists(st.sampled_from([1, 1, 2]), min_size=layers, max_size=layers)),
        "channels": draw(st.lists(st.sampled_from([d, 12, 24]), min_size=layers, max_size=layers)),
        "padding": draw(st.sampled_from(["same", "causal", "valid", 1])),
        "bias": draw(st.sampled_from(["all", "none"])),
        "tied_embeddings": draw(st.booleans()),
    }
    if m["family"] == "cnn" and m["padding"] == "causal":
        m["causal"] = True
    if draw(st.booleans()):
        m["vocab"] = draw(st.integers(16, 300))
    else:
        m["input"] = "embeddings"
        m["in_channels"] = draw(st.sampled_from([3, 8]))
    if draw(st.booleans()):
        m["classes"] = 4
    return m


@st.composite
def conv2d(draw: st.DrawFn) -> dict[str, Any]:
    layers = draw(st.integers(1, 3))
    return {
        "family": "cnn",
        "input": "image",
        "layers": layers,
        "channels": draw(st.lists(st.sampled_from([4, 8, 16]), min_size=layers, max_size=layers)),
        "strides": draw(st.lists(st.sampled_from([1, 2]), min_size=layers, max_size=layers)),
        "in_channels": draw(st.sampled_from([1, 3])),
        "classes": draw(st.sampled_from([2, 10])),
        "image_size": draw(st.sampled_from([16, 32])),
    }


MODELS = {
    "transformer": transformer(),
    "recurrent": recurrent(),
    "conv1d": conv1d(),
    "conv2d": conv2d(),
}


@st.composite
def specs(draw: st.DrawFn, unit: str, n_range: tuple[int, int] = (64, 4096)) -> tuple[Spec, int]:
    """A validated spec of family unit `unit` and an n to run it at."""
    model = draw(MODELS[unit])
    train = draw(TRAIN)
    if model.get("input") != "image" and draw(st.booleans()):
        train["dropout"] = 0.1
    if unit == "transformer" and draw(st.booleans()):
        train["checkpointing"] = True
    budget = {}
    device = draw(DEVICE)
    if device is not None:
        budget["device"] = device
    n = draw(st.integers(*n_range)) if unit != "conv2d" else model["image_size"]
    if unit == "conv1d":  # every layer must keep at least one position
        n = max(n, 64)
    spec = Spec.model_validate({"model": model, "train": train, "budget": budget})
    return spec, n
