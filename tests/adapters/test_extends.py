"""`[model] extends`: a spec on top of an adapted config; the spec's own values win."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytest_archcheck.engine import check_paths
from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.rules.load import findings_of

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
    assert findings_of(loaded) == []
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
    [f] = findings_of(load(path))
    assert (f.code, f.line) == ("ARC302", 3)
    assert "nope.json" in f.message


def test_problem_inside_target_is_reported_there(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{\n  "model_type": "mamba"\n}\n', encoding="utf-8")
    path = tmp_path / "m.archcheck.toml"
    path.write_text('[model]\nextends = "config.json"\n', encoding="utf-8")
    [f] = findings_of(load(path))
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
    assert findings == [] and findings_of(loaded) == []
    assert loaded.spec is not None
    m = loaded.spec.model
    assert (m.name, m.layers, m.d_model, m.mlp, loaded.spec.train.batch) == (
        "llama", 2, 4096, "swiglu", 2,
    )  # fmt: skip


# ---- chains: a spec extends a base spec that extends a config ----------------------------------

TINY_GPT2 = (
    '{\n  "model_type": "gpt2",\n  "n_layer": 2,\n  "n_embd": 64,\n  "n_head": 4,\n'
    '  "vocab_size": 100,\n  "n_positions": 64\n}\n'
)  # n_positions on line 7


def _chain(tmp_path: Path, base_extra: str = "", spec_extra: str = "") -> Path:
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(TINY_GPT2, encoding="utf-8")
    (tmp_path / "bases").mkdir()
    (tmp_path / "bases" / "base.toml").write_text(
        '# a base spec\n[model]\nextends = "../hf/config.json"\n' + base_extra, encoding="utf-8"
    )  # relative to bases/, the file that names it
    path = tmp_path / "m.archcheck.toml"
    path.write_text('[model]\nextends = "bases/base.toml"\n' + spec_extra, encoding="utf-8")
    return path


def test_a_chain_of_extends_is_followed(tmp_path: Path) -> None:
    path = _chain(tmp_path, base_extra="layers = 3\n", spec_extra="vocab = 200\n")
    loaded = load(path)
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    m = loaded.spec.model
    # d_model and heads from config.json, layers from the base, vocab from the spec
    assert (m.d_model, m.heads, m.layers, m.vocab, m.max_positions) == (64, 4, 3, 200, 64)


def test_findings_name_the_file_each_inherited_key_comes_from(tmp_path: Path) -> None:
    path = _chain(tmp_path, base_extra="heads = 5\n", spec_extra="\n[budget]\nmax_n = 128\n")
    findings = check_paths([str(path)], select=["ARC202", "ARC304"]).findings
    got = sorted((f.code, f.line, f.message.rsplit("(", 1)[-1]) for f in findings)
    base = (tmp_path / "bases" / "base.toml").as_posix()
    config = (tmp_path / "hf" / "config.json").as_posix()  # not bases/../hf/config.json
    assert got == [
        # 64 rows from config.json line 7, n = 128: both on the spec's `extends` line (2)
        ("ARC202", 2, f"`model.max_positions` from {config}:7)"),
        # heads = 5 written in the base (line 4) does not divide config.json's 64
        ("ARC304", 2, f"`model.heads` from {base}:4)"),
    ]


def test_extends_cycles_and_overlong_chains_are_arc302(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('[model]\nextends = "b.toml"\n', encoding="utf-8")
    (tmp_path / "b.toml").write_text('[model]\nextends = "a.toml"\n', encoding="utf-8")
    path = tmp_path / "m.archcheck.toml"
    path.write_text('[model]\nlayers = 2\nextends = "a.toml"\n', encoding="utf-8")
    cycle = [f for f in findings_of(load(path)) if f.code == "ARC302"]
    assert [(f.line, f.message.split(": ", 1)[-1].split(": ")[-1]) for f in cycle] == [
        (3, "a.toml -> b.toml -> a.toml")
    ]
    assert "'a.toml' (in " in cycle[0].message and "extends itself" in cycle[0].message
    for i in range(10):  # l0 -> l1 -> ... -> l9: ten files, two more than allowed
        nxt = f'extends = "l{i + 1}.toml"\n' if i < 9 else "d_model = 64\n"
        (tmp_path / f"l{i}.toml").write_text(f"[model]\n{nxt}", encoding="utf-8")
    path.write_text('[model]\nextends = "l0.toml"\n', encoding="utf-8")
    deep = [f for f in findings_of(load(path)) if f.code == "ARC302"]
    assert len(deep) == 1 and "is more than 8 files deep" in deep[0].message
