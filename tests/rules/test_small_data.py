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


# ARC216: n raised without more data. The numbers are the planted specs' own; the threshold is
# the rule's documented "in proportion": data x r for n x r.

GPT = """\
[model]
name = "lm"
family = "transformer"
layers = 2
d_model = 64
heads = 4
vocab = 1000
max_positions = 8192

[budget]
max_n = {n}

[data]
{data}
{previous}
"""


def _write(folder: Path, name: str, n: int, data: str, previous: str = "") -> Path:
    path = folder / name
    path.write_text(GPT.format(n=n, data=data, previous=previous), encoding="utf-8")
    return path


def _arc216(path: Path) -> list:
    return [f for f in check_paths([str(path)], pyprojects=False).findings if f.code == "ARC216"]


def test_arc216_fires_when_n_doubles_on_the_same_samples(tmp_path: Path) -> None:
    _write(tmp_path, "v1.archcheck.toml", 1024, "samples = 50_000")
    new = _write(tmp_path, "v2.archcheck.toml", 2048, "samples = 50_000",
                 'previous = "v1.archcheck.toml"')  # fmt: skip
    (f,) = _arc216(new)
    assert f.severity == "warning"
    assert "n raised 1,024 -> 2,048 (x2)" in f.message
    assert "samples went 50,000 -> 50,000 (x1)" in f.message
    assert "v1.archcheck.toml" in f.message and "heuristic" in f.message
    assert f.line == 11  # `max_n = 2048`: the key that grew
    assert f.fix is not None and "at least 100,000 samples" in f.fix


def test_arc216_silent_on_its_twins(tmp_path: Path) -> None:
    _write(tmp_path, "v1.archcheck.toml", 1024, "samples = 50_000")
    # more data in proportion: 2x n, 2x samples
    more = _write(tmp_path, "more.archcheck.toml", 2048, "samples = 100_000",
                  'previous = "v1.archcheck.toml"')  # fmt: skip
    assert not _arc216(more)
    # n unchanged, same data
    same = _write(tmp_path, "same.archcheck.toml", 1024, "samples = 50_000",
                  'previous = "v1.archcheck.toml"')  # fmt: skip
    assert not _arc216(same)
    # n lowered
    assert not _arc216(_write(tmp_path, "less.archcheck.toml", 512, "samples = 10",
                              'previous = "v1.archcheck.toml"'))  # fmt: skip
    # one sample short of proportion still fires: 1.5x n needs 75,000
    short = _write(tmp_path, "short.archcheck.toml", 1536, "samples = 74_999",
                   'previous = "v1.archcheck.toml"')  # fmt: skip
    (f,) = _arc216(short)
    assert "at least 75,000 samples" in (f.fix or "")
    assert not _arc216(_write(tmp_path, "ok.archcheck.toml", 1536, "samples = 75_000",
                              'previous = "v1.archcheck.toml"'))  # fmt: skip


def test_arc216_inline_previous_and_tokens_first(tmp_path: Path) -> None:
    # tokens compared when both give them: 4x n, 3x tokens -> fires though samples grew 4x
    path = _write(tmp_path, "m.archcheck.toml", 4096, "samples = 400\ntokens = 3_000_000",
                  "previous = { max_n = 1024, samples = 100, tokens = 1_000_000 }")  # fmt: skip
    (f,) = _arc216(path)
    assert "n raised 1,024 -> 4,096 (x4) since the previous version (inline)" in f.message
    assert "tokens went 1,000,000 -> 3,000,000 (x3)" in f.message
    assert "at least 4,000,000 tokens" in (f.fix or "")
    ok = _write(tmp_path, "ok.archcheck.toml", 4096, "tokens = 4_000_000",
                "previous = { max_n = 1024, tokens = 1_000_000 }")  # fmt: skip
    assert not _arc216(ok)


def test_arc216_says_what_it_cannot_compare(tmp_path: Path) -> None:
    path = _write(tmp_path, "m.archcheck.toml", 2048, "tokens = 5_000_000",
                  "previous = { max_n = 1024, samples = 100 }")  # fmt: skip
    (f,) = _arc216(path)
    assert "cannot be compared" in f.message and f.line == 15  # the `previous` line
    missing = _write(tmp_path, "x.archcheck.toml", 2048, "samples = 5",
                     'previous = "nowhere.archcheck.toml"')  # fmt: skip
    (f,) = _arc216(missing)
    assert "cannot read the previous version 'nowhere.archcheck.toml'" in f.message
    (tmp_path / "bad.archcheck.toml").write_text("[model\n", encoding="utf-8")
    bad = _write(tmp_path, "y.archcheck.toml", 2048, "samples = 5",
                 'previous = "bad.archcheck.toml"')  # fmt: skip
    (f,) = _arc216(bad)
    assert "does not validate (line 1" in f.message


def test_arc216_rechecks_when_the_previous_spec_changes(tmp_path: Path) -> None:
    """The static cache keys the result on the previous spec's content (deps.note_file): an
    edit to the previous spec alone re-checks this one."""
    from pytest_archcheck.cache import check_cached

    folder = tmp_path / ".cache"
    old = _write(tmp_path, "v1.archcheck.toml", 1024, "samples = 50_000")
    new = _write(tmp_path, "v2.archcheck.toml", 2048, "samples = 100_000",
                 'previous = "v1.archcheck.toml"')  # fmt: skip

    def codes() -> list[str]:
        res = check_cached([str(new)], folder=folder)
        return [f.code for f in res.findings if f.code == "ARC216"]

    assert codes() == []
    assert codes() == []  # warm
    old.write_text(GPT.format(n=1024, data="samples = 60_000", previous=""), encoding="utf-8")
    assert codes() == ["ARC216"]
