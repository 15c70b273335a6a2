"""A conv stack whose valid/strided convolutions leave no output position at the spec's n is
refused (ARC304 at the key), by `check` and by `estimate`, instead of estimated: the probe
cannot run it, so any figure would be a silent wrong number."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_archcheck.cli import main
from pytest_archcheck.engine import check_paths

SPEC = """\
[model]
family = "cnn"
input = "embeddings"
layers = 3
d_model = 8
kernel = 9
strides = [4, 4, 4]
padding = "{padding}"
channels = 8

[train]
seq_len = {n}
"""


@pytest.mark.parametrize(
    ("padding", "n", "refused"),
    [
        # valid, k 9, stride 4: 64 -> (64-9)//4+1 = 14 -> (14-9)//4+1 = 2 -> 2 < 9: nothing
        ("valid", 64, True),
        # 256 -> 62 -> 14 -> 2: one position left
        ("valid", 256, False),
        # same padding keeps ceil(n/4) positions per layer: 64 -> 16 -> 4 -> 1
        ("same", 64, False),
    ],
)
def test_no_output_position_is_arc304(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], padding: str, n: int, refused: bool
) -> None:
    path = tmp_path / "c.archcheck.toml"
    path.write_text(SPEC.format(padding=padding, n=n), encoding="utf-8")
    found = [f for f in check_paths([str(path)], pyprojects=False).findings if f.code == "ARC304"]
    assert bool(found) is refused
    try:
        rc = main(["estimate", str(path), "--format", "json"])
    except SystemExit as exc:  # the CLI's exit after printing the spec's findings
        rc = int(exc.code or 0)
    out = capsys.readouterr()
    if refused:
        assert found[0].line == 8 and f"no output position at n = {n}" in found[0].message
        assert rc == 2 and "ARC304" in out.err and out.out == ""
    else:
        assert rc == 0
