"""Published Hugging Face configs (tests/adapters/data/<model>/config.json, as on the hub):
the adapter's parameter count against a count worked out by hand from the architecture (and
the number the model card publishes), then against the real transformers class built from the
same file on the meta device. Issue #13 found Mistral-Nemo 4.3 % high (its explicit head_dim
ignored) and Gemma, Phi, Falcon, GPT-NeoX and OPT refused."""

from __future__ import annotations

import json

import pytest

from pytest_archcheck.formulas.params import params_from_spec
from pytest_archcheck.rules.load import findings_of

from .support import DATA, load


def _ln(d: int) -> int:
    return 2 * d  # LayerNorm weight + bias


def _lin(i: int, o: int, bias: bool) -> int:
    return i * o + (o if bias else 0)


def _mistral_nemo() -> int:
    d, hd, layers, ff, v = 5120, 128, 40, 14336, 131072
    attn = d * 32 * hd + 2 * d * 8 * hd + 32 * hd * d  # q, k, v (8 KV heads), o: head_dim 128
    return 2 * v * d + layers * (attn + 3 * d * ff + 2 * d) + d


def _gemma_2b() -> int:
    d, hd, ff, v = 2048, 256, 16384, 256000
    attn = d * 8 * hd + 2 * d * 1 * hd + 8 * hd * d  # multi-query: one KV head
    return v * d + 18 * (attn + 3 * d * ff + 2 * d) + d  # tied head


def _gemma_2_2b() -> int:
    d, hd, ff, v = 2304, 256, 9216, 256000
    attn = d * 8 * hd + 2 * d * 4 * hd + 8 * hd * d
    return v * d + 26 * (attn + 3 * d * ff + 4 * d) + d  # four norms per block


def _phi_2() -> int:
    d, ff, v = 2560, 10240, 51200
    layer = 4 * _lin(d, d, True) + _lin(d, ff, True) + _lin(ff, d, True) + _ln(d)  # one LN
    return v * d + 32 * layer + _ln(d) + _lin(d, v, True)  # untied head with bias


def _phi_3_mini() -> int:
    d, ff, v = 3072, 8192, 32064
    return 2 * v * d + 32 * (4 * d * d + 3 * d * ff + 2 * d) + d


def _pythia_160m() -> int:
    d, ff, v = 768, 3072, 50304
    layer = _lin(d, 3 * d, True) + _lin(d, d, True) + _lin(d, ff, True) + _lin(ff, d, True)
    return 2 * v * d + 12 * (layer + 2 * _ln(d)) + _ln(d)


def _gpt_j_6b() -> int:
    d, v = 4096, 50400
    layer = 4 * d * d + _lin(d, 4 * d, True) + _lin(4 * d, d, True) + _ln(d)
    return v * d + 28 * layer + _ln(d) + _lin(d, v, True)


def _falcon_7b() -> int:
    d, hd, v = 4544, 64, 65024
    layer = d * (d + 2 * hd) + d * d + 2 * d * 4 * d + _ln(d)  # multi-query qkv, one LN
    return v * d + 32 * layer + _ln(d)  # tied


def _opt_350m() -> int:
    d, e, ff, v = 1024, 512, 4096, 50272
    layer = 4 * _lin(d, d, True) + _lin(d, ff, True) + _lin(ff, d, True) + 2 * _ln(d)
    # embed (v x 512), positions (2048 + 2 offset rows), project_in/out, post-norm: no final LN
    return v * e + 2050 * d + 2 * d * e + 24 * layer


def _bloom_560m() -> int:
    d, v = 1024, 250880
    layer = _lin(d, 3 * d, True) + _lin(d, d, True) + _lin(d, 4 * d, True)
    layer += _lin(4 * d, d, True) + 2 * _ln(d)
    return v * d + _ln(d) + 24 * layer + _ln(d)  # word_embeddings_layernorm, tied head


def _stablelm_3b() -> int:
    d, ff, v = 2560, 6912, 50304
    return 2 * v * d + 32 * (4 * d * d + 3 * d * ff + 2 * _ln(d)) + _ln(d)


def _starcoder2_3b() -> int:
    d, kv, ff, v = 3072, 2 * 128, 12288, 49152
    attn = _lin(d, d, True) + 2 * _lin(d, kv, True) + _lin(d, d, True)
    return v * d + 30 * (attn + _lin(d, ff, True) + _lin(ff, d, True) + 2 * _ln(d)) + _ln(d)


def _olmo_1b() -> int:
    d, ff, v = 2048, 8192, 50304
    return v * d + 16 * (4 * d * d + 3 * d * ff)  # non-parametric LayerNorms, tied


def _mpt_7b() -> int:
    d, v = 4096, 50432
    return v * d + 32 * (4 * d * d + 2 * d * 4 * d + 2 * d) + d  # LN weights only, tied


def _t5(
    d: int, heads: int, d_kv: int, ff: int, layers: int, v: int, gated: bool, tied: bool
) -> int:
    attn = 4 * d * heads * d_kv  # q, k, v, o: no biases
    mlp = (3 if gated else 2) * d * ff  # wi (wi_0, wi_1 when gated), wo
    rel = 32 * heads  # relative_attention_bias, first block of each stack
    enc = layers * (attn + mlp + 2 * d) + rel + d  # 2 RMS-style norms per block, final norm
    dec = layers * (2 * attn + mlp + 3 * d) + rel + d  # + cross-attention and its norm
    return v * d * (1 if tied else 2) + enc + dec


