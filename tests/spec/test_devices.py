"""Project-defined devices: `[tool.archcheck.devices.NAME]` in pyproject.toml.

A device is scoped to the project that defines it: a spec resolves `[budget] device` against
the built-in table and its own pyproject.toml only. Expected values are worked out from the
datasheet-style numbers written here, or compared with the built-in device they copy.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.engine import load_all
from pytest_archcheck.estimate import estimate
from pytest_archcheck.probe.isolate import _devices_from_json, _devices_json
from pytest_archcheck.units import UnitError, parse_bandwidth, parse_flops

# H100-80GB's row of the built-in table (formulas/devices.py), under another name
H100_CLONE = """\
[tool.archcheck.devices.Lab]
memory = "80 GiB"
bandwidth = "3.35 TB/s"
fp32 = "67 TFLOP/s"
tf32 = "494.7 TFLOP/s"
bf16 = "989.4 TFLOP/s"
fp16 = "989.4 TFLOP/s"
aliases = ["lab-gpu"]
"""
SLOW = """\
[tool.archcheck.devices.Lab]
memory = "8 GiB"
bandwidth = "100 GB/s"
fp32 = "1 TFLOP/s"
"""
SPEC = """\
[model]
name = "{name}"
layers = 12
d_model = 768
heads = 12
vocab = 50257
max_positions = 1024

[train]
seq_len = 1024
dtype = "bf16"

