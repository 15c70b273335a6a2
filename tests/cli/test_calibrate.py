"""`archcheck calibrate`: its table parses as a project device that switches on the per-op
latency model. No timed assertion: only that each measured figure is there and positive."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_archcheck.calibrate import table
from pytest_archcheck.cli import main
from pytest_archcheck.engine import load_all

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


def test_a_table_with_an_llc_parses_to_those_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The formatting alone (no timing): the printed units read back as the rates given."""
    monkeypatch.chdir(tmp_path)
    rates = {
        "fp32": 153.2e9, "bandwidth": 51.8e9, "op_overhead_s": 1.49e-6,
        "gemm_half_flops": 2.5e7, "gemm_half_rows": 28.46, "llc_bytes": 16 * 2**20,
        "llc_bandwidth": 80.4e9, "conv_start_s": 95.04e-6, "conv_flops": 175.3e9,
        "torch": "x", "threads": 2,
    }  # fmt: skip
    text = table("box", rates, 32 * 2**20, 64 * 2**30)
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    (tmp_path / "m.archcheck.toml").write_text(SPEC, encoding="utf-8")
    (loaded,) = [s for s in load_all([str(tmp_path / "m.archcheck.toml")])[0] if s.spec]
    assert loaded.spec is not None
    dev = loaded.spec.project_devices["box"]
    assert dev.memory_bytes == 64 * 2**30 and dev.llc_bytes == 16 * 2**20
    assert dev.bandwidth == pytest.approx(51.8e9) and dev.flops_for("fp32") == pytest.approx(
        153.2e9
    )
    assert dev.llc_bandwidth == pytest.approx(80.4e9) and dev.gemm_half_flops == 2.5e7
    assert dev.op_overhead_s == pytest.approx(1.49e-6) and dev.gemm_half_rows == 28.5
    assert dev.conv_start_s == pytest.approx(95.0e-6) and dev.conv_flops == pytest.approx(175.3e9)


def test_calibrate_prints_a_project_device_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
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
    assert dev.gemm_half_rows is not None and dev.gemm_half_rows >= 0
    if dev.llc_bytes is not None:
        assert dev.llc_bandwidth is not None and dev.llc_bandwidth > 0
    assert dev.conv_start_s is not None and dev.conv_start_s >= 0
    assert dev.conv_flops is not None and dev.conv_flops > 0


def test_calibrate_output_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "devices.toml"
    out.write_text("keep\n", encoding="utf-8")
    assert main(["calibrate", "--quick", "-o", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "keep\n"
