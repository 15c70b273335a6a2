"""`archcheck advise SPEC --baseline`: light TCN and LSTM specs for the same task, valid and
checkable, whose reach is worked out here by hand, and never written over a user's file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.engine import check_paths
from pytest_archcheck.spec.load import load_spec_text

ROOT = Path(__file__).resolve().parents[2]

ENCODER = """\
[model]
name = "enc"
family = "transformer"
causal = false
layers = 4
d_model = 128
heads = 4
vocab = 1000
max_positions = 1024

[train]
batch = 4
seq_len = 1024

[budget]
span = {span}
memory = "8 GiB"
"""


def _gpt(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "examples" / "gpt-small" / "gpt-small.archcheck.toml", tmp_path)
    return tmp_path / "gpt-small.archcheck.toml"


def test_causal_baselines_cover_the_span(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _gpt(tmp_path)
    assert main(["advise", str(spec), "--baseline", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    names = [c["name"] for c in doc["candidates"]]
    assert names == ["gpt-small", "gpt-small-tcn-baseline", "gpt-small-lstm-baseline"]
    tcn = load_spec_text((tmp_path / "gpt-small-tcn-baseline.archcheck.toml").read_text(), "t").spec
    assert tcn is not None and tcn.model.family == "tcn" and tcn.model.padding == "causal"
    # span 512, kernel 3, causal: reach (3−1)·(2^L − 1) ≥ 512 first holds at L = 9 (1,022;
    # L = 8 gives 510)
    assert tcn.model.dilations == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    assert doc["candidates"][1]["reach"] == 1022 and doc["candidates"][1]["covers"] is True
    lstm = load_spec_text(
        (tmp_path / "gpt-small-lstm-baseline.archcheck.toml").read_text(), "l"
    ).spec
    assert lstm is not None and lstm.train.bptt == 512 and lstm.model.hidden == 256
    # same task: vocabulary, batch, n, device and budget carried over
    for s in (tcn, lstm):
        assert (s.model.vocab, s.train.batch, s.train.seq_len) == (50257, 8, 1024)
        assert s.budget.device == "H100-80GB" and s.budget.memory == 24 * 2**30
    # both are cheaper than the model, and both check clean
    own, *bases = doc["candidates"]
    assert all(b["params"] < own["params"] and b["peak"] < own["peak"] for b in bases)
    written = [str(p) for p in tmp_path.glob("*-baseline.archcheck.toml")]
    assert check_paths(written, pyprojects=False).findings == []


def test_non_causal_task_gets_a_centred_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "enc.archcheck.toml").write_text(ENCODER.format(span=300), encoding="utf-8")
    assert (
        main(["advise", str(tmp_path / "enc.archcheck.toml"), "--baseline", "--format", "json"])
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    tcn = load_spec_text((tmp_path / "enc-tcn-baseline.archcheck.toml").read_text(), "t").spec
    assert tcn is not None and tcn.model.family == "cnn" and tcn.model.padding == "same"
    # centred kernel 3 reaches 1·dilation each way: 2^L − 1 ≥ 300 first at L = 9 (511)
    assert len(tcn.model.dilations or []) == 9
    assert doc["candidates"][1]["reach"] == 511
    lstm = load_spec_text((tmp_path / "enc-lstm-baseline.archcheck.toml").read_text(), "l").spec
    assert lstm is not None and lstm.model.bidirectional is True


def test_existing_files_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _gpt(tmp_path)
    mine = tmp_path / "gpt-small-tcn-baseline.archcheck.toml"
    mine.write_text("# mine\n", encoding="utf-8")
    assert main(["advise", str(spec), "--baseline"]) == 2
    assert "exists (use --force" in capsys.readouterr().err
    assert mine.read_text() == "# mine\n"
    assert main(["advise", str(spec), "--baseline", "--force"]) == 0
    assert "gpt-small-tcn-baseline" in mine.read_text()


def test_advise_reads_span_n_and_memory_from_a_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _gpt(tmp_path)
    assert main(["advise", str(spec), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["span"], doc["n"], doc["memory_bytes"]) == (512, 1024, 24 * 2**30)
    assert main(["advise", "--baseline"]) == 2
    assert "--baseline needs a SPEC" in capsys.readouterr().err
    assert main(["advise", "--span", "10"]) == 2
    assert "--n, --memory needed" in capsys.readouterr().err
