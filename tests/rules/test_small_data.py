"""ARC213 and ARC214, the small-data pitfalls: each fires on a planted spec and stays silent on
its twin. Parameter counts are torch's own (`nn.Module.parameters()` of the same layers), and
the thresholds are the rules' cited numbers worked out here by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_archcheck.engine import check_paths

LSTM = """\
[model]
family = "lstm"
vocab = 10000
d_model = 512
hidden = {hidden}
layers = 2

[data]
tokens = {tokens}
"""

TRANSFORMER = """\
[model]
family = "transformer"
layers = 6
d_model = 512
heads = 8
vocab = 30000
max_positions = 512

[budget]
max_n = {n}
{span}
[data]
samples = {samples}
"""


def _findings(tmp_path: Path, text: str, code: str) -> list:
    path = tmp_path / "m.archcheck.toml"
    path.write_text(text, encoding="utf-8")
    return [f for f in check_paths([str(path)], pyprojects=False).findings if f.code == code]


def _lstm_params(hidden: int) -> int:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    with torch.device("meta"):
        layers = [nn.Embedding(10000, 512), nn.LSTM(512, hidden, 2), nn.Linear(hidden, 10000)]
    return sum(p.numel() for m in layers for p in m.parameters())


def test_arc213_lstm_too_wide_for_its_tokens(tmp_path: Path) -> None:
    params = _lstm_params(2048)  # 80,168,720
    # 50 M tokens: 50e6 / 1.25 = 40 M parameters at most; 80 M is twice that
    (f,) = _findings(tmp_path, LSTM.format(hidden=2048, tokens=50_000_000), "ARC213")
    assert f"{params:,} parameters for 50,000,000 training tokens" in f.message
    assert f.line == 5  # `hidden = 2048`: the key to change
    # the hidden size it proposes is the largest multiple of 8 under 40 M parameters, by torch
    proposed = int(f.fix.split("hidden 2048 -> ")[1].split(",")[0])
    assert proposed % 8 == 0
    assert _lstm_params(proposed) <= 40_000_000 < _lstm_params(proposed + 8)


def test_arc213_silent_with_enough_tokens(tmp_path: Path) -> None:
    params = _lstm_params(2048)
    enough = int(params * 1.25) + 1
    assert not _findings(tmp_path, LSTM.format(hidden=2048, tokens=enough), "ARC213")
    assert _findings(tmp_path, LSTM.format(hidden=2048, tokens=enough - 2), "ARC213")


def test_arc213_says_when_no_width_fits(tmp_path: Path) -> None:
    # 2 M tokens allow 1.6 M parameters; the 10,000 × 512 embedding alone is 5.12 M
    (f,) = _findings(tmp_path, LSTM.format(hidden=2048, tokens=2_000_000), "ARC213")
    assert "no hidden does" in f.fix


def test_arc213_silent_without_declared_tokens(tmp_path: Path) -> None:
    text = LSTM.format(hidden=2048, tokens=1).replace("tokens = 1\n", "")
    assert not _findings(tmp_path, text, "ARC213")


@pytest.mark.parametrize(
    ("n", "samples", "span", "fires"),
    [
        (64, 40_000, "", True),  # the article's example: n = 64, tens of thousands of samples
        (128, 99_999, "", True),  # both thresholds inclusive / exclusive as documented
        (129, 40_000, "", False),  # longer sequences: attention has paths to exploit
        (64, 100_000, "", False),  # enough data
        (64, 40_000, "span = 200", False),  # a declared span beyond n is what attention is for
    ],
)
def test_arc214_transformer_on_short_sequences(
    tmp_path: Path, n: int, samples: int, span: str, fires: bool
) -> None:
    found = _findings(tmp_path, TRANSFORMER.format(n=n, samples=samples, span=span), "ARC214")
    assert bool(found) is fires
    if fires:
        assert f"n = {n}" in found[0].message and found[0].line == 13  # `samples = …`


def test_arc214_is_about_attention_only(tmp_path: Path) -> None:
    text = LSTM.format(hidden=256, tokens=10**9).replace("tokens", "samples")
    text = text.replace("[data]", "[budget]\nmax_n = 64\n\n[data]")
    assert not _findings(tmp_path, text, "ARC214")
