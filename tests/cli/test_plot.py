"""`archcheck plot`: the n_max marker sits where `estimate` puts n_max (read back from the SVG's
own axis), the stacked parts add up to the peak at every n, and bad arguments are usage errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_archcheck.cli import main

ROOT = Path(__file__).resolve().parents[2]
GPT = ROOT / "examples" / "gpt-small" / "gpt-small.archcheck.toml"
SVG = "{http://www.w3.org/2000/svg}"


def _estimate_n_max(capsys: pytest.CaptureFixture[str]) -> int:
    assert main(["estimate", str(GPT), "--format", "json"]) == 0
    return int(json.loads(capsys.readouterr().out)["models"][0]["n_max"])


def _groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g")}


def test_svg_marks_n_max_where_estimate_puts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    n_max = _estimate_n_max(capsys)
    out = tmp_path / "mem.svg"
    assert main(["plot", str(GPT), "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    groups = _groups(root)
    # the x axis is log2: read the pixel positions of its first two ticks and their exponents
    ticks = []
    for i in (1, 2):
        g = groups[f"xtick_{i}"]
        x = float(next(u for u in g.iter(f"{SVG}use")).get("x"))  # type: ignore[arg-type]
        # the label 2^k is a text with tspans "2" and "k" (svg.fonttype none)
        parts = [c.text or "" for t in g.iter(f"{SVG}text") for c in t.iter(f"{SVG}tspan")]
        ticks.append((x, int(parts[-1])))
    (x0, e0), (x1, e1) = ticks
    line = next(p for p in groups["n_max"].iter(f"{SVG}path"))
    x = float(line.get("d", "").split()[1])
    shown = 2 ** (e0 + (x - x0) / (x1 - x0) * (e1 - e0))
    assert shown == pytest.approx(n_max, rel=0.001)
    assert f"n_max {n_max:,}" in out.read_text(encoding="utf-8")
    assert "budget 24.00 GiB" in out.read_text(encoding="utf-8")


def test_the_parts_add_up_at_every_n(capsys: pytest.CaptureFixture[str]) -> None:
    n_max = _estimate_n_max(capsys)
    assert main(["plot", str(GPT), "--format", "json"]) == 0
    (d,) = json.loads(capsys.readouterr().out)["models"]
    assert d["n_max"] == n_max and n_max in d["n"]
    for i, total in enumerate(d["total"]):
        assert sum(v[i] for v in d["parts"].values()) == total
    fits = [n for n, t in zip(d["n"], d["total"], strict=True) if t <= d["memory_budget"]]
    assert max(fits) == n_max  # the curve crosses the budget exactly at n_max
    assert d["latency"]["budget_ms"] == pytest.approx(200.0)


def test_terminal_chart_without_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(GPT)]) == 0
    out = capsys.readouterr().out
    assert "over budget" in out and "n_max" in out and "█" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["-o", "mem.txt"], "must end in .svg or .png"), (["--batch", "0"], "at least 1")],
)
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", str(GPT), *argv]) == 2
    assert message in capsys.readouterr().err


def test_png_is_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert main(["plot", str(GPT), "-o", str(tmp_path / "mem.png")]) == 0
    assert (tmp_path / "mem.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
