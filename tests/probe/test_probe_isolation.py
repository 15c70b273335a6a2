"""Factory failures become findings (ARC303), in process and in a subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pytest_archcheck import probe
from pytest_archcheck.spec.model import Spec


def _spec(factory: str) -> Spec:
    return Spec.model_validate({"model": {"name": "m", "factory": factory}})


@pytest.mark.parametrize(
    ("factory", "words"),
    [
        ("tests.probe.probe_factories:raises", "boom"),
        ("tests.probe.probe_factories:not_a_module", "not torch.nn.Module"),
        ("tests.probe.probe_factories:missing", "cannot resolve"),
        ("no_such_module_xyz:build", "cannot resolve"),
    ],
)
def test_factory_problems_in_process(factory: str, words: str) -> None:
    res = probe.run(_spec(factory), device="fake", n=16, path="m.archcheck.toml", line=7)
    assert res.peak_bytes is None
    (f,) = res.findings
    assert f.code == "ARC303" and words in f.message
    assert (f.path, f.line, f.model) == ("m.archcheck.toml", 7, "m")


def test_subprocess_success_matches_in_process() -> None:
    spec = Spec.model_validate(
        {"model": {"family": "tcn", "layers": 2, "d_model": 16, "vocab": 50}}
    )
    inproc = probe.run(spec, device="fake", n=64)
    child = probe.run(spec, device="fake", n=64, subprocess=True, timeout=120)
    assert child.findings == []
    assert child.peak_bytes == inproc.peak_bytes and child.flops == inproc.flops


def test_subprocess_factory_kills_interpreter() -> None:
    res = probe.run(
        _spec("tests.probe.probe_factories:dies"),
        device="fake",
        n=16,
        subprocess=True,
        timeout=120,
        path="x.toml",
        line=3,
    )
    (f,) = res.findings
    assert f.code == "ARC303" and "signal 9" in f.message and f.line == 3


def test_subprocess_factory_hangs() -> None:
    res = probe.run(
        _spec("tests.probe.probe_factories:hangs"), device="fake", n=16, subprocess=True, timeout=8
    )
    (f,) = res.findings
    assert f.code == "ARC303" and "did not finish within 8 s" in f.message


def test_subprocess_raise_is_reported_from_child() -> None:
    res = probe.run(
        _spec("tests.probe.probe_factories:raises"),
        device="fake",
        n=16,
        subprocess=True,
        timeout=120,
    )
    (f,) = res.findings
    assert f.code == "ARC303" and "boom" in f.message


def test_importing_probe_does_not_import_torch() -> None:
    code = (
        "import sys, pytest_archcheck.probe, pytest_archcheck.formulas.peak;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_factory_that_cannot_run_on_meta_falls_back() -> None:
    spec = Spec.model_validate(
        {"model": {"factory": "tests.probe.probe_factories:meta_hostile", "vocab": 50}}
    )
    fake = probe.run(spec, device="fake", emulate="cpu", n=16)
    cpu = probe.run(spec, device="cpu", n=16)
    assert fake.findings == [] and fake.peak_bytes == cpu.peak_bytes


def test_model_that_fails_in_forward_is_a_finding() -> None:
    res = probe.run(_spec("tests.probe.probe_factories:bad_forward"), device="fake", n=16)
    (f,) = res.findings
    assert f.code == "ARC303" and "probe step failed" in f.message


def test_cpu_allocator_refusal_is_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's CPU allocator refuses an allocation beyond the worker's cap (RLIMIT_AS) with a
    RuntimeError, not a MemoryError: in an isolated worker it is reported as running out of
    memory under the cap, wherever a wrapper caught it; any other RuntimeError is not."""
    from pytest_archcheck.probe import build

    monkeypatch.setattr(build, "ISOLATED", [True])
    refused = RuntimeError(
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
        "memory: you tried to allocate 180355072 bytes. Error code 12 (Cannot allocate memory)"
    )
    try:
        raise build.FactoryError("factory 'model:Transformer' raised RuntimeError") from refused
    except build.FactoryError as wrapped:
        oom = build.out_of_memory(wrapped)
    assert isinstance(oom, MemoryError) and "can't allocate memory" in str(oom)
    assert build.out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    monkeypatch.setattr(build, "ISOLATED", [])
    assert build.out_of_memory(refused) is None  # not isolated: it stays a finding
