"""`archcheck calibrate`: its table parses as a project device that switches on the per-op
latency model. No timed assertion: only that each measured figure is there and positive."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.engine import load_all

pytest.importorskip("torch")

SPEC = """\
[model]
name = "m"
family = "lstm"
layers = 2
d_model = 64
hidden = 64
vocab = 100

[train]
dtype = "fp32"

[budget]
device = "box"
"""


def test_calibrate_prints_a_project_device_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--quick", "--device-name", "box"]) == 0
    text = capsys.readouterr().out
    assert "[tool.archcheck.devices.box]" in text
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    (tmp_path / "m.archcheck.toml").write_text(SPEC, encoding="utf-8")
    (loaded,) = [s for s in load_all([str(tmp_path / "m.archcheck.toml")])[0] if s.spec]
    assert loaded.spec is not None and not loaded.problems
    dev = loaded.spec.project_devices["box"]
    assert dev.per_op and dev.bandwidth > 0 and dev.flops_for("fp32") > 0
    assert dev.op_overhead_s is not None and dev.op_overhead_s > 0
    assert dev.gemm_half_flops is not None and dev.gemm_half_flops >= 0
    if dev.llc_bytes is not None:
        assert dev.llc_bandwidth is not None and dev.llc_bandwidth > 0


def test_calibrate_output_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "devices.toml"
    out.write_text("keep\n", encoding="utf-8")
    assert main(["calibrate", "--quick", "-o", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "keep\n"
