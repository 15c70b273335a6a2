"""n_max search, the article's rules of thumb, and the selection guide."""

from __future__ import annotations

import pytest

from pytest_archcheck.formulas.advise import advise
from pytest_archcheck.formulas.limits import n_max

GiB = 2**30
MiB = 2**20


def test_n_max_linear() -> None:
    # 1000 B per position, 1,000,000 B: n <= 1000, largest multiple of 64 is 15*64 = 960
    assert n_max(lambda n: 1000 * n, 1_000_000) == 960
    assert n_max(lambda n: 1000 * n, 1_000_000, granularity=1) == 1000
    assert n_max(lambda n: 1000 * n, 63_999) is None  # 64 positions need 64,000 B
    assert n_max(lambda n: 1000 * n, 64_000) == 64


def test_n_max_upper_and_fixed_cost() -> None:
    assert n_max(lambda n: 0, 1) == 2**24
    assert n_max(lambda n: 0, 1, upper=1000) == 960
    assert n_max(lambda n: 10**9 + n, 10**9 + 200) == 192  # fixed cost + 1 B/position


def test_n_max_quadratic_exact() -> None:
    # B*h*n^2*2 with B=2, h=8 fits 8 GiB up to n = 2**14 exactly
    assert n_max(lambda n: 2 * 8 * n * n * 2, 8 * GiB) == 16384
    assert n_max(lambda n: 2 * 8 * n * n * 2, 8 * GiB - 1) == 16384 - 64


def test_n_max_few_evaluations() -> None:
    calls: list[int] = []

    def total(n: int) -> int:
        calls.append(n)
        return n

    assert n_max(total, 123_456, granularity=1) == 123_456
    assert len(calls) < 2 * 25  # exponential + binary search, not a scan


@pytest.mark.parametrize("seed_n", [64, 100, 959, 960, 961, 1000, 1024, 5000, 2**24, 2**25])
@pytest.mark.parametrize("granularity", [1, 64])
def test_seeded_n_max_is_the_unseeded_answer(seed_n: int, granularity: int) -> None:
    """A seed (n, total(n)) bounds the search from above or below; the answer is unchanged:
    1000 B per position and 1,000,000 B give n <= 1000 (960 at granularity 64), and 0 B per
    position fits up to `upper` (seeds beyond it included)."""

    def total(n: int) -> int:
        return 1000 * n

    expected = 1000 if granularity == 1 else 960
    seed = (seed_n, total(seed_n))
    assert n_max(total, 1_000_000, granularity, seed=seed) == expected
    assert n_max(lambda n: 0, 1, granularity, upper=5000, seed=(seed_n, 0)) == (
        5000 if granularity == 1 else 4992
    )
    assert n_max(total, 63_999, 64, seed=seed) is None  # 64 positions need 64,000 B


def test_seed_above_the_answer_saves_the_exponential_phase() -> None:
    """Seeded with a point that does not fit, the search only bisects below it: for the answer
    123,456 at granularity 1 with the seed 200,000, at most 1 + ceil(log2(200,000)) = 19
    evaluations, where the unseeded search takes over 25."""
    calls: list[int] = []

    def total(n: int) -> int:
        calls.append(n)
        return n

    assert n_max(total, 123_456, granularity=1) == 123_456
    unseeded = len(calls)
    calls.clear()
    assert n_max(total, 123_456, granularity=1, seed=(200_000, 200_000)) == 123_456
    assert len(calls) <= 19 < unseeded


def test_estimate_seeds_n_max_with_its_own_peak() -> None:
    """Estimate.n_max (seeded with the peak at the estimate's n) equals the unseeded search."""
    from pytest_archcheck.estimate import estimate, n_max_for
    from pytest_archcheck.spec.model import Spec

    for memory in ("2 GiB", "6 GiB", "80 GiB"):
        spec = Spec.model_validate(
            {
                "model": {"name": "m", "layers": 4, "d_model": 256, "heads": 4, "vocab": 1000},
                "train": {"batch": 8, "seq_len": 1024},
                "budget": {"memory": memory, "max_n": 2048},
            }
        )
        est = estimate(spec, n=spec.budget_n)
        assert est.n_max == n_max_for(spec, est.batch, est.target)


def test_advise_quadrants() -> None:
    small = advise(64, 512, 16 * GiB)
    # 1*8*512^2*2 = 4 MiB, x8 = 32 MiB fits 16 GiB: large budget, small span
    assert small.attention_bytes == 4 * MiB and small.budget_large
    assert small.recommendation == "small Transformer or CNN" and small.span_class == "small"
    tight = advise(1024, 8192, GiB)
    # 8*8192^2*2 = 1 GiB, x8 = 8 GiB > 1 GiB: small budget, large span
    assert tight.attention_bytes == GiB and not tight.budget_large
    assert tight.recommendation == "local attention / hybrid"
    assert advise(64, 8192, GiB).recommendation == "CNN/LSTM"
    big = advise(2048, 2048, 24 * GiB)
    assert big.recommendation == "full Transformer" and big.span_class == "large"
    assert advise(2048, 4096, 24 * GiB).recommendation == "full Transformer with FlashAttention"
    assert "sparse" in advise(2048, 16384, 10**15).length_regime


def test_advise_numbers_and_latency() -> None:
    a = advise(512, 1024, 24 * GiB, latency_s=0.2)
    assert (a.cnn_layers_centered, a.cnn_layers_causal, a.cnn_layers_receptive_field) == (
        512, 256, 256,
    )  # fmt: skip
    assert a.window_layers == 2 and a.window_saving == 1024 / 256
    # the article's 0.2 ms per step: 1024 steps = 204.8 ms > 200 ms
    assert a.rnn_latency_s == pytest.approx(0.2048) and a.rnn_latency_ok is False
    assert a.transformer_latency_s == pytest.approx(6 * 0.2e-3)
    short = advise(64, 8192, GiB, latency_s=0.1)
    assert short.recommendation == "CNN" and short.rnn_latency_ok is False
    dev = advise(64, 256, GiB, device="H100-80GB", latency_s=1.0)
    assert dev.device == "H100-80GB" and dev.rnn_latency_ok is True
    assert advise(300, 256, GiB).notes  # between 256 and 512


@pytest.mark.parametrize("granularity", [1, 7, 64])
def test_n_max_matches_brute_force(granularity: int) -> None:
    def total(n: int) -> int:
        return 5000 + 3 * n + n * n // 10  # fixed + linear + quadratic, monotone

    upper = 2000
    for budget in range(0, 450_000, 9_973):
        fits = [n for n in range(granularity, upper + 1, granularity) if total(n) <= budget]
        expected = fits[-1] if fits else None
        assert n_max(total, budget, granularity, upper) == expected


def test_advice_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pytest_archcheck.formulas.advise import render_text

    a = advise(300, 1024, GiB, latency_s=0.1)
    data = json.loads(json.dumps(a.to_json()))
    assert data["attention_bytes"] == 8 * 1024 * 1024 * 2 and isinstance(data["notes"], list)
    render_text(a)
    assert "recommendation" in capsys.readouterr().out
