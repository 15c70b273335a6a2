"""Attention spans measured on a model: a head built to look exactly k positions back measures
k; a transformers model's spans are read from its own `output_attentions`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pytest_archcheck.behaviour.attention_span import (  # noqa: E402
    AttentionSpanError,
    measure_spans,
    suggested_span,
)


class LookBack(nn.Module):
    """Embedding + one MultiheadAttention whose mask lets query t see only key t − k (and key 0
    for the first k queries, so no row is fully masked)."""

    def __init__(self, k: int, n: int, heads: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.attn = nn.MultiheadAttention(16, heads, batch_first=True)
        allowed = torch.zeros(n, n, dtype=torch.bool)
        for t in range(n):
            allowed[t, t - k if t >= k else 0] = True
        self.register_buffer("mask", ~allowed)  # True = not allowed (MultiheadAttention's bool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x)
        out, _ = self.attn(h, h, h, attn_mask=self.mask)
        return out


@pytest.mark.parametrize("k", [1, 7, 40])
def test_a_head_that_looks_k_back_measures_k(k: int) -> None:
    n = 128
    model = LookBack(k, n)
    batches = [torch.randint(0, 50, (4, n)) for _ in range(2)]
    spans = measure_spans(model, batches)
    assert len(spans) == 2  # one layer, two heads
    # 128 − k queries at distance k, k queries at distances 0..k−1: P50 and P90 are k
    assert all(s.p50 == k and s.p90 == k for s in spans)
    assert suggested_span(spans) == k
    assert model.training  # the mode is restored


def test_transformers_model_spans_match_its_own_attentions() -> None:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=100, n_positions=64)
    model = transformers.GPT2LMHeadModel(cfg)
    x = torch.randint(0, 100, (3, 64))
    spans = measure_spans(model, [x])
    assert [(s.layer, s.head) for s in spans] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    # independently: the model's own weights, P90 of the pooled distance mass per head
    model.eval()  # as measured: no attention dropout
    with torch.no_grad():
        att = model(x, output_attentions=True).attentions
    d = (torch.arange(64).view(64, 1) - torch.arange(64).view(1, 64)).abs()
    for s in spans:
        w = att[s.layer][:, s.head].sum(0)  # (query, key)
        mass = torch.zeros(64, dtype=torch.float64).scatter_add_(
            0, d.flatten(), w.flatten().double()
        )
        cdf = mass.cumsum(0) / mass.sum()
        assert s.p90 == int((cdf < 0.9 - 1e-9).sum())
        assert s.p90 <= 63  # causal: never beyond the sequence


def test_no_attention_weights_is_refused() -> None:
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8))
    with pytest.raises(AttentionSpanError, match="exposed no attention weights"):
        measure_spans(model, [torch.randint(0, 10, (2, 16))])


FACTORY = """
import torch
from torch import nn


class LookBack(nn.Module):
    def __init__(self, k, n):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        allowed = torch.zeros(n, n, dtype=torch.bool)
        for t in range(n):
            allowed[t, t - k if t >= k else 0] = True
        self.register_buffer("mask", ~allowed)

    def forward(self, x):
        h = self.emb(x)
        return self.attn(h, h, h, attn_mask=self.mask)[0]


def build(k=9):
    return LookBack(k, 64)
"""

SPEC = """\
[model]
family = "{family}"
{factory}
layers = 1
d_model = 16
heads = 2
vocab = 50
max_positions = 64

[train]
seq_len = 64
"""


def test_cli_measures_a_factory_in_the_isolated_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    np = pytest.importorskip("numpy")
    from pytest_archcheck.cli import main

    (tmp_path / "lookback.py").write_text(FACTORY, encoding="utf-8")
    spec = tmp_path / "lb.archcheck.toml"
    factory = 'factory = "lookback:build"\nfactory_args = { k = 13 }'
    spec.write_text(SPEC.format(family="transformer", factory=factory), encoding="utf-8")
    np.save(tmp_path / "tok.npy", np.random.default_rng(0).integers(0, 50, size=64 * 20))
    monkeypatch.chdir(tmp_path)
    assert main(["span", "tok.npy", "--model", str(spec), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["suggested_span"] == 13 and doc["n"] == 64 and doc["sequences"] == 20
    assert "lookback" not in sys.modules  # built in the child, never in this process


def test_cli_refuses_a_model_without_attention_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np = pytest.importorskip("numpy")
    from pytest_archcheck.cli import main

    spec = tmp_path / "rnn.archcheck.toml"
    spec.write_text(SPEC.format(family="lstm", factory="").replace("heads = 2\n", ""), "utf-8")
    np.save(tmp_path / "tok.npy", np.zeros((4, 64), dtype=np.int64))
    assert main(["span", str(tmp_path / "tok.npy"), "--model", str(spec)]) == 2
    assert "exposed no attention weights" in capsys.readouterr().err
