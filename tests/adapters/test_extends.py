"""`[model] extends`: a spec on top of an adapted config; the spec's own values win."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytest_archcheck.engine import check_paths
from pytest_archcheck.formulas.params import params_from_spec

from .support import DATA, load


def _project(tmp_path: Path, spec: str, config: str = "gpt2") -> Path:
    shutil.copy(DATA / config / "config.json", tmp_path / "config.json")
    path = tmp_path / "m.archcheck.toml"
    path.write_text(spec, encoding="utf-8")
    return path


def test_spec_values_override_the_config(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        '[model]\nextends = "config.json"\nlayers = 6\n\n[train]\nbatch = 4\nseq_len = 512\n'
        "dropout = 0.0\n",
    )
    loaded = load(path)
    assert loaded.findings == []
    assert loaded.spec is not None
    m = loaded.spec.model
    assert (m.layers, m.d_model, m.vocab, m.name) == (6, 768, 50257, "m")
    assert (loaded.spec.train.batch, loaded.spec.train.dropout) == (4, 0.0)
    d = 768
    layer = 4 * d * d + 4 * d + 2 * d * 4 * d + 4 * d + d + 4 * d
    assert params_from_spec(loaded.spec) == 50257 * d + 1024 * d + 6 * layer + 2 * d


def test_inherited_key_findings_point_at_extends(tmp_path: Path) -> None:
    # GPT-2's table has 1024 rows; max_n 2048 needs more: ARC202 blames max_positions, which
    # the spec inherits, so the finding sits on the `extends` line
    path = _project(tmp_path, '# gpt-2\n[model]\nextends = "config.json"\n[budget]\nmax_n = 2048\n')
    result = check_paths([str(path)], select=["ARC202"])
    [f] = result.findings
    assert (f.code, f.line) == ("ARC202", 3)


def test_missing_target_is_arc302(tmp_path: Path) -> None:
    path = tmp_path / "m.archcheck.toml"
    path.write_text('[model]\nlayers = 2\nextends = "nope.json"\n', encoding="utf-8")
    [f] = load(path).findings
    assert (f.code, f.line) == ("ARC302", 3)
    assert "nope.json" in f.message


def test_problem_inside_target_is_reported_there(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{\n  "model_type": "bloom"\n}\n', encoding="utf-8")
    path = tmp_path / "m.archcheck.toml"
    path.write_text('[model]\nextends = "config.json"\n', encoding="utf-8")
    [f] = load(path).findings
    assert (f.code, f.line, Path(f.path).name) == ("ARC302", 2, "config.json")


def test_extends_a_dataclass_by_name(tmp_path: Path) -> None:
    shutil.copy(DATA / "nanogpt" / "model.py", tmp_path / "model.py")
    path = tmp_path / "m.archcheck.toml"
    path.write_text('[model]\nextends = "model.py:GPTConfig"\nbias = "none"\n', encoding="utf-8")
    spec = load(path).spec
    assert spec is not None
    assert (spec.model.vocab, spec.model.bias) == (50304, "none")


def test_pyproject_inline_entry_extends(tmp_path: Path) -> None:
    from pytest_archcheck.spec.load import load_pyproject

    shutil.copy(DATA / "llama-2-7b" / "config.json", tmp_path / "config.json")
    text = (
        '[[tool.archcheck.model]]\nname = "llama"\nextends = "config.json"\nlayers = 2\n'
        "[tool.archcheck.model.train]\nbatch = 2\n"
    )
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    _, [loaded], findings = load_pyproject(text, str(tmp_path / "pyproject.toml"))
    assert findings == [] and loaded.findings == []
    assert loaded.spec is not None
    m = loaded.spec.model
    assert (m.name, m.layers, m.d_model, m.mlp, loaded.spec.train.batch) == (
        "llama", 2, 4096, "swiglu", 2,
    )  # fmt: skip
