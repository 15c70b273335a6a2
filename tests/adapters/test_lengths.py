"""Sequence-length data for ARC208/ARC212: readers, statistics and the batching simulation.

The distribution is long-tailed: 900 sequences of 16 tokens, 90 of 512, 10 of 2048.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_archcheck.engine import check_paths
from pytest_archcheck.lengths import Lengths, LengthsError, padding_report, read_lengths

LONG_TAIL = [16] * 900 + [512] * 90 + [2048] * 10
REAL = 900 * 16 + 90 * 512 + 10 * 2048  # 14,400 + 46,080 + 20,480 = 80,960 tokens


def test_statistics_by_hand() -> None:
    lengths = Lengths.from_list(LONG_TAIL)
    assert (lengths.n, lengths.total, lengths.mean) == (1000, REAL, 80.96)
    # nearest rank: the 500th and the 900th sorted lengths are both 16, the 950th is 512
    assert (lengths.percentile(50), lengths.percentile(90), lengths.percentile(95)) == (16, 16, 512)
    assert lengths.max == 2048


def test_padding_and_bucketing_by_hand() -> None:
    r = padding_report(Lengths.from_list(LONG_TAIL), max_n=2048, batch=8, flops_per_pair=1)
    # pad everything to max_n: 1 - 80.96/2048
    assert r.pad_to_max_n == pytest.approx(1 - 80.96 / 2048)
    assert r.pad_to_max_n == pytest.approx(0.96046875)
    # bucketing, batches of 8 over the sorted lengths:
    #   112 batches of 16 (896 sequences)                       -> 112*8*16   = 14,336 tokens
    #   4 x 16 + 4 x 512 -> padded to 512                        ->   8*512    =  4,096
    #   10 batches of 512 (80 sequences)                         ->  10*8*512  = 40,960
    #   6 x 512 + 2 x 2048 -> padded to 2048                     ->   8*2048   = 16,384
    #   8 x 2048                                                 ->   8*2048   = 16,384
    padded = 14_336 + 4_096 + 40_960 + 16_384 + 16_384
    assert padded == 92_160
    assert r.bucketed == pytest.approx(1 - REAL / padded)
    assert r.bucketed == pytest.approx(11_200 / 92_160)
    # attention cost Σ B·L² of the same batches
    pairs = 112 * 8 * 16**2 + 8 * 512**2 + 10 * 8 * 512**2 + 2 * 8 * 2048**2
    assert pairs == 90_406_912
    assert r.attention_bucketed == pairs
    # random batches lie between bucketing and padding everything to max_n
    assert r.bucketed < r.random_batches < r.pad_to_max_n
    assert r.attention_bucketed < r.attention_random <= 125 * 8 * 2048**2
    assert r.attention_flops_saved == r.attention_random - pairs
    assert (r.p50, r.p90, r.max) == (16, 16, 2048)


def test_random_batches_degenerate_cases() -> None:
    lengths = Lengths.from_list(LONG_TAIL)
    one = padding_report(lengths, max_n=2048, batch=1)
    assert one.random_batches == 0.0 and one.bucketed == 0.0  # a batch of one pads nothing
    everything = padding_report(lengths, max_n=2048, batch=1000)
    assert everything.random_batches == pytest.approx(1 - REAL / (1000 * 2048))
    assert everything.attention_random == everything.attention_bucketed == 1000 * 2048**2
    assert everything.attention_saving == 0.0


def test_longer_than_max_n_counts_as_truncated() -> None:
    r = padding_report(Lengths.from_list([100, 300]), max_n=200, batch=2)
    assert r.pad_to_max_n == pytest.approx(1 - (100 + 200) / 400)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("l.json", json.dumps(LONG_TAIL)),
        ("l.json", json.dumps({"lengths": LONG_TAIL})),
        ("l.json", json.dumps({"histogram": {"16": 900, "512": 90, "2048": 10}})),
        ("l.csv", "length\n" + "\n".join(map(str, LONG_TAIL)) + "\n"),
        ("l.csv", "\n".join(map(str, LONG_TAIL))),
    ],
)
def test_readers(tmp_path: Path, name: str, content: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    lengths = read_lengths(name, tmp_path)
    assert (lengths.n, lengths.total) == (1000, REAL)


def test_npy_plain_and_pickled(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "l.npy", np.array(LONG_TAIL, dtype=np.int32))
    assert read_lengths("l.npy", tmp_path).total == REAL
    np.save(tmp_path / "obj.npy", np.array([16, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(LengthsError, match="not a plain numeric array"):
        read_lengths("obj.npy", tmp_path)


def test_bad_data_and_callables(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"lengths": [16, -1]}', encoding="utf-8")
    with pytest.raises(LengthsError, match="positive integers"):
        read_lengths("bad.json", tmp_path)
    with pytest.raises(LengthsError, match="not found"):
        read_lengths("missing.json", tmp_path)
    with pytest.raises(LengthsError, match="not evaluated") as exc:
        read_lengths("mypkg.data:lengths", tmp_path)
    assert exc.value.not_evaluated
    (tmp_path / "lenmod_for_test.py").write_text("def get():\n    return [3, 5]\n")
    got = read_lengths("lenmod_for_test:get", tmp_path, tmp_path, evaluate_callables=True)
    assert got.total == 8


def _spec(tmp_path: Path, lengths: str, budget: str) -> Path:
    path = tmp_path / "m.archcheck.toml"
    path.write_text(
        "[model]\nlayers = 2\nd_model = 64\nheads = 4\nvocab = 100\nmax_positions = 4096\n"
        f"[train]\nbatch = 8\n[budget]\n{budget}\n[data]\nlengths = {lengths}\n",
        encoding="utf-8",
    )
    return path


def test_arc208_from_a_lengths_file(tmp_path: Path) -> None:
    (tmp_path / "lengths.json").write_text(json.dumps(LONG_TAIL), encoding="utf-8")
    path = _spec(tmp_path, '"lengths.json"', "max_n = 2048\nmax_padding = 0.5")
    [f] = check_paths([str(path)], select=["ARC208", "ARC212"]).findings
    assert f.code == "ARC208"
    assert f.line == 11  # max_padding
    assert f.data["padding_ratio"] == pytest.approx(0.96046875)
    assert f.data["bucketed"] == pytest.approx(11_200 / 92_160)
    # 4 FLOPs per query-key pair per head dim (QK^T and AV), 4 heads of 16, 2 layers
    assert f.data["attention_flops_saved"] == (f.data["attention_random"] - 90_406_912) * 4 * 64 * 2
    assert "P90 16" in f.message and "bucketing: 12%" in f.message


def test_arc212_from_a_lengths_file(tmp_path: Path) -> None:
    (tmp_path / "l.csv").write_text("\n".join(["100"] * 80 + ["1000"] * 20), encoding="utf-8")
    path = _spec(tmp_path, '"l.csv"', "max_n = 512")
    [f] = check_paths([str(path)], select=["ARC208", "ARC212"]).findings
    assert f.code == "ARC212"
    assert f.data == {"p90": 1000, "max_n": 512}  # the 90th of 100 sorted lengths is 1000
    assert "3.8×" in f.message  # (1000/512)² = 3.81


def test_static_mode_reports_an_unevaluated_callable(tmp_path: Path) -> None:
    path = _spec(tmp_path, '"mypkg.data:lengths"', "max_n = 512\nmax_padding = 0.5")
    [f] = check_paths([str(path)], select=["ARC208", "ARC212"]).findings
    assert f.code == "ARC208" and "not evaluated" in f.message
    assert f.line == 13  # data.lengths
