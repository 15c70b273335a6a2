"""A class's own attention (`eager_attention`) is modelled with and without dropout, but not
with checkpointing, tensor parallelism, grouped-query or windowed attention, experts,
embedding input, RMSNorm or post-norm blocks, or without an LM head: each of these is
refused by name (NotModelled at the key, ARC307), never estimated (families/transformer.py
eager_unmodelled). Static: no torch."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_archcheck.estimate import estimate
from pytest_archcheck.families import NotModelled
from pytest_archcheck.spec.model import Spec

MODEL = {"family": "transformer", "layers": 2, "d_model": 64, "heads": 4, "vocab": 100,
         "eager_attention": True, "positional": "alibi"}  # fmt: skip


def _spec(model: dict[str, Any] | None = None, **train: Any) -> Spec:
    return Spec.model_validate(
        {"model": MODEL | (model or {}), "train": {"batch": 2, "seq_len": 128} | train}
    )


@pytest.mark.parametrize("train", [{}, {"dropout": 0.1}, {"attention_dropout": 0.1}])
def test_eager_attention_is_estimated(train: dict[str, Any]) -> None:
    assert estimate(_spec(**train), target="cpu").memory.total > 0


@pytest.mark.parametrize(
    ("model", "train", "key"),
    [
        ({}, {"checkpointing": True}, ("train", "checkpointing")),
        ({}, {"tensor_parallel": 2, "world_size": 2}, ("train", "tensor_parallel")),
        ({}, {"parallel": {"tp": 2}}, ("train", "parallel")),
        ({"kv_heads": 2}, {}, ("model", "kv_heads")),
        ({"attention": "sliding", "window": 32}, {}, ("model", "attention")),
        ({"input": "embeddings"}, {}, ("model", "input")),
        ({"norm": "rmsnorm"}, {}, ("model", "norm")),
        ({"norm_placement": "post"}, {}, ("model", "norm")),
        ({"head": "none"}, {}, ("model", "head")),
    ],
)
def test_what_was_not_measured_is_refused_by_name(
    model: dict[str, Any], train: dict[str, Any], key: tuple[str, str]
) -> None:
    with pytest.raises(NotModelled, match="computes attention itself") as refused:
        _ = estimate(_spec(model, **train), target="cpu").memory
    assert refused.value.key == key
    assert "check --probe" in refused.value.fix
