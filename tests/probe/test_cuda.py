"""CUDA probe checks that need a GPU: skipped on CPU-only machines (CI here has none).

Run on a GPU machine with `python -m pytest tests/probe/test_cuda.py`; the figures of such a
run are in docs/benchmarks.md (H200).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

from probe_zoo import zoo_spec  # noqa: E402

from pytest_archcheck import probe  # noqa: E402
from pytest_archcheck.families import family_of  # noqa: E402


def _harness(spec, n: int, batch: int) -> int:
    """A plain training loop, independent of the probe's step code: warm-up step, reset,
    one measured step, max_memory_allocated."""
    model = family_of(spec).reference_module(spec).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        x = torch.randint(0, spec.model.vocab, (batch, n), device="cuda")
        model(x).float().sum().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    step()
    torch.cuda.synchronize()
    return int(torch.cuda.max_memory_allocated())


@pytest.mark.parametrize("name", ["gpt2", "llama", "lstm", "tcn"])
def test_cuda_probe_matches_a_plain_harness(name: str) -> None:
    spec = zoo_spec(name)
    expected = _harness(spec, 256, 2)
    torch.cuda.empty_cache()
    got = probe.run(spec, device="cuda", n=256, batch=2).peak_bytes
    assert got is not None
    assert abs(got - expected) <= 0.01 * expected  # measured within 0.3 % on an H200


def test_fake_probe_in_cuda_emulation_tracks_cuda_for_transformers() -> None:
    spec = zoo_spec("gpt2", dtype="bf16", dropout=0.1)
    cuda = probe.run(spec, device="cuda", n=512, batch=4).peak_bytes
    fake = probe.run(spec, device="fake", n=512, batch=4, emulate="cuda").peak_bytes
    assert cuda is not None and fake is not None
    assert abs(fake - cuda) <= 0.05 * cuda


def test_oom_is_a_finding_and_memory_is_released() -> None:
    base = torch.cuda.memory_allocated()
    # rotary positions (no table to overflow); the math kernel stores 64 x 4 x 32768^2 fp32
    # scores, 1 TiB: far beyond any card.
    big = zoo_spec("llama", attention_kernel="math")
    res = probe.run(big, device="cuda", n=32768, batch=64)
    assert [f.code for f in res.findings] == ["ARC101"]
    assert "out of device memory" in res.findings[0].message
    assert torch.cuda.memory_allocated() == base


def test_user_model_state_is_restored() -> None:
    spec = zoo_spec("gpt2")
    model = family_of(spec).reference_module(spec).eval()
    first = next(model.parameters())
    first.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    torch.manual_seed(1)
    cpu_rng, cuda_rng = torch.get_rng_state(), torch.cuda.get_rng_state_all()
    assert probe.run(spec, device="cuda", n=128, batch=2, model=model).peak_bytes
    assert not any(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert torch.equal(cpu_rng, torch.get_rng_state())
    assert all(
        torch.equal(a, b) for a, b in zip(cuda_rng, torch.cuda.get_rng_state_all(), strict=True)
    )


def test_cuda_latency_percentiles() -> None:
    lat = probe.run(zoo_spec("gpt2"), device="cuda", n=128, batch=1, latency=True).latency
    assert lat is not None and lat["samples"] >= 200
    assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]
