"""Python config classes read by parsing: nanoGPT, litgpt, llama2.c / Llama ModelArgs."""

from __future__ import annotations

from pathlib import Path

from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.rules.load import findings_of

from .support import DATA, load

RAISES_ON_IMPORT = """\
raise RuntimeError("importing this module is a bug: archcheck must only parse it")

from dataclasses import dataclass


@dataclass
class ModelArgs:
    dim: int = 288
    n_layers: int = 6
    n_heads: int = 6
    n_kv_heads: int = None
    vocab_size: int = 32000
    hidden_dim: int = None
    multiple_of: int = 32
    norm_eps: float = 1e-5
    max_seq_len: int = 256
    dropout: float = 0.0
"""


def test_nanogpt_config_from_model_py() -> None:
    loaded = load(DATA / "nanogpt" / "model.py")
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    m = loaded.spec.model
    assert (m.layers, m.heads, m.d_model, m.vocab, m.max_positions) == (12, 12, 768, 50304, 1024)
    assert (m.bias, m.tied_embeddings, m.positional, m.mlp) == ("all", True, "learned", "gelu")
    assert loaded.name == "gpt"
    # GPT-2 small with the vocabulary padded from 50257 to 50304: 47 more embedding rows
    assert params_from_spec(loaded.spec) == 124_439_808 + 47 * 768
    # the field lines: findings on a key point at its field
    text = (DATA / "nanogpt" / "model.py").read_text().splitlines()
    assert text[loaded.line_of(("model", "layers")) - 1].strip().startswith("n_layer:")


def test_module_that_raises_on_import_is_read(tmp_path: Path) -> None:
    path = tmp_path / "llama2c_model.py"
    path.write_text(RAISES_ON_IMPORT, encoding="utf-8")
    loaded = load(path)
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    m = loaded.spec.model
    # llama2.c: hidden = 4*288 = 1152 -> int(2*1152/3) = 768 -> rounded up to a multiple of 32
    assert m.d_ff == 768
    assert (m.kv_heads, m.max_positions, m.tied_embeddings, m.norm) == (6, 256, True, "rmsnorm")
    d, ff = 288, 768
    layer = 4 * d * d + 3 * d * ff + 2 * d
    assert params_from_spec(loaded.spec) == 32000 * d + 6 * layer + d  # tied head
    assert loaded.line_of(("model", "d_ff")) == 14  # hidden_dim is None: multiple_of decides


def test_meta_llama_model_args_rounds_hidden_dim(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(
        "from dataclasses import dataclass\n\n@dataclass\nclass ModelArgs:\n"
        "    dim: int = 4096\n    n_layers: int = 32\n    n_heads: int = 32\n"
        "    n_kv_heads: int | None = None\n    vocab_size: int = 32000\n"
        "    multiple_of: int = 256\n    ffn_dim_multiplier: float | None = None\n"
        "    norm_eps: float = 1e-5\n    max_batch_size: int = 32\n    max_seq_len: int = 2048\n",
        encoding="utf-8",
    )
    spec = load(path).spec
    assert spec is not None
    # int(2*16384/3) = 10922, rounded up to a multiple of 256 = 11008; Meta's head is untied
    assert (spec.model.d_ff, spec.model.tied_embeddings) == (11008, False)
    assert params_from_spec(spec) == 6_738_415_616  # Llama-2-7B


def test_litgpt_config(tmp_path: Path) -> None:
    path = tmp_path / "config.py"
    path.write_text(
        "from dataclasses import dataclass\n\n@dataclass\nclass Config:\n"
        "    name: str = 'tiny-llama'\n    block_size: int = 2048\n    vocab_size: int = 32000\n"
        "    padding_multiple: int = 64\n    padded_vocab_size: int | None = None\n"
        "    n_layer: int = 22\n    n_head: int = 32\n    n_embd: int = 2048\n"
        "    n_query_groups: int = 4\n    bias: bool = False\n"
        "    norm_class_name: str = 'RMSNorm'\n    mlp_class_name: str = 'LLaMAMLP'\n"
        "    intermediate_size: int = 5632\n",
        encoding="utf-8",
    )
    spec = load(path).spec
    assert spec is not None
    m = spec.model
    assert (m.kv_heads, m.mlp, m.norm, m.bias, m.vocab, m.d_ff) == (
        4, "swiglu", "rmsnorm", "none", 32000, 5632,
    )  # fmt: skip


def test_no_config_class_and_syntax_error(tmp_path: Path) -> None:
    plain = tmp_path / "util.py"
    plain.write_text("x = 1\n", encoding="utf-8")
    [f] = findings_of(load(plain))
    assert f.code == "ARC302" and "n_layer" in f.message
    broken = tmp_path / "broken.py"
    broken.write_text("class A:\n    n_layer: int = 12\n  oops\n", encoding="utf-8")
    [f] = findings_of(load(broken))
    assert (f.code, f.line) == ("ARC306", 3)