def _t5_small() -> int:
    return _t5(512, 8, 64, 2048, 6, 32128, gated=False, tied=True)


def _flan_t5_base() -> int:
    return _t5(768, 12, 64, 2048, 12, 32128, gated=True, tied=False)


def _bart_base() -> int:
    d, ff, v, rows = 768, 3072, 50265, 1024 + 2  # two reserved position rows
    attn = 4 * _lin(d, d, True)
    mlp = _lin(d, ff, True) + _lin(ff, d, True)
    enc = rows * d + _ln(d) + 6 * (attn + mlp + 2 * _ln(d))  # embedding LayerNorm, post-norm
    dec = rows * d + _ln(d) + 6 * (2 * attn + mlp + 3 * _ln(d))  # no final norms
    return v * d + enc + dec  # shared table, tied head


def _whisper_tiny() -> int:
    d, ff, v, mel = 384, 1536, 51865, 80
    attn = 3 * _lin(d, d, True) + d * d  # k_proj has no bias
    mlp = _lin(d, ff, True) + _lin(ff, d, True)
    conv = (mel * 3 * d + d) + (d * 3 * d + d)  # conv1, conv2 (kernel 3)
    enc = conv + 1500 * d + 4 * (attn + mlp + 2 * _ln(d)) + _ln(d)
    dec = v * d + 448 * d + 4 * (2 * attn + mlp + 3 * _ln(d)) + _ln(d)
    return enc + dec  # head tied to the decoder's table


def _vit_base() -> int:
    d, ff, patches = 768, 3072, (224 // 16) ** 2
    embed = d + (patches + 1) * d + (d * 3 * 16 * 16 + d)  # class token, positions, patch conv
    layer = 4 * _lin(d, d, True) + _lin(d, ff, True) + _lin(ff, d, True) + 2 * _ln(d)
    return embed + 12 * layer + _ln(d) + _lin(d, d, True)  # final norm, pooler (ViTModel)


CASES = {
    # model: (hand count, the model card's published count where it gives an exact one)
    "mistral-nemo-12b": (_mistral_nemo, 12_247_782_400),
    "gemma-2b": (_gemma_2b, 2_506_172_416),
    "gemma-2-2b": (_gemma_2_2b, 2_614_341_888),
    "phi-2": (_phi_2, 2_779_683_840),
    "phi-3-mini-4k": (_phi_3_mini, 3_821_079_552),
    "pythia-160m": (_pythia_160m, 162_322_944),
    "gpt-j-6b": (_gpt_j_6b, None),
    "falcon-7b": (_falcon_7b, 6_921_720_704),
    "opt-350m": (_opt_350m, 331_196_416),
    "bloom-560m": (_bloom_560m, 559_214_592),
    "stablelm-3b-4e1t": (_stablelm_3b, 2_795_443_200),
    "starcoder2-3b": (_starcoder2_3b, 3_030_371_328),
    "olmo-1b": (_olmo_1b, 1_176_764_416),
    "mpt-7b": (_mpt_7b, 6_649_286_656),
    "t5-small": (_t5_small, 60_506_624),
    "flan-t5-base": (_flan_t5_base, None),
    "bart-base": (_bart_base, None),
    "whisper-tiny": (_whisper_tiny, None),
    "vit-base-patch16-224": (_vit_base, None),
}


@pytest.mark.parametrize("model", sorted(CASES))
def test_published_config_counts_by_hand(model: str) -> None:
    by_hand, published = CASES[model]
    loaded = load(DATA / model / "config.json")
    assert findings_of(loaded) == []
    assert loaded.spec is not None
    assert params_from_spec(loaded.spec) == by_hand()
    if published is not None:
        assert by_hand() == published


@pytest.mark.parametrize("model", sorted(CASES))
def test_published_config_matches_the_transformers_class(model: str) -> None:
    pytest.importorskip("transformers", reason="transformers (extra `hf`) is the ground truth")
    pytest.importorskip("torch")
    from .hf_truth import real_params

    cfg = json.loads((DATA / model / "config.json").read_text(encoding="utf-8"))
    loaded = load(DATA / model / "config.json")
    assert loaded.spec is not None
    assert params_from_spec(loaded.spec) == real_params(cfg)


def test_mistral_nemo_head_dim_and_kv_cache() -> None:
    """head_dim 128 at d 5120 and 32 heads (not 160): q is 4096 wide, the KV cache per token
    2 · 40 layers · 8 KV heads · 128 · 2 bytes."""
    spec = load(DATA / "mistral-nemo-12b" / "config.json").spec
    assert spec is not None
    m = spec.model
    assert (m.head_dim, m.head_size, m.kv_head_count, m.attention) == (128, 128, 8, "full")
    from pytest_archcheck.formulas.kvcache import kv_cache_from_spec

    one = spec.model_copy(
        update={"infer": spec.infer.model_copy(update={"batch": 1, "seq_len": 1})}
    )
    assert kv_cache_from_spec(one) == 2 * 40 * 8 * 128 * 2 == 163_840
