"""The probe's default loss (probe/build.py ProbeLoss): cross-entropy over a declared vocab /
classes head, the float sum otherwise, the user's `[model] loss` when set; the probe result
names the one that ran (`extra["loss"]`)."""

from __future__ import annotations

import math

import pytest

from pytest_archcheck.probe.build import ProbeLoss, make_loss
from pytest_archcheck.probe.step import measure
from pytest_archcheck.spec.model import Spec

torch = pytest.importorskip("torch")


def test_lm_loss_is_the_mean_negative_log_likelihood_of_the_input_tokens() -> None:
    rows = [[0.0, 1.0, 2.0], [3.0, 0.0, -1.0]]
    tokens = [2, 0]
    # by hand: -mean(x[t] - log(sum(exp(x))))
    logp = [r[t] - math.log(sum(math.exp(v) for v in r)) for r, t in zip(rows, tokens, strict=True)]
    expected = -sum(logp) / len(rows)
    loss_fn = ProbeLoss("lm", 3)
    got = loss_fn(torch.tensor([rows]), (torch.tensor([tokens]),))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert loss_fn.used == "cross_entropy (vocab 3)" and loss_fn.holds_output


def test_classifier_loss_takes_random_class_ids() -> None:
    loss_fn = ProbeLoss("classes", 4)
    out = torch.zeros(5, 4)  # uniform logits: log(4) whatever the targets
    got = loss_fn(out, (torch.zeros(5, 16, dtype=torch.long),))
    assert got.item() == pytest.approx(math.log(4), rel=1e-6)
    assert loss_fn.used == "cross_entropy (classes 4)"


def test_output_without_the_declared_width_is_summed() -> None:
    loss_fn = ProbeLoss("lm", 100)
    got = loss_fn(torch.ones(2, 3, 32), (torch.zeros(2, 3, dtype=torch.long),))
    assert got.item() == 2 * 3 * 32 and loss_fn.used == "sum" and not loss_fn.holds_output


def _spec(**model: object) -> Spec:
    return Spec.model_validate({"model": model, "train": {"batch": 2}})


def test_factory_output_of_another_width_is_trained_on_the_sum_and_says_so() -> None:
    # nn.Embedding + nn.TransformerEncoder: (B, n, 32) out, vocab 100 declared
    spec = _spec(factory="tests.probe.probe_factories:encoder", vocab=100)
    res = measure(spec, "fake", 32, 2)
    assert res.extra["loss"] == "sum"


def test_reference_lm_is_trained_on_cross_entropy() -> None:
    spec = _spec(family="transformer", layers=1, d_model=32, heads=2, vocab=64)
    assert measure(spec, "fake", 32, 2).extra["loss"] == "cross_entropy (vocab 64)"


def test_user_loss_overrides_the_default() -> None:
    spec = _spec(
        family="transformer",
        layers=1,
        d_model=32,
        heads=2,
        vocab=64,
        loss="tests.probe.probe_factories:half_sum",
    )
    assert not isinstance(make_loss(spec), ProbeLoss)
    assert measure(spec, "fake", 32, 2).extra["loss"] == "tests.probe.probe_factories:half_sum"


def test_embeddings_in_without_a_head_are_summed() -> None:
    spec = _spec(family="transformer", layers=1, d_model=32, heads=2, input="embeddings")
    assert measure(spec, "fake", 32, 2).extra["loss"] == "sum"
