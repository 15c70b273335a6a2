"""Bad Hugging Face configs stay clean: a wrong type, an absurd size, an inconsistent expert
count or a refused key is a finding at the key's line through `archcheck check`, never a
traceback or a number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_archcheck.cli import main


def _check(tmp_path: Path, cfg: dict[str, object], capsys: pytest.CaptureFixture[str]) -> list:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    rc = main(["check", str(path), "--format", "json", "--no-cache"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    return [(f["code"], f["line"], f["message"]) for f in out["findings"]]


def test_wrong_type_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = _check(tmp_path, {"model_type": "mixtral", "num_local_experts": "8"}, capsys)
    assert found == [("ARC302", 3, "`model.experts`: Input should be a valid integer (got '8')")]


def test_absurd_size_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """10^9-wide, 10^5-layer Llama: 10^5 · (4·h² + 3·h·f) = 7·10^23 parameters is a typo."""
    cfg = {"model_type": "llama", "hidden_size": 10**9, "num_hidden_layers": 10**5,
           "intermediate_size": 10**9, "num_attention_heads": 8}  # fmt: skip
    [(code, line, msg)] = _check(tmp_path, cfg, capsys)
    assert (code, line) == ("ARC304", 3) and "~10^23 parameters, over 10^15" in msg


def test_more_experts_per_token_than_experts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _check(tmp_path, {"model_type": "mixtral", "num_experts_per_tok": 9}, capsys)
    assert ("ARC304", 3, "experts_per_token 9 exceeds experts 8") in found


def test_refused_key_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = {"model_type": "qwen2_moe", "hidden_size": 64, "mlp_only_layers": [0, 1]}
    [(code, line, msg)] = _check(tmp_path, cfg, capsys)
    assert (code, line) == ("ARC302", 4)
    assert msg.startswith("Qwen2-MoE: `mlp_only_layers` = [0, 1] mixes dense and MoE blocks")


def test_unmodelled_architecture_refused_at_model_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = {"hidden_size": 512, "model_type": "deepseek_v2"}
    [(code, line, msg)] = _check(tmp_path, cfg, capsys)
    assert (code, line) == ("ARC302", 3) and "low-rank (MLA) attention" in msg
