"""YAML recipes: spec-shaped tables or a `model:` block with HF-like keys, safely loaded."""

from __future__ import annotations

from pathlib import Path

from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.rules.load import findings_of

from .support import load


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_spec_shaped_yaml_with_lines(tmp_path: Path) -> None:
    loaded = load(
        _write(
            tmp_path,
            "model:\n  name: tiny\n  layers: 2\n  d_model: 64\n  heads: 4\n  vocab: 100\n"
            "train:\n  batch: 4\n  seq_len: 128\nbudget:\n  max_n: 128\n  memory: 1 GiB\n",
        )
    )
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    assert (loaded.name, loaded.spec.budget.memory) == ("tiny", 1024**3)
    assert loaded.line_of(("budget", "memory")) == 12


def test_unknown_key_in_yaml_is_arc301_at_its_line(tmp_path: Path) -> None:
    loaded = load(_write(tmp_path, "model:\n  layers: 2\n  d_modle: 64\n"))
    [f] = findings_of(loaded)
    assert (f.code, f.line) == ("ARC301", 3)
    assert "d_model" in f.message


def test_hf_like_model_block(tmp_path: Path) -> None:
    loaded = load(
        _write(
            tmp_path,
            "seed: 1\nmodel:\n  model_type: gpt2\n  n_embd: 768\n  n_layer: 12\n  n_head: 12\n"
            "  vocab_size: 50257\n  n_positions: 1024\ntrain:\n  batch: 8\n",
        )
    )
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    assert params_from_spec(loaded.spec) == 124_439_808
    assert loaded.spec.train.batch == 8
    assert loaded.line_of(("model", "layers")) == 5


def test_nanogpt_style_block_without_model_type(tmp_path: Path) -> None:
    loaded = load(_write(tmp_path, "model:\n  n_layer: 4\n  n_head: 4\n  n_embd: 128\n"))
    assert loaded.spec is not None
    assert (loaded.spec.model.layers, loaded.spec.model.d_model) == (4, 128)


def test_malformed_yaml_is_arc306_with_line(tmp_path: Path) -> None:
    [f] = findings_of(load(_write(tmp_path, "model:\n  layers: 2\n  d_model: [64\nbudget: {}\n")))
    assert f.code == "ARC306"
    assert f.line == 4


def test_yaml_tags_are_not_constructed(tmp_path: Path) -> None:
    text = "model: !!python/object/apply:os.system ['echo pwned']\n"
    [f] = findings_of(load(_write(tmp_path, text)))
    assert f.code == "ARC306"
