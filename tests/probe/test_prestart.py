"""An early child (`isolate.prestart`, used by `archcheck probe`): it is the child the next
isolated run uses, with the same result and the same isolation as a fresh one; an unused one
leaves no process and no folder behind."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_archcheck import probe
from pytest_archcheck.probe import isolate
from pytest_archcheck.spec.model import Spec


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie has exited; only its entry is left until it is reaped
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_the_early_child_runs_the_request_with_the_fresh_childs_result() -> None:
    spec = Spec.model_validate(
        {"model": {"family": "tcn", "layers": 2, "d_model": 16, "vocab": 50}}
    )
    fresh = probe.run(spec, device="fake", n=64, subprocess=True, timeout=120)
    with isolate.prestart():
        [early] = isolate._early
        early_pid = early.proc.pid
        got = probe.run(spec, device="fake", n=64, subprocess=True, timeout=120)
        assert isolate._early == []  # taken by the run
    assert got.findings == [] and fresh.findings == []
    assert got.peak_bytes == fresh.peak_bytes and got.flops == fresh.flops
    assert got.peak_bytes is not None and got.peak_bytes > 0
    assert not _alive(early_pid) and not early.folder.exists()


def test_an_early_child_that_dies_in_the_factory_is_the_models_arc303() -> None:
    spec = Spec.model_validate(
        {"model": {"name": "m", "factory": "tests.probe.probe_factories:dies"}}
    )
    with isolate.prestart():
        res = probe.run(spec, device="fake", n=16, subprocess=True, timeout=120, line=3)
    (f,) = res.findings
    assert f.code == "ARC303" and "signal 9" in f.message and f.line == 3


def test_an_unused_early_child_is_killed_and_its_folder_removed() -> None:
    with isolate.prestart():
        [early] = isolate._early
    assert isolate._early == []
    assert not _alive(early.proc.pid)
    assert early.proc.returncode is not None
    assert not early.folder.exists()


def test_prestart_disabled_starts_nothing() -> None:
    with isolate.prestart(enabled=False):
        assert isolate._early == []