[budget]
device = "{device}"
"""


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def findings(capsys: pytest.CaptureFixture[str], *argv: str) -> list[tuple[str, str, int, str]]:
    run(["check", *argv, "--format", "json"])
    out = json.loads(capsys.readouterr().out)["findings"]
    return [(f["code"], f["path"], f["line"], f["message"]) for f in out]


def latency_ms(spec_path: Path) -> tuple[str, float]:
    (loaded,) = [s for s in load_all([str(spec_path)])[0] if s.spec is not None]
    assert loaded.spec is not None
    lat = estimate(loaded.spec).latency
    assert lat is not None
    return lat.device, lat.seconds * 1e3


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return tmp_path


# ---- units ---------------------------------------------------------------------------------


def test_rates_parse_as_vendors_write_them() -> None:
    assert parse_bandwidth("3.35 TB/s") == 3.35e12  # SI, as datasheets quote bandwidth
    assert parse_bandwidth("900 GiB/s") == 900 * 2**30 == 966_367_641_600
    assert parse_bandwidth(2e12) == 2e12  # a bare number is bytes/s
    assert parse_flops("989.4 TFLOP/s") == 989.4e12
    assert parse_flops("1.3 PFLOPS") == 1.3e15
    assert parse_flops("91.6 tflops") == 91.6e12


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (parse_bandwidth, "3 TB", "cannot read bandwidth '3 TB'"),
        (parse_bandwidth, "0 TB/s", "must be finite and positive"),
        (parse_bandwidth, "1e400 TB/s", "must be finite and positive"),
        (parse_bandwidth, True, "got bool"),
        (parse_flops, "989 TFLOP", "cannot read FLOP rate"),
        (parse_flops, "9 QFLOPS", "cannot read FLOP rate"),
        (parse_flops, -1, "finite positive number"),
    ],
)
def test_bad_rates_say_what_is_accepted(parse, value: object, message: str) -> None:
    with pytest.raises(UnitError, match=message):
        parse(value)


# ---- a project's own device ------------------------------------------------------------------


def test_a_copy_of_a_builtin_device_gives_the_same_estimate(here: Path) -> None:
    (here / "pyproject.toml").write_text(H100_CLONE, encoding="utf-8")
    (here / "lab.archcheck.toml").write_text(SPEC.format(name="l", device="lab-gpu"), "utf-8")
    (here / "h100.archcheck.toml").write_text(SPEC.format(name="h", device="H100"), "utf-8")
    lab_device, lab = latency_ms(here / "lab.archcheck.toml")
    h100_device, h100 = latency_ms(here / "h100.archcheck.toml")
    assert (lab_device, h100_device) == ("Lab", "H100-80GB")
    assert lab == h100 > 0


def test_project_default_device_may_be_a_project_device(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text(
        '[tool.archcheck]\ndevice = "Lab"\n\n' + H100_CLONE, encoding="utf-8"
    )
    (here / "m.archcheck.toml").write_text(
        SPEC.format(name="m", device="x").replace('device = "x"\n', ""), encoding="utf-8"
    )
    assert findings(capsys, ".") == []
    assert latency_ms(here / "m.archcheck.toml")[0] == "Lab"


def test_bad_device_tables_are_arc302_at_their_lines(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text(
        "[tool.archcheck.devices.Broken]\n"  # 1
        'memory = "lots"\n'  # 2
        'bandwidth = "3 TB"\n'  # 3
        'fp32 = "67 TFLOP/s"\n'  # 4
        "colour = 1\n"  # 5
        "\n"  # 6
        "[tool.archcheck.devices.H100]\n"  # 7  a built-in name
        'memory = "1 GiB"\n'
        'bandwidth = "1 TB/s"\n'
        'fp32 = "1 TFLOP/s"\n'
        "\n"  # 11
        "[tool.archcheck.devices.Twin]\n"  # 12  alias of an earlier device
        'memory = "1 GiB"\n'
        'bandwidth = "1 TB/s"\n'
        'fp32 = "1 TFLOP/s"\n'
        "\n"  # 16
        "[tool.archcheck.devices.First]\n"  # 17
        'memory = "1 GiB"\n'
        'bandwidth = "1 TB/s"\n'
        'fp32 = "1 TFLOP/s"\n'
        'aliases = ["twin"]\n',
        encoding="utf-8",
    )
    got = [(c, ln, m) for c, _, ln, m in findings(capsys, "pyproject.toml")]
    assert got == [
        ("ARC302", 2, "`tool.archcheck.devices.Broken.memory`: cannot read size 'lots'; "
                      "write e.g. '24 GiB' or '300 MB'"),
        ("ARC302", 3, "`tool.archcheck.devices.Broken.bandwidth`: cannot read bandwidth "
                      "'3 TB'; write e.g. '3.35 TB/s' or '900 GB/s'"),
        ("ARC302", 5, "`tool.archcheck.devices.Broken.colour`: Extra inputs are not permitted"),
        ("ARC302", 7, "`tool.archcheck.devices.H100`: 'H100' is a built-in device (H100-80GB); "
                      "choose another name"),
        ("ARC302", 17, "`tool.archcheck.devices.First`: 'twin' already names device 'Twin'"),
    ]  # fmt: skip


def test_each_project_resolves_names_against_its_own_devices_only(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two projects call different cards "Lab": no conflict, each spec gets its own, and a
    third project cannot use either. Checking one project alone reports what checking all of
    them reports for it (the cache keys a spec's result on its own pyproject.toml)."""
    for sub, table in (("fast", H100_CLONE), ("slow", SLOW), ("none", "")):
        (here / sub).mkdir()
        (here / sub / "pyproject.toml").write_text(table or "[project]\n", encoding="utf-8")
        (here / sub / "m.archcheck.toml").write_text(SPEC.format(name=sub, device="Lab"), "utf-8")
    fast = latency_ms(here / "fast" / "m.archcheck.toml")
    slow = latency_ms(here / "slow" / "m.archcheck.toml")
    assert fast[0] == slow[0] == "Lab"
    assert slow[1] > 10 * fast[1]  # 100 GB/s and 1 TFLOP/s against 3.35 TB/s and 989 TFLOP/s
    together = findings(capsys, ".", "--no-cache")
    assert [(c, p, ln) for c, p, ln, _ in together] == [("ARC302", "none/m.archcheck.toml", 14)]
    assert "unknown device 'Lab'" in together[0][3]
    assert "[tool.archcheck.devices]" in together[0][3]
    for sub in ("fast", "slow", "none"):
        alone = findings(capsys, sub, "--no-cache")
        assert alone == [f for f in together if f[1].startswith(f"{sub}/")]


