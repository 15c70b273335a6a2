"""The `archcheck` fixture and marker in users' own tests (probes run on the fake device).

Subprocesses: torch cannot be imported twice into one interpreter, which pytester's in-process
runs would do.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]
pytest.importorskip("torch")

TINY = (
    'family="transformer", layers=1, d_model=32, heads=2, vocab=100, max_positions=64, seq_len=64'
)


def test_marker_budget_met_and_missed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user=f"""
        import pytest

        @pytest.mark.archcheck(memory="1 GiB", max_n=64)
        def test_fits(archcheck):
            report = archcheck.check({TINY})
            assert report.measured["peak_bytes"] > 0

        @pytest.mark.archcheck(memory="64 KiB", max_n=64)
        def test_too_big(archcheck):
            archcheck.check({TINY})
    """
    )
    result = pytester.runpytest_subprocess("--archcheck-device=fake", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*archcheck budgets not met:*",
            "*ARC101 measured (fake, target *) training peak*exceeds memory budget 64.00 KiB*",
        ]
    )
    assert "fixture.py" not in result.stdout.str()


def test_marker_overrides_project_default(pytester: pytest.Pytester) -> None:
    # The project default (64 KiB) would fail; the marker's 1 GiB wins.
    pytester.makefile(".toml", pyproject='[tool.archcheck]\nbudget = { memory = "64 KiB" }\n')
    pytester.makepyfile(
        test_user=f"""
        import pytest

        def test_default(archcheck):
            archcheck.check({TINY}, behaviour=False)

        @pytest.mark.archcheck(memory="1 GiB")
        def test_marker(archcheck):
            archcheck.check({TINY}, behaviour=False)
    """
    )
    result = pytester.runpytest_subprocess("--archcheck-device=fake", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_default*"])


def test_user_module_behaviour_is_checked(pytester: pytest.Pytester) -> None:
    # A bidirectional encoder with no positional information at all: ARC201 from behaviour.
    pytester.makepyfile(
        test_user="""
        import pytest
        from torch import nn

        class Bag(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(100, 32)
                layer = nn.TransformerEncoderLayer(32, 2, 64, dropout=0.0, batch_first=True)
                self.enc = nn.TransformerEncoder(layer, 1)

            def forward(self, x):
                return self.enc(self.emb(x))

        @pytest.mark.archcheck(memory="1 GiB")
        def test_bag(archcheck):
            archcheck.check(Bag(), family="transformer", layers=1, d_model=32, heads=2, d_ff=64,
                            vocab=100, causal=False, positional="learned", seq_len=16)
    """
    )
    result = pytester.runpytest_subprocess("--archcheck-device=fake", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*ARC201*"])


def test_user_inputs_callable(pytester: pytest.Pytester) -> None:
    # A model whose forward takes two float tensors: the synthetic inputs cannot drive it.
    pytester.makepyfile(
        test_user="""
        import pytest
        import torch
        from torch import nn

        class Pair(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(8, 8)
                self.b = nn.Linear(8, 8)

            def forward(self, x, y):
                return self.a(x) + self.b(y)

        def make(batch, n):
            return torch.randn(batch, n, 8), torch.randn(batch, n, 8)

        @pytest.mark.archcheck(memory="1 GiB")
        def test_pair(archcheck):
            r = archcheck.check(Pair(), inputs=make, family="cnn", layers=1, d_model=8,
                                seq_len=16, behaviour=False)
            assert r.measured["peak_bytes"] > 0
    """
    )
    result = pytester.runpytest_subprocess("--archcheck-device=fake", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_fixture_knows_the_project_devices(pytester: pytest.Pytester) -> None:
    """`[tool.archcheck] device` may name a device the project defines; the fixture's spec
    carries it, and its latency estimate uses it."""
    pytester.makefile(
        ".toml",
        pyproject=(
            '[tool.archcheck]\ndevice = "Lab"\n\n[tool.archcheck.devices.Lab]\n'
            'memory = "8 GiB"\nbandwidth = "100 GB/s"\nfp32 = "1 TFLOP/s"\n'
        ),
    )
    pytester.makepyfile(
        test_user=f"""
        def test_spec(archcheck):
            spec = archcheck.spec({TINY})
            assert spec.budget.device == "Lab"
            assert spec.project_devices["Lab"].bandwidth == 100e9
    """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