def test_editing_a_device_invalidates_cached_results(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GPT-2 small's [infer] call is ~0.4 ms on the H100 figures; a 1 ms budget is met by the
    estimate there (undecided, ARC107: eager layers cost ~0.5 ms each on a GPU) and missed on
    a card with 100 GB/s and 1 TFLOP/s (ARC103): the cached result follows the edit."""
    (here / "pyproject.toml").write_text(H100_CLONE, encoding="utf-8")
    spec = SPEC.format(name="m", device="Lab") + 'p95_latency = "1 ms"\n'
    (here / "m.archcheck.toml").write_text(spec, encoding="utf-8")
    assert [c for c, _, _, _ in findings(capsys, ".")] == ["ARC107"]
    (here / "pyproject.toml").write_text(SLOW, encoding="utf-8")
    assert [c for c, _, _, _ in findings(capsys, ".")] == ["ARC103"]


def test_isolated_probe_child_receives_the_project_devices(here: Path) -> None:
    (here / "pyproject.toml").write_text(H100_CLONE, encoding="utf-8")
    (here / "m.archcheck.toml").write_text(SPEC.format(name="m", device="lab-gpu"), "utf-8")
    (loaded,) = [s for s in load_all(["m.archcheck.toml"])[0] if s.spec is not None]
    assert loaded.spec is not None
    sent = json.loads(json.dumps({"devices": _devices_json(loaded.spec)}))
    assert _devices_from_json(sent) == loaded.spec.project_devices
    assert set(loaded.spec.project_devices) == {"Lab"}


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs torch")
def test_probe_of_a_spec_on_a_project_device(here: Path) -> None:
    """`check --probe` rebuilds the spec in a child interpreter: it must know the device."""
    (here / "pyproject.toml").write_text(H100_CLONE, encoding="utf-8")
    small = SPEC.format(name="m", device="Lab").replace("layers = 12", "layers = 1")
    small = small.replace("d_model = 768", "d_model = 64").replace("heads = 12", "heads = 2")
    small = small.replace("vocab = 50257", "vocab = 100").replace("seq_len = 1024", "seq_len = 32")
    (here / "m.archcheck.toml").write_text(small, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_archcheck", "check", ".", "--probe", "--device", "fake",
         "--format", "concise"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All checks passed!" in proc.stdout


def test_advise_knows_the_devices_of_the_project_it_runs_in(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "pyproject.toml").write_text(H100_CLONE, encoding="utf-8")
    argv = ["advise", "--span", "512", "--n", "4096", "--memory", "24 GiB", "--latency", "50 ms"]
    outs = []
    for device in ("lab-gpu", "H100-80GB"):
        assert run([*argv, "--device", device, "--format", "json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    lab, h100 = outs
    assert (lab.pop("device"), h100.pop("device")) == ("Lab", "H100-80GB")
    assert lab["rnn_latency_s"] > 0  # the device's rates decide the latency figures
    assert lab == h100
    (here / "pyproject.toml").unlink()  # elsewhere the name means nothing
    assert run([*argv, "--device", "lab-gpu"]) == 2
    assert "unknown device 'lab-gpu'" in capsys.readouterr().err


def test_per_op_keys_reach_the_device_and_the_probe_child(here: Path) -> None:
    """The per-op latency keys (`latency.op`) parse with their units and travel to the
    isolated probe child like the other fields."""
    (here / "pyproject.toml").write_text(
        SLOW + 'op-overhead = "1.5 us"\ngemm-half-flops = 2e7\ngemm-half-rows = 28\n'
        'llc = "32 MiB"\nllc-bandwidth = "80 GB/s"\n',
        encoding="utf-8",
    )
    (here / "m.archcheck.toml").write_text(SPEC.format(name="m", device="Lab"), "utf-8")
    (loaded,) = [s for s in load_all([str(here / "m.archcheck.toml")])[0] if s.spec is not None]
    assert loaded.spec is not None
    dev = loaded.spec.project_devices["Lab"]
    assert dev.op_overhead_s == pytest.approx(1.5e-6) and dev.gemm_half_flops == 2e7
    assert dev.gemm_half_rows == 28
    assert dev.llc_bytes == 32 * 2**20 and dev.llc_bandwidth == pytest.approx(80e9)
    assert dev.per_op
    back = _devices_from_json({"devices": json.loads(json.dumps(_devices_json(loaded.spec)))})
    assert back["Lab"] == dev


def test_a_bad_per_op_key_is_arc302(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "pyproject.toml").write_text(SLOW + 'llc-bandwidth = "fast"\n', encoding="utf-8")
    (here / "m.archcheck.toml").write_text(SPEC.format(name="m", device="H100"), "utf-8")
    got = findings(capsys, str(here))
    assert any(c == "ARC302" and "llc-bandwidth" in msg for c, _, _, msg in got), got
